//! `billing reconcile`: compare Stripe's invoices for our customers with the
//! ledger's; print a table (or JSON) and exit non-zero on any difference.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use sync::stripe::{StripeApi, StripeClient, StripeConfig, StripeSetup};

/// Options of `billing reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Print the report as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(url: &str, args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let config = match StripeConfig::from_env().context("reading the Stripe configuration")? {
        StripeSetup::Enabled(config) => config,
        StripeSetup::Disabled { reason } => bail!("cannot reconcile: {reason}"),
    };
    let api: Arc<dyn StripeApi> =
        Arc::new(StripeClient::new(&config).context("building the Stripe client")?);
    let db = super::open(url).await?;
    let report = sync::reconcile::reconcile(&db, api.as_ref())
        .await
        .context("reconciling with Stripe")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", sync::reconcile::render_table(&report));
    }
    Ok(if report.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
