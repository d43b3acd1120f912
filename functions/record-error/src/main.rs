use iev_aws::config::Assembly;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// A dead-lettered event is recorded as failed, which notifies its vendor: outbound calls.
#[tokio::main]
async fn main() -> Result<(), Error> {
    iev_aws::logging::init();
    let service = Assembly::from_env("record-error")
        .await?
        .with_outbound()?
        .build();
    run(service_fn(|event: LambdaEvent<_>| {
        iev_record_error::handle_dead_letters(&service, event)
    }))
    .await
}
