//! The `billing` binary: parse the command line, set up telemetry, run.
#![forbid(unsafe_code)]

use clap::Parser;

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
