use iev_aws::config::{Assembly, Secret};

/// Exports on request: the store, the export bucket and the admin key.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let service = Assembly::from_env("export-http")
        .await?
        .with_exports()?
        .with_secrets(&[Secret::AdminKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_export::router()).with_state(service);
    lambda_http::run(app).await
}
