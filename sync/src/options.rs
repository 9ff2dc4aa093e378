//! The sync's configuration: command-line flags, each also read from its
//! `SYNC_*` environment variable (flattened into `billing serve` and
//! `billing sync`; see docs/sync.md).

use std::time::Duration;

use crate::breaker::BreakerConfig;

/// How the sync paces itself and when it publishes.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncOptions {
    /// Stripe requests per second, all workers together.
    #[arg(long = "rate-limit", env = "SYNC_RATE_LIMIT", default_value_t = 20.0,
          value_parser = positive_rate)]
    pub rate_limit: f64,
    /// Invoices published concurrently.
    #[arg(long = "workers", env = "SYNC_WORKERS", default_value_t = 4,
          value_parser = at_least_one)]
    pub workers: usize,
    /// At most one draft publish per invoice per this many seconds; 0
    /// publishes final snapshots only.
    #[arg(long = "draft-cadence-secs", env = "SYNC_DRAFT_CADENCE_SECS", default_value = "3600",
          value_parser = secs)]
    pub draft_cadence: Duration,
    /// Idle wait between looks at the change feed, in milliseconds.
    #[arg(long = "sync-poll-ms", env = "SYNC_POLL_MS", default_value = "1000", value_parser = millis)]
    pub poll: Duration,
    /// How long a claimed invoice stays claimed without renewal, in seconds
    /// (how soon another daemon takes over a dead one's work).
    #[arg(long = "sync-lease-secs", env = "SYNC_LEASE_SECS", default_value = "60", value_parser = secs)]
    pub lease: Duration,
    /// Exponential backoff base (full jitter), in milliseconds.
    #[arg(long = "sync-backoff-base-ms", env = "SYNC_BACKOFF_BASE_MS", default_value = "500",
          value_parser = millis)]
    pub backoff_base: Duration,
    /// Backoff cap, in seconds.
    #[arg(long = "sync-backoff-cap-secs", env = "SYNC_BACKOFF_CAP_SECS", default_value = "60",
          value_parser = secs)]
    pub backoff_cap: Duration,
    /// Tries of one refused call (429, 409, 5xx) before the invoice is put
    /// back with a delay.
    #[arg(long = "sync-tries-per-call", env = "SYNC_TRIES_PER_CALL", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub tries_per_call: u32,
    /// Names this daemon's leases and publish-log rows (default: random).
    #[arg(long = "sync-worker-id", env = "SYNC_WORKER_ID", default_value_t = random_worker_id(),
          hide_default_value = true)]
    pub worker_id: String,
    /// Seconds between passes of the payments catch-up over Stripe's
    /// `GET /v1/events` (webhooks that never arrived are applied within
    /// this); 0 turns the catch-up off.
    #[arg(long = "sync-events-interval-secs", env = "SYNC_EVENTS_INTERVAL_SECS", default_value = "300",
          value_parser = secs)]
    pub events_interval: Duration,
    /// The circuit breaker: `SYNC_BREAKER_FAILURES` (default 5) outage-type failures
    /// (5xx, timeouts, connection errors) within `SYNC_BREAKER_WINDOW_SECS` (default 30),
    /// outnumbering successes, open it; while open, one probe per
    /// `SYNC_BREAKER_PROBE_SECS` (default 5) is the whole request rate.
    #[command(flatten)]
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
            worker_id: random_worker_id(),
            events_interval: Duration::from_secs(300),
            breaker: BreakerConfig::default(),
        }
    }
}

fn random_worker_id() -> String {
    format!("sync-{}", uuid::Uuid::new_v4().simple())
}

fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{raw}` is not a whole number of at least 1")),
    }
}

fn positive_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{raw}` is not a positive number of requests per second"
        )),
    }
}

pub(crate) fn secs(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{raw}` is not a non-negative number of seconds"))
}

fn millis(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("`{raw}` is not a whole number of milliseconds"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sync: SyncOptions,
    }

    #[test]
    fn flags_parse_into_durations_and_refuse_nonsense() {
        let cli =
            Cli::try_parse_from(["x", "--rate-limit", "7.5", "--sync-lease-secs", "1.5"]).unwrap();
        assert_eq!(cli.sync.rate_limit, 7.5);
        assert_eq!(cli.sync.lease, Duration::from_millis(1500));
        assert_eq!(cli.sync.draft_cadence, Duration::from_secs(3600));
        for bad in [
            ["x", "--rate-limit", "0"],
            ["x", "--rate-limit", "NaN"],
            ["x", "--workers", "0"],
            ["x", "--sync-lease-secs", "-1"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
