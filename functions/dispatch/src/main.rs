use iev_aws::config::Assembly;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// Calls vendors and postpones retries on its own queue; authenticates nobody.
#[tokio::main]
async fn main() -> Result<(), Error> {
    iev_aws::logging::init();
    let parts = Assembly::from_env("dispatch").await?;
    let queue = parts.queue()?;
    let service = parts.with_queue(queue.clone()).with_outbound()?.build();
    run(service_fn(|event: LambdaEvent<_>| {
        iev_dispatch::handle(&service, &queue, event)
    }))
    .await
}
