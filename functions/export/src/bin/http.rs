#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = iev_aws::config::service_from_env().await?;
    let app = iev_http::with_fallbacks(iev_export::router()).with_state(service);
    lambda_http::run(app).await
}
