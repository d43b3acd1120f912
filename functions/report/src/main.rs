use iev_aws::config::{Assembly, Secret};

/// Read-only: the store and the two secrets; no queue, outbound or export client.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let service = Assembly::from_env("report")
        .await?
        .with_secrets(&[Secret::AdminKey, Secret::CursorKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_report::router()).with_state(service);
    lambda_http::run(app).await
}
