/// The runner allocates for every request and every store write; mimalloc
/// handles that churn across threads with less contention than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

/// How long a clean stop waits for requests and deliveries in flight.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match iev_runner::RunnerConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut running = match iev_runner::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if running.admin_key_generated {
        println!(
            "admin key (also written to the data directory's admin-key file): {}",
            running.admin_key
        );
    }
    tracing::info!(addr = %running.addr, "Integration Events is serving");
    let signal = tokio::select! {
        result = &mut running.server => {
            return match result {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => { eprintln!("error: server stopped: {e}"); ExitCode::FAILURE }
                Err(e) => { eprintln!("error: server task failed: {e}"); ExitCode::FAILURE }
            };
        }
        signal = iev_runner::stop_signal() => signal,
    };
    tracing::info!(%signal, "stopping: no new requests or deliveries; finishing those in flight");
    let stopped = running.shut_down(GRACE).await;
    tracing::info!(
        handed_back = stopped.handed_back,
        "stopped; deliveries handed back run after the next start"
    );
    ExitCode::SUCCESS
}
