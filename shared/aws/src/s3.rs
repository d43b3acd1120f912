//! Report exports to the export bucket, as multipart uploads: memory holds
//! one part at a time, however large the report.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use iev_domain::ports::{ExportFile, ExportSink};
use iev_domain::StoreError;

/// Parts are sent once this much has been written (S3's minimum part is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct S3Exports {
    client: Client,
    bucket: String,
}

impl S3Exports {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Exports {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl ExportSink for S3Exports {
    async fn create(&self, name: &str) -> Result<Box<dyn ExportFile>, StoreError> {
        Ok(Box::new(S3ExportFile {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: name.to_owned(),
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }))
    }
}

struct S3ExportFile {
    client: Client,
    bucket: String,
    key: String,
    buffer: Vec<u8>,
    /// Set once the first part is sent; a small file is one PutObject instead.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3ExportFile {
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type("text/csv; charset=utf-8")
                    .send()
                    .await
                    .map_err(|e| sdk_error("CreateMultipartUpload", e))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| StoreError::Internal("no upload id".into()))?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buffer);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("UploadPart", e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[async_trait]
impl ExportFile for S3ExportFile {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        self.buffer.extend_from_slice(&chunk);
        if self.buffer.len() >= PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<String, StoreError> {
        if self.upload_id.is_none() {
            let body = std::mem::take(&mut self.buffer);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("text/csv; charset=utf-8")
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| sdk_error("PutObject", e))?;
            return Ok(self.location());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_upload_id(self.upload_id.clone())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("CompleteMultipartUpload", e))?;
        Ok(self.location())
    }

    async fn abort(self: Box<Self>) {
        let Some(upload_id) = self.upload_id.clone() else {
            return;
        };
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(key = %self.key, error = %e, "could not abort an export upload");
        }
    }
}
