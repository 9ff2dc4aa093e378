//! The `billing` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "billing",
    version,
    about = "An event-sourced usage-billing ledger"
)]
pub struct Cli {
    /// Database: `postgres://…` or `sqlite://path`. Unset: the SQLite file
    /// `billing.db` in the working directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// More log lines on stderr (debug level) unless `RUST_LOG` says otherwise.
    #[arg(long, short, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log filter when `RUST_LOG` is unset.
    pub fn default_log_filter(&self) -> &'static str {
        use crate::telemetry::{QUIET_LOGS, SERVICE_LOGS, VERBOSE_LOGS};
        match (&self.command, self.verbose) {
            (_, true) => VERBOSE_LOGS,
            // The demo's stdout is its report; only problems go to stderr.
            (Command::Demo(_) | Command::Bench(_), false) => QUIET_LOGS,
            _ => SERVICE_LOGS,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seed a realistic platform, bill a month, sync it and show around.
    Demo(cmd::demo::DemoArgs),
    /// Run the HTTP API, projection runner, period closer and Stripe sync.
    Serve(cmd::serve::ServeArgs),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Apply database migrations (every command also does this at start-up).
    Migrate,
    /// List stored events in global order.
    Events(cmd::events::EventsArgs),
    /// Record usage from the command line.
    #[command(subcommand)]
    Usage(cmd::usage::UsageCommand),
    /// Fold new events into the invoice projection once, then exit.
    Project,
    /// Rebuild a projection from position 0 and swap it in (or --verify).
    Rebuild(cmd::projection::RebuildArgs),
    /// Finalize invoices whose period ended more than the grace ago.
    ClosePeriods(cmd::projection::CloseArgs),
    /// Run the Stripe fake (for tests, demos and local development).
    StripeFake(cmd::stripe_fake::StripeFakeArgs),
    /// Benchmarks that print a ratio against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Run the Stripe sync daemon.
    Sync(cmd::sync::SyncArgs),
    /// Compare Stripe with the ledger.
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Outbound webhooks: re-encrypt the stored signing secrets.
    #[command(subcommand)]
    Webhooks(cmd::webhooks::WebhooksCommand),
}

/// The database URL in force: the flag/env, else the default SQLite file.
pub fn database_url(cli_value: Option<String>) -> String {
    cli_value.unwrap_or_else(ledger::db::default_url)
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The demo picks a fresh file of its own when DATABASE_URL is unset.
    let given = cli.database_url.clone();
    let url = database_url(cli.database_url);
    match cli.command {
        Command::Demo(args) => cmd::demo::run(given, args).await?,
        Command::Serve(args) => cmd::serve::run(&url, args).await?,
        Command::Token(command) => cmd::token::run(&url, command).await?,
        Command::Migrate => cmd::migrate::run(&url).await?,
        Command::Events(args) => cmd::events::run(&url, args).await?,
        Command::Usage(command) => cmd::usage::run(&url, command).await?,
        Command::Bench(command) => cmd::bench::run(command).await?,
        Command::Sync(args) => cmd::sync::run(&url, args).await?,
        Command::Reconcile(args) => return cmd::reconcile::run(&url, args).await,
        Command::Project => cmd::projection::project(&url).await?,
        Command::Rebuild(args) => return cmd::projection::run_rebuild(&url, args).await,
        Command::ClosePeriods(args) => cmd::projection::close(&url, args).await?,
        Command::StripeFake(args) => cmd::stripe_fake::run(args).await?,
        Command::Webhooks(command) => cmd::webhooks::run(&url, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}
