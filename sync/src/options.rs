//! The sync daemon's configuration, from environment variables.

use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::error::SyncError;

/// How the sync paces itself and when it publishes.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `SYNC_RATE_LIMIT` (default 20): Stripe requests per second, all workers together.
    pub rate_limit: f64,
    /// `SYNC_WORKERS` (default 4): invoices published concurrently.
    pub workers: usize,
    /// `SYNC_DRAFT_CADENCE_SECS` (default 3600): at most one draft publish per
    /// invoice per this long; 0 publishes final snapshots only.
    pub draft_cadence: Duration,
    /// `SYNC_POLL_MS` (default 1000): idle wait between looks at the change feed.
    pub poll: Duration,
    /// `SYNC_LEASE_SECS` (default 60): how long a claimed invoice stays claimed
    /// without renewal (how soon another daemon takes over a dead one's work).
    pub lease: Duration,
    /// `SYNC_BACKOFF_BASE_MS` (default 500) and `SYNC_BACKOFF_CAP_SECS` (default 60).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// `SYNC_TRIES_PER_CALL` (default 4): tries of one call before the invoice
    /// is put back with a delay.
    pub tries_per_call: u32,
    /// `SYNC_CLOSE_INTERVAL_SECS` (default 60; 0 = never): how often the daemon
    /// runs the period closer.
    pub close_interval: Duration,
    /// `SYNC_CLOSE_GRACE_SECS` (default 3600): grace after a period's end.
    pub close_grace: Duration,
    /// `SYNC_RUN_PROJECTOR` (default true): fold new events before each feed
    /// pass (off when `billing serve` runs the projector itself).
    pub run_projector: bool,
    /// `SYNC_WORKER_ID` (default: a random id): names this daemon's leases and log lines.
    pub worker_id: String,
    /// The circuit breaker: `SYNC_BREAKER_FAILURES` (default 5) outage-type failures
    /// (5xx, timeouts, connection errors) within `SYNC_BREAKER_WINDOW_SECS` (default 30),
    /// outnumbering successes, open it; while open, one probe per
    /// `SYNC_BREAKER_PROBE_SECS` (default 5) is the whole request rate.
    pub breaker: BreakerConfig,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            rate_limit: 20.0,
            workers: 4,
            draft_cadence: Duration::from_secs(3600),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            tries_per_call: 4,
            close_interval: Duration::from_secs(60),
            close_grace: Duration::from_secs(3600),
            run_projector: true,
            worker_id: format!("sync-{}", uuid::Uuid::new_v4().simple()),
            breaker: BreakerConfig::default(),
        }
    }
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, SyncError> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse()
            .map_err(|_| SyncError::Config(format!("{name}={raw:?} is not a valid value"))),
        _ => Ok(default),
    }
}

fn secs(name: &str, default: f64) -> Result<Duration, SyncError> {
    Duration::try_from_secs_f64(var(name, default)?)
        .map_err(|_| SyncError::Config(format!("{name} must be a non-negative number of seconds")))
}

impl SyncOptions {
    /// Read every `SYNC_*` variable, defaulting what is unset.
    pub fn from_env() -> Result<Self, SyncError> {
        let d = Self::default();
        let rate_limit: f64 = var("SYNC_RATE_LIMIT", d.rate_limit)?;
        if rate_limit.is_nan() || rate_limit <= 0.0 {
            return Err(SyncError::Config("SYNC_RATE_LIMIT must be > 0".into()));
        }
        Ok(Self {
            rate_limit,
            workers: var("SYNC_WORKERS", d.workers)?.max(1),
            draft_cadence: Duration::from_secs(var("SYNC_DRAFT_CADENCE_SECS", 3600)?),
            poll: Duration::from_millis(var("SYNC_POLL_MS", 1000)?),
            lease: secs("SYNC_LEASE_SECS", 60.0)?,
            backoff_base: Duration::from_millis(var("SYNC_BACKOFF_BASE_MS", 500)?),
            backoff_cap: secs("SYNC_BACKOFF_CAP_SECS", 60.0)?,
            tries_per_call: var("SYNC_TRIES_PER_CALL", d.tries_per_call)?,
            close_interval: Duration::from_secs(var("SYNC_CLOSE_INTERVAL_SECS", 60)?),
            close_grace: Duration::from_secs(var("SYNC_CLOSE_GRACE_SECS", 3600)?),
            run_projector: var("SYNC_RUN_PROJECTOR", true)?,
            worker_id: var("SYNC_WORKER_ID", d.worker_id)?,
            breaker: BreakerConfig {
                failures: var("SYNC_BREAKER_FAILURES", d.breaker.failures)?.max(1),
                window: secs("SYNC_BREAKER_WINDOW_SECS", d.breaker.window.as_secs_f64())?,
                probe_interval: secs(
                    "SYNC_BREAKER_PROBE_SECS",
                    d.breaker.probe_interval.as_secs_f64(),
                )?,
            },
        })
    }
}
