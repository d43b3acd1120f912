use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let service = iev_aws::config::service_from_env().await?;
    run(service_fn(|event: LambdaEvent<_>| {
        iev_export::handle_schedule(&service, event)
    }))
    .await
}
