//! The `billing` binary: parse the command line, set up telemetry, run.
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc rather than the system allocator: a replay allocates and frees
/// a handful of strings per event, and glibc's malloc spent a quarter of a
/// PostgreSQL rebuild's CPU doing it (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = api::cli::Cli::parse();
    api::telemetry::init(cli.log_format, cli.default_log_filter());
    match api::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
