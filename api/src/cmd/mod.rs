//! One module per `billing` subcommand.

pub mod bench;
pub mod demo;
pub mod events;
pub mod migrate;
pub mod projection;
pub mod reconcile;
pub mod serve;
pub mod stripe_fake;
pub mod sync;
pub mod token;
pub mod usage;
pub mod webhooks;

use std::sync::Arc;

use ::sync::stripe::{StripeApi, StripeClient, StripeConfig, StripeSetup};
use anyhow::Context;
use ledger::db::Database;

/// Connect to `url` and bring its schema up to date.
pub async fn open(url: &str) -> anyhow::Result<Database> {
    Database::connect_and_migrate(url)
        .await
        .with_context(|| format!("opening the database at {}", redact(url)))
}

/// The Stripe client `STRIPE_*` configures, or why the sync is off.
pub fn stripe_from_env() -> anyhow::Result<Result<Arc<dyn StripeApi>, String>> {
    match StripeConfig::from_env().context("reading the Stripe configuration")? {
        StripeSetup::Enabled(config) => {
            let client = StripeClient::new(&config).context("building the Stripe client")?;
            Ok(Ok(Arc::new(client)))
        }
        StripeSetup::Disabled { reason } => Ok(Err(reason)),
    }
}

/// A URL fit for logs: the password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://billing:s3cret@db:5432/ledger"),
            "postgres://billing:***@db:5432/ledger"
        );
        assert_eq!(
            redact("postgres://billing@db/ledger"),
            "postgres://billing@db/ledger"
        );
        assert_eq!(redact("sqlite://billing.db"), "sqlite://billing.db");
    }
}
