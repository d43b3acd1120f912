use iev_aws::config::{Assembly, Secret};

/// Ingestion queues events; a vendor's async result may disable an
/// integration, which posts an alert: queue and outbound calls, no exports.
/// The cursor key signs the pages of the integrations' listing.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let parts = Assembly::from_env("ingest").await?;
    let queue = parts.queue()?;
    let service = parts
        .with_queue(queue)
        .with_outbound()?
        .with_secrets(&[Secret::AdminKey, Secret::CursorKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_ingest::router()).with_state(service);
    lambda_http::run(app).await
}
