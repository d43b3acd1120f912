//! Configuration of a Lambda function, read once from the environment at start.

use crate::{DynamoStore, SqsQueue};
use iev_domain::clock::{RandomIds, SystemClock};
use iev_domain::service::{Service, ServiceConfig};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// The service over DynamoDB and SQS: `IEV_TABLE`, `IEV_QUEUE_URL` and
/// `IEV_PUBLIC_URL` name the table, the dispatch queue and where vendors reach the API.
pub async fn service_from_env() -> Result<Arc<Service>, ConfigError> {
    let table = required("IEV_TABLE")?;
    let queue_url = required("IEV_QUEUE_URL")?;
    let public_url = required("IEV_PUBLIC_URL")?;
    let public_url = iev_domain::integration::parse_http_url(&public_url).map_err(|reason| {
        ConfigError::Invalid {
            name: "IEV_PUBLIC_URL",
            reason,
        }
    })?;
    let mut config = ServiceConfig::new(public_url);
    if let Ok(days) = std::env::var("IEV_RETENTION_DAYS") {
        let days: i64 = days
            .parse()
            .ok()
            .filter(|d| *d > 0)
            .ok_or(ConfigError::Invalid {
                name: "IEV_RETENTION_DAYS",
                reason: format!("'{days}' is not a positive number of days"),
            })?;
        config.retention = chrono::Duration::days(days);
    }
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(Arc::new(Service {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        config,
    }))
}
