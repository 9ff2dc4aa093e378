//! The pipeline: everything that runs behind the API — the invoice
//! projection runner, the budget alerter (after each batch), the period
//! closer, the Stripe sync and the webhook dispatcher — decided and
//! configured in one place, for every command that needs them
//! (`billing serve`, `billing sync`, the demo, the benchmarks, tests).
//!
//! # Guarantees
//! - Each part is safe to run in several processes at once (checkpoint-
//!   guarded commits, expected-version appends with idempotency keys,
//!   leased sync claims), so running the pipeline twice never doubles
//!   anything.
//! - One shutdown path: [`Pipeline::run`] stops every part when its token
//!   fires; the sync releases its leases; progress is always committed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::EventStore;
use notifications::alerter::Alerter;
use notifications::webhooks::{DispatchOptions, Dispatcher};
use projections::closer::{close_periods, CloseReport, DEFAULT_GRACE};
use projections::{InvoiceProjector, ProjectionTables};
use sync::stripe::StripeApi;
use sync::{SyncOptions, SyncProjector};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Which parts run and how (flattened into `billing serve` and `billing sync`).
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Don't run the invoice projection runner.
    #[arg(long, env = "BILLING_NO_PROJECTIONS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_projections: bool,
    /// Don't run the period closer.
    #[arg(long, env = "BILLING_NO_CLOSER", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_closer: bool,
    /// Don't run the Stripe sync (it is also off without STRIPE_API_KEY).
    #[arg(long, env = "BILLING_NO_SYNC", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_sync: bool,
    /// Don't run the budget alerter (it runs after each projection batch).
    #[arg(long, env = "BILLING_NO_ALERTER", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_alerter: bool,
    /// Don't run the outbound webhook dispatcher.
    #[arg(long, env = "BILLING_NO_WEBHOOKS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_webhooks: bool,
    /// Comma-separated hosts webhook endpoints may point at (default: any host).
    #[arg(long, env = "BILLING_WEBHOOK_ALLOWED_HOSTS", value_delimiter = ',')]
    pub webhook_allowed_hosts: Vec<String>,
    /// Keys encrypting webhook signing secrets at rest: 32 random bytes in
    /// base64, comma-separated, the first encrypts (default: on SQLite, a
    /// key file beside the database; on PostgreSQL it is required).
    #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true, value_parser = crate::cmd::webhooks::secret)]
    pub webhook_secret_key: Option<secrecy::SecretString>,
    /// The keyring resolved from `webhook_secret_key` at start-up (the
    /// dispatcher runs only with one).
    #[arg(skip)]
    pub webhook_keys: notifications::webhooks::sealing::Keyring,
    /// Seconds a webhook receiver may take to answer.
    #[arg(long, env = "BILLING_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,
    /// Idle poll interval of the projection runner, in milliseconds.
    #[arg(long, env = "BILLING_PROJECTION_POLL_MS", default_value_t = 100)]
    pub projection_poll_ms: u64,
    /// How often the closer looks for ended periods, in seconds.
    #[arg(long, env = "BILLING_CLOSE_INTERVAL_SECS", default_value_t = 60)]
    pub close_interval_secs: u64,
    /// Minutes after a period's end before it is finalized.
    #[arg(long, env = "BILLING_CLOSE_GRACE_MINUTES", default_value_t = DEFAULT_GRACE.num_minutes())]
    pub close_grace_minutes: i64,
    #[command(flatten)]
    pub sync: SyncOptions,
}

impl Default for PipelineArgs {
    fn default() -> Self {
        Self {
            no_projections: false,
            no_closer: false,
            no_sync: false,
            no_alerter: false,
            no_webhooks: false,
            webhook_allowed_hosts: Vec::new(),
            webhook_secret_key: None,
            webhook_keys: Default::default(),
            webhook_timeout_secs: 15,
            projection_poll_ms: 100,
            close_interval_secs: 60,
            close_grace_minutes: DEFAULT_GRACE.num_minutes(),
            sync: SyncOptions::default(),
        }
    }
}

/// The period closer, on a schedule.
#[derive(Clone)]
struct Closer {
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    every: Duration,
    grace: chrono::Duration,
}

impl Closer {
    async fn close(&self, now: DateTime<Utc>) -> anyhow::Result<CloseReport> {
        close_periods(self.store.as_ref(), self.tables.as_ref(), now, self.grace)
            .await
            .context("closing ended periods")
    }
}

/// What [`Pipeline::run_until_idle`] did.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    /// Events folded into the invoice projection.
    pub folded: i64,
    /// Invoices the closer finalized.
    pub closed: CloseReport,
    /// Budget alert facts the alerter appended.
    pub alerts: usize,
}

/// The parts that run behind the API, as configured.
pub struct Pipeline {
    runner: Option<(InvoiceProjector, Duration)>,
    closer: Option<Closer>,
    sync: Option<Arc<SyncProjector>>,
    alerter: Option<(Alerter, Duration)>,
    dispatcher: Option<(Dispatcher, Duration)>,
}

impl PipelineArgs {
    /// The webhook host allow-list, if one is configured.
    pub fn webhook_hosts(&self) -> Option<Vec<String>> {
        let hosts: Vec<String> = self
            .webhook_allowed_hosts
            .iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        (!hosts.is_empty()).then_some(hosts)
    }
}

impl Pipeline {
    /// The pipeline over `db` as `args` configure it; the sync runs when
    /// `stripe` is given and `--no-sync` is not.
    pub fn new(db: &Database, args: &PipelineArgs, stripe: Option<Arc<dyn StripeApi>>) -> Self {
        let runner = (!args.no_projections).then(|| {
            (
                projections::projector_for(db),
                Duration::from_millis(args.projection_poll_ms.max(1)),
            )
        });
        let closer = (!args.no_closer).then(|| Closer {
            store: db.event_store(),
            tables: projections::tables_for(db),
            every: Duration::from_secs(args.close_interval_secs.max(1)),
            grace: chrono::Duration::minutes(args.close_grace_minutes.max(0)),
        });
        let sync = stripe
            .filter(|_| !args.no_sync)
            .map(|api| Arc::new(SyncProjector::new(db.clone(), api, args.sync.clone())));
        let alerter = (!args.no_alerter).then(|| {
            (
                Alerter::new(db),
                Duration::from_millis(args.projection_poll_ms.max(1)),
            )
        });
        let dispatcher = if args.no_webhooks {
            None
        } else if args.webhook_keys.is_empty() {
            tracing::info!("webhook dispatcher off: no key to open the signing secrets");
            None
        } else {
            let options = DispatchOptions {
                timeout: Duration::from_secs(args.webhook_timeout_secs.max(1)),
                lease: Duration::from_secs(args.webhook_timeout_secs.max(1) * 4),
                allowed_hosts: args.webhook_hosts(),
                keys: args.webhook_keys.clone(),
                ..DispatchOptions::default()
            };
            match Dispatcher::new(db, options) {
                Ok(dispatcher) => Some((
                    dispatcher,
                    Duration::from_millis(args.projection_poll_ms.max(100)),
                )),
                Err(err) => {
                    tracing::error!(error = %err, "webhook dispatcher cannot start");
                    None
                }
            }
        };
        Self {
            runner,
            closer,
            sync,
            alerter,
            dispatcher,
        }
    }

    /// Fold with batches of `size` events (the demo and benchmarks use large ones).
    pub fn with_batch_size(mut self, size: u32) -> Self {
        self.runner = self
            .runner
            .map(|(runner, poll)| (runner.with_batch_size(size), poll));
        self
    }

    /// Whether any part is configured to run.
    pub fn is_empty(&self) -> bool {
        self.runner.is_none()
            && self.closer.is_none()
            && self.sync.is_none()
            && self.alerter.is_none()
            && self.dispatcher.is_none()
    }

    /// Whether the Stripe sync is part of it.
    pub fn syncs(&self) -> bool {
        self.sync.is_some()
    }

    /// The sync's circuit breaker (Stripe's availability as this process
    /// sees it), for the API and `/metrics`.
    pub fn stripe_breaker(&self) -> Option<Arc<sync::breaker::CircuitBreaker>> {
        self.sync.as_ref().map(|sync| sync.breaker())
    }

    /// Bring everything up to date once, as of `now`: fold every event,
    /// close the periods that ended (then fold what closing appended), and
    /// publish to Stripe until nothing is due.
    pub async fn run_until_idle(&self, now: DateTime<Utc>) -> anyhow::Result<Settled> {
        let mut settled = Settled::default();
        if let Some((runner, _)) = &self.runner {
            settled.folded += runner.catch_up().await.context("folding new events")?;
        }
        if let Some(closer) = &self.closer {
            settled.closed = closer.close(now).await?;
            if let Some((runner, _)) = &self.runner {
                settled.folded += runner.catch_up().await.context("folding closed periods")?;
            }
        }
        if let Some((alerter, _)) = &self.alerter {
            settled.alerts = alerter
                .run_until_idle(now)
                .await
                .context("recording budget alerts")?;
            if let Some((runner, _)) = &self.runner {
                settled.folded += runner.catch_up().await.context("folding alerts")?;
            }
        }
        if let Some(sync) = &self.sync {
            sync.run_until_idle()
                .await
                .context("publishing to Stripe")?;
        }
        if let Some((dispatcher, _)) = &self.dispatcher {
            dispatcher
                .run_until_idle(now)
                .await
                .context("delivering webhooks")?;
        }
        Ok(settled)
    }

    /// Run every part until `shutdown` fires, then stop them all.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        if let Some((runner, poll)) = self.runner {
            let shutdown = shutdown.clone();
            tasks.spawn(async move { runner.run(poll, shutdown).await });
            tracing::info!("invoice projection runner started");
        }
        if let Some((alerter, poll)) = self.alerter {
            let shutdown = shutdown.clone();
            tasks.spawn(async move { alerter.run(poll, shutdown).await });
            tracing::info!("budget alerter started");
        }
        if let Some((dispatcher, poll)) = self.dispatcher {
            let shutdown = shutdown.clone();
            tracing::info!(
                workers = dispatcher.options().workers,
                "webhook dispatcher started"
            );
            tasks.spawn(async move { dispatcher.run(poll, shutdown).await });
        }
        if let Some(closer) = self.closer {
            let shutdown = shutdown.clone();
            tracing::info!(
                grace_minutes = closer.grace.num_minutes(),
                "period closer started"
            );
            tasks.spawn(async move { close_on_schedule(closer, shutdown).await });
        }
        if let Some(sync) = self.sync {
            let shutdown = shutdown.clone();
            tracing::info!(workers = sync.options().workers, "Stripe sync started");
            tasks.spawn(async move { sync::daemon::run(sync, shutdown).await });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = done {
                tracing::error!(error = %err, "a pipeline task panicked; shutting down");
                shutdown.cancel();
            }
        }
    }
}

async fn close_on_schedule(closer: Closer, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match closer.close(Utc::now()).await {
            Ok(report) if !report.finalized.is_empty() => {
                tracing::info!(finalized = report.finalized.len(), "periods closed");
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    "period closer failed; retrying next round"
                );
            }
        }
        tokio::select! {
            () = tokio::time::sleep(closer.every) => {}
            () = shutdown.cancelled() => {}
        }
    }
}
