use iev_aws::config::Assembly;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// The scheduled export: the store and the export bucket.
#[tokio::main]
async fn main() -> Result<(), Error> {
    iev_aws::logging::init();
    let service = Assembly::from_env("export").await?.with_exports()?.build();
    run(service_fn(|event: LambdaEvent<_>| {
        iev_export::handle_schedule(&service, event)
    }))
    .await
}
