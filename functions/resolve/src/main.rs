use iev_aws::config::{Assembly, Secret};

/// Retries and recovery queue events; alerts are posted: queue and outbound calls.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let parts = Assembly::from_env("resolve").await?;
    let queue = parts.queue()?;
    let service = parts
        .with_queue(queue)
        .with_outbound()?
        .with_secrets(&[Secret::AdminKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_resolve::router()).with_state(service);
    lambda_http::run(app).await
}
