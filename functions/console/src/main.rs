use iev_aws::config::{Assembly, Secret};

/// The console's pages: the store, the queue (retry, re-enable, recover) and
/// the two secrets (the admin key; the cursor key, which also seals sessions).
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let parts = Assembly::from_env("console").await?;
    let queue = parts.queue()?;
    let service = parts
        .with_queue(queue)
        .with_secrets(&[Secret::AdminKey, Secret::CursorKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_console::router()).with_state(service);
    lambda_http::run(app).await
}
