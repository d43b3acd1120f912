//! Report exports as files under a folder (`<data dir>/exports/` for the runner).

use async_trait::async_trait;
use iev_domain::ports::{ExportFile, ExportSink};
use iev_domain::StoreError;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct LocalExports {
    dir: PathBuf,
}

impl LocalExports {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalExports { dir: dir.into() }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{}: {e}", path.display()))
}

#[async_trait]
impl ExportSink for LocalExports {
    async fn create(&self, name: &str) -> Result<Box<dyn ExportFile>, StoreError> {
        let relative = Path::new(name);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(StoreError::Internal(format!(
                "export name '{name}' leaves the folder"
            )));
        }
        let path = self.dir.join(relative);
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(io(&parent))?;
        // Written beside its final name and renamed when complete, so a file
        // under the final name is always whole.
        let partial = path.with_extension("csv.part");
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(io(&partial))?;
        Ok(Box::new(LocalExportFile {
            file: tokio::io::BufWriter::new(file),
            partial,
            path,
        }))
    }
}

struct LocalExportFile {
    file: tokio::io::BufWriter<tokio::fs::File>,
    partial: PathBuf,
    path: PathBuf,
}

#[async_trait]
impl ExportFile for LocalExportFile {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        self.file.write_all(&chunk).await.map_err(io(&self.partial))
    }

    async fn finish(mut self: Box<Self>) -> Result<String, StoreError> {
        self.file.flush().await.map_err(io(&self.partial))?;
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(io(&self.partial))?;
        tokio::fs::rename(&self.partial, &self.path)
            .await
            .map_err(io(&self.path))?;
        Ok(self.path.display().to_string())
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        if let Err(e) = tokio::fs::remove_file(&self.partial).await {
            tracing::warn!(path = %self.partial.display(), error = %e, "could not remove a partial export");
        }
    }
}
