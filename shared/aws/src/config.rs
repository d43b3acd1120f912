//! How a Lambda function assembles its service at start: settings read once
//! from the environment, and only the clients that function uses. Each
//! function's `main` names the ports it needs (`with_queue`, `with_outbound`,
//! ...); a port it does not ask for stays [`NotWired`], so its client is never
//! built nor linked into that function's binary, and its IAM policy in
//! `template.yaml` grants the same set.

use crate::{DynamoStore, S3Exports, SqsQueue};
use iev_domain::auth::KeyHash;
use iev_domain::clock::{RandomIds, SystemClock};
use iev_domain::ports::NotWired;
use iev_domain::report::CursorKey;
use iev_domain::service::{Service, ServiceConfig};
use iev_outbound::{AddressPolicy, HttpOutbound};
pub use iev_settings::{required, ConfigError};
use std::sync::Arc;

/// The AWS SDK's configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL_*`), with one HTTPS client for every service client:
/// rustls over ring, as reqwest uses for the calls to vendors.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// A function's service being put together.
pub struct Assembly {
    aws: aws_config::SdkConfig,
    service: Service,
}

/// Lambda sends SIGTERM before it stops an execution environment when an
/// extension is registered (an operator's layer, such as a telemetry agent, is
/// enough), and only between invocations. Every write of an invocation has
/// committed before it answers, and log lines are written as they happen, so
/// nothing is left to finish: the function says why it stops and exits 0
/// rather than dying unexplained. No extension is registered for this alone:
/// that would add a Lambda API round trip to every cold start.
fn exit_on_sigterm(function: &'static str) {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::spawn(async move {
                terminate.recv().await;
                tracing::info!(
                    function,
                    "SIGTERM: the execution environment is stopping; exiting"
                );
                std::process::exit(0);
            });
        }
        Err(e) => tracing::warn!(function, error = %e, "cannot listen for SIGTERM"),
    }
}

impl Assembly {
    /// The store and the settings every function shares: `IEV_TABLE` names the
    /// table, `IEV_PUBLIC_URL` where vendors reach the API, `IEV_RETENTION_DAYS`
    /// and the delivery settings (see `iev_settings`). `function` names the
    /// function in the log line a missing port writes.
    ///
    /// It also makes the function stop cleanly on SIGTERM ([`exit_on_sigterm`]).
    pub async fn from_env(function: &'static str) -> Result<Self, ConfigError> {
        exit_on_sigterm(function);
        let table = required("IEV_TABLE")?;
        let mut config = ServiceConfig::new(iev_settings::public_url_from_env(None)?);
        if let Some(retention) = iev_settings::retention_from_env()? {
            config.retention = retention;
        }
        config.dispatch = iev_settings::dispatch_config_from_env()?;
        let aws = sdk_config().await;
        let missing = NotWired(function);
        let service = Service {
            store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
            queue: Arc::new(missing),
            outbound: Arc::new(missing),
            exports: Arc::new(missing),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            caches: Default::default(),
            config,
        };
        Ok(Assembly { aws, service })
    }

    /// The dispatch queue named by `IEV_QUEUE_URL`.
    pub fn queue(&self) -> Result<SqsQueue, ConfigError> {
        let url = required("IEV_QUEUE_URL")?;
        Ok(SqsQueue::new(aws_sdk_sqs::Client::new(&self.aws), url))
    }

    /// Events are queued for delivery (ingestion, retries, recovery).
    pub fn with_queue(mut self, queue: SqsQueue) -> Self {
        self.service.queue = Arc::new(queue);
        self
    }

    /// Calls to vendors and alert webhooks, under the outbound settings; in AWS
    /// private and loopback addresses are refused unless `IEV_ALLOW_PRIVATE_TARGETS` says otherwise.
    pub fn with_outbound(mut self) -> Result<Self, ConfigError> {
        let settings = iev_settings::outbound_config_from_env(AddressPolicy::PUBLIC_ONLY)?;
        let outbound = HttpOutbound::new(settings).map_err(|reason| ConfigError::Invalid {
            name: "IEV_VENDOR_TIMEOUT_MS",
            reason,
        })?;
        self.service.outbound = Arc::new(outbound);
        Ok(self)
    }

    /// Report exports to the bucket named by `IEV_EXPORT_BUCKET`.
    pub fn with_exports(mut self) -> Result<Self, ConfigError> {
        let bucket = required("IEV_EXPORT_BUCKET")?;
        self.service.exports = Arc::new(S3Exports::new(aws_sdk_s3::Client::new(&self.aws), bucket));
        Ok(self)
    }

    /// Reads the secrets this function uses from Secrets Manager, both at once:
    /// the admin key (`IEV_ADMIN_KEY_SECRET_ARN`), of which only the hash is
    /// kept, and the page-cursor key (`IEV_CURSOR_SECRET_ARN`). Only the
    /// secrets' ARNs are in the environment; a rotated secret is read at the
    /// next cold start.
    pub async fn with_secrets(mut self, secrets: &[Secret]) -> Result<Self, ConfigError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.aws);
        let reads = secrets.iter().map(|s| {
            let client = client.clone();
            async move {
                let arn = required(s.arn_setting())?;
                Ok::<_, ConfigError>((*s, read_secret(&client, s.arn_setting(), &arn).await?))
            }
        });
        for read in futures::future::join_all(reads).await {
            let (secret, value) = read?;
            match secret {
                Secret::AdminKey => self.service.config.admin_key = Some(KeyHash::of(&value)),
                Secret::CursorKey => {
                    if value.len() < 32 {
                        return Err(ConfigError::Invalid {
                            name: "IEV_CURSOR_SECRET_ARN",
                            reason: "the secret must be at least 32 characters".into(),
                        });
                    }
                    self.service.config.cursor_key = CursorKey::new(value.into_bytes());
                }
            }
        }
        Ok(self)
    }

    pub fn build(self) -> Arc<Service> {
        Arc::new(self.service)
    }
}

/// The secrets a function may read at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Every function that authenticates callers.
    AdminKey,
    /// The functions that hand out and read page cursors.
    CursorKey,
}

impl Secret {
    fn arn_setting(self) -> &'static str {
        match self {
            Secret::AdminKey => "IEV_ADMIN_KEY_SECRET_ARN",
            Secret::CursorKey => "IEV_CURSOR_SECRET_ARN",
        }
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    arn: &str,
) -> Result<String, ConfigError> {
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid {
            name: setting,
            reason: format!(
                "cannot read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    answer
        .secret_string()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or(ConfigError::Invalid {
            name: setting,
            reason: "the secret has no string value".into(),
        })
}
