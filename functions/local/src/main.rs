/// The runner allocates for every request and every store write; mimalloc
/// handles that churn across threads with less contention than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

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
    let running = match iev_runner::start(config).await {
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
    tokio::select! {
        result = running.server => match result {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => { eprintln!("error: server stopped: {e}"); ExitCode::FAILURE }
            Err(e) => { eprintln!("error: server task failed: {e}"); ExitCode::FAILURE }
        },
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("stopping");
            ExitCode::SUCCESS
        }
    }
}
