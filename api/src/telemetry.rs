//! Logging: `tracing` to stderr (stdout is for what a command reports),
//! filtered by `RUST_LOG`, else by the command's default (`info,sqlx::query=error`
//! for services — a 5,000-event batch legitimately exceeds sqlx's 1 s
//! slow-statement warning —, `warn` for the demo, `debug` with `--verbose`).

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The filter when `RUST_LOG` is unset: `info` for services, `warn` for
/// commands whose stdout is the product (the demo), `debug` with `--verbose`.
pub const SERVICE_LOGS: &str = "info,sqlx::query=error";
pub const QUIET_LOGS: &str = "warn,sqlx::query=error";
pub const VERBOSE_LOGS: &str = "debug,sqlx=warn,hyper=info,reqwest=info,h2=info";

/// Install the global subscriber (filtered by `RUST_LOG`, else by
/// `default_filter`); later calls are no-ops. Colours only on a terminal.
pub fn init(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
