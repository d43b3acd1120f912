//! The report as a CSV file: daily, and on request. Records are read and
//! written a page at a time, so memory does not grow with the report.

use crate::auth::{Caller, Role};
use crate::error::{parse_json_or_default, DomainError};
use crate::ports::ExportFile;
use crate::record::{ErrorQuery, ResolvedFilter};
use crate::report::{parse_resolved, parse_time, CsvReport, ReportField};
use crate::service::Service;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Records read per page while exporting.
const EXPORT_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportInput {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    pub location: String,
    pub rows: u64,
}

impl Service {
    /// `POST /v1/exports`: the report (default fields) for a window and
    /// resolved state; everything unresolved when the body is empty.
    pub async fn request_export(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Exported, DomainError> {
        caller.require(&[Role::Admin, Role::Manager])?;
        let input: ExportInput = parse_json_or_default(body, "export request")?;
        let time = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|m| DomainError::invalid(name, m))
        };
        let (from, to) = (time("from", &input.from)?, time("to", &input.to)?);
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                return Err(DomainError::invalid("to", "must be later than from"));
            }
        }
        let resolved = input
            .resolved
            .as_deref()
            .map(parse_resolved)
            .transpose()
            .map_err(|m| DomainError::invalid("resolved", m))?
            .unwrap_or_default();
        let now = self.clock.now();
        let name = format!(
            "integration-errors/requested/{}-{}.csv",
            now.format("%Y-%m-%dT%H-%M-%S%.3fZ"),
            self.ids.new_id()
        );
        let query = ErrorQuery {
            resolved,
            from,
            to,
            ..Default::default()
        };
        let exported = self.export(&name, vec![query]).await?;
        tracing::info!(location = %exported.location, rows = exported.rows, by = %caller.key_id, "report exported");
        Ok(exported)
    }

    /// The daily export for `day`: that day's failures, resolved or not, and
    /// every failure still unresolved, newest first.
    pub async fn daily_export(&self, day: NaiveDate) -> Result<Exported, DomainError> {
        let start: DateTime<Utc> = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let end = start + Duration::days(1);
        let queries = vec![
            ErrorQuery {
                from: Some(end),
                ..Default::default()
            },
            ErrorQuery {
                resolved: ResolvedFilter::All,
                from: Some(start),
                to: Some(end),
                ..Default::default()
            },
            ErrorQuery {
                to: Some(start),
                ..Default::default()
            },
        ];
        let name = format!("integration-errors/daily/{day}.csv");
        let exported = self.export(&name, queries).await?;
        tracing::info!(location = %exported.location, rows = exported.rows, %day, "daily export written");
        Ok(exported)
    }

    /// Writes the records of `queries`, one after another, as one CSV file.
    async fn export(&self, name: &str, queries: Vec<ErrorQuery>) -> Result<Exported, DomainError> {
        let mut file = self.exports.create(name).await?;
        match self.write_export(file.as_mut(), queries).await {
            Ok(rows) => Ok(Exported {
                location: file.finish().await?,
                rows,
            }),
            Err(e) => {
                file.abort().await;
                Err(e)
            }
        }
    }

    async fn write_export(
        &self,
        file: &mut dyn ExportFile,
        queries: Vec<ErrorQuery>,
    ) -> Result<u64, DomainError> {
        let mut csv = CsvReport::new(ReportField::defaults());
        let mut rows = 0;
        file.write(csv.page(&[])?).await?;
        for mut query in queries {
            query.limit = EXPORT_PAGE;
            loop {
                let page = self.store.query_errors(&query).await?;
                rows += page.items.len() as u64;
                file.write(csv.page(&page.items)?).await?;
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(rows)
    }
}
