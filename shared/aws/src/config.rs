//! Configuration of a Lambda function, read once from the environment at start.

use crate::{DynamoStore, S3Exports, SqsQueue};
use iev_domain::clock::{RandomIds, SystemClock};
use iev_domain::dispatch::DispatchConfig;
use iev_domain::service::{Service, ServiceConfig};
use iev_outbound::{AddressPolicy, HttpOutbound, OutboundConfig};
use std::sync::Arc;
use std::time::Duration;

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

/// The dispatch queue itself, for the dispatch function's visibility changes.
pub async fn dispatch_queue_from_env() -> Result<SqsQueue, ConfigError> {
    let queue_url = required("IEV_QUEUE_URL")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url))
}

/// The service over DynamoDB and SQS: `IEV_TABLE`, `IEV_QUEUE_URL` and
/// `IEV_PUBLIC_URL` name the table, the dispatch queue and where vendors reach the API;
/// `IEV_CURSOR_SECRET` signs page cursors and is the same for every function;
/// `IEV_EXPORT_BUCKET` receives report exports.
pub async fn service_from_env() -> Result<Arc<Service>, ConfigError> {
    let table = required("IEV_TABLE")?;
    let queue_url = required("IEV_QUEUE_URL")?;
    let bucket = required("IEV_EXPORT_BUCKET")?;
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
    config.dispatch = dispatch_config_from_env()?;
    let cursor_secret = required("IEV_CURSOR_SECRET")?;
    if cursor_secret.len() < 32 {
        return Err(ConfigError::Invalid {
            name: "IEV_CURSOR_SECRET",
            reason: "must be at least 32 characters".into(),
        });
    }
    config.cursor_key = iev_domain::report::CursorKey::new(cursor_secret.into_bytes());
    let outbound = HttpOutbound::new(outbound_config_from_env(AddressPolicy::PUBLIC_ONLY)?)
        .map_err(|reason| ConfigError::Invalid {
            name: "IEV_VENDOR_TIMEOUT_MS",
            reason,
        })?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(Arc::new(Service {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url)),
        outbound: Arc::new(outbound),
        exports: Arc::new(S3Exports::new(aws_sdk_s3::Client::new(&aws), bucket)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        caches: Default::default(),
        config,
    }))
}

fn number<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("'{v}' is not a number"),
        }),
        _ => Ok(None),
    }
}

/// Retry schedule settings: `IEV_MAX_ATTEMPTS`, `IEV_RETRY_BASE_MS`,
/// `IEV_RETRY_MAX_MS` (at most 12 hours, the SQS visibility limit),
/// `IEV_DISABLE_AFTER`.
pub fn dispatch_config_from_env() -> Result<DispatchConfig, ConfigError> {
    let mut c = DispatchConfig::default();
    if let Some(v) = number::<u32>("IEV_MAX_ATTEMPTS")? {
        if v == 0 {
            return Err(ConfigError::Invalid {
                name: "IEV_MAX_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        c.max_attempts = v;
    }
    if let Some(v) = number::<u64>("IEV_RETRY_BASE_MS")? {
        c.base_delay = Duration::from_millis(v);
    }
    if let Some(v) = number::<u64>("IEV_RETRY_MAX_MS")? {
        if v > 12 * 3600 * 1000 {
            return Err(ConfigError::Invalid {
                name: "IEV_RETRY_MAX_MS",
                reason: "SQS cannot hide a message for more than 12 hours".into(),
            });
        }
        c.max_delay = Duration::from_millis(v);
    }
    if let Some(v) = number::<u32>("IEV_DISABLE_AFTER")? {
        c.disable_after = v.max(1);
    }
    Ok(c)
}

/// Outbound call settings: `IEV_VENDOR_TIMEOUT_MS` (10 s), `IEV_MAX_RESPONSE_BYTES`
/// (64 KiB), `IEV_ALLOW_PRIVATE_TARGETS` (`none`, `loopback` or `all`).
pub fn outbound_config_from_env(default: AddressPolicy) -> Result<OutboundConfig, ConfigError> {
    let mut c = OutboundConfig {
        policy: default,
        ..Default::default()
    };
    if let Some(v) = number::<u64>("IEV_VENDOR_TIMEOUT_MS")? {
        c.timeout = Duration::from_millis(v.max(1));
    }
    if let Some(v) = number::<usize>("IEV_MAX_RESPONSE_BYTES")? {
        c.max_response_bytes = v.max(1);
    }
    if let Ok(v) = std::env::var("IEV_ALLOW_PRIVATE_TARGETS") {
        if !v.is_empty() {
            c.policy = AddressPolicy::parse(&v).map_err(|reason| ConfigError::Invalid {
                name: "IEV_ALLOW_PRIVATE_TARGETS",
                reason,
            })?;
        }
    }
    Ok(c)
}
