//! Settings that the Lambda functions and the local runner both read, once, at
//! start. Kept apart from the AWS adapters so the runner does not link the AWS
//! SDK to parse a few numbers.

use iev_domain::dispatch::DispatchConfig;
use iev_outbound::{AddressPolicy, OutboundConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A setting that must be present and non-empty.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// A setting that may be absent; empty counts as absent.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError> {
    match optional(name) {
        Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("'{v}' is not a number"),
        }),
        None => Ok(None),
    }
}

/// Retry schedule settings: `IEV_MAX_ATTEMPTS`, `IEV_RETRY_BASE_MS`,
/// `IEV_RETRY_MAX_MS` (at most 12 hours, the SQS visibility limit),
/// `IEV_DISABLE_AFTER`; per-integration isolation: `IEV_MAX_IN_FLIGHT`,
/// `IEV_CIRCUIT_TRIP_AFTER`, `IEV_CIRCUIT_COOL_DOWN_MS`; how long dispatch may
/// go by an integration it read: `IEV_INTEGRATION_CACHE_MS` (0, read each time).
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
    if let Some(v) = number::<u32>("IEV_MAX_IN_FLIGHT")? {
        c.max_in_flight = v.max(1);
    }
    if let Some(v) = number::<u32>("IEV_CIRCUIT_TRIP_AFTER")? {
        c.circuit_trip_after = v.max(1);
    }
    if let Some(v) = number::<u64>("IEV_CIRCUIT_COOL_DOWN_MS")? {
        c.circuit_cool_down = Duration::from_millis(v.max(1));
        c.circuit_max_cool_down = c.circuit_max_cool_down.max(c.circuit_cool_down);
    }
    if let Some(v) = number::<u64>("IEV_INTEGRATION_CACHE_MS")? {
        c.integration_cache = Duration::from_millis(v.min(600_000));
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
    if let Some(v) = optional("IEV_ALLOW_PRIVATE_TARGETS") {
        c.policy = AddressPolicy::parse(&v).map_err(|reason| ConfigError::Invalid {
            name: "IEV_ALLOW_PRIVATE_TARGETS",
            reason,
        })?;
    }
    Ok(c)
}

/// `IEV_RETENTION_DAYS`: how long records are kept (default 365 days).
pub fn retention_from_env() -> Result<Option<chrono::Duration>, ConfigError> {
    match number::<i64>("IEV_RETENTION_DAYS")? {
        Some(days) if days > 0 => Ok(Some(chrono::Duration::days(days))),
        Some(days) => Err(ConfigError::Invalid {
            name: "IEV_RETENTION_DAYS",
            reason: format!("'{days}' is not a positive number of days"),
        }),
        None => Ok(None),
    }
}

/// `IEV_PUBLIC_URL`, or `default` when unset: where vendors reach the API.
pub fn public_url_from_env(default: Option<String>) -> Result<url::Url, ConfigError> {
    let raw = optional("IEV_PUBLIC_URL")
        .or(default)
        .ok_or(ConfigError::Missing("IEV_PUBLIC_URL"))?;
    iev_domain::integration::parse_http_url(&raw).map_err(|reason| ConfigError::Invalid {
        name: "IEV_PUBLIC_URL",
        reason,
    })
}
