use iev_aws::config::{Assembly, Secret};

/// Records failures other systems report: the store and the admin key.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    iev_aws::logging::init();
    let service = Assembly::from_env("record-error-http")
        .await?
        .with_secrets(&[Secret::AdminKey])
        .await?
        .build();
    let app = iev_http::with_fallbacks(iev_record_error::router()).with_state(service);
    lambda_http::run(app).await
}
