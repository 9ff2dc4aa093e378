//! A circuit breaker per process, in front of every Stripe call.
//!
//! *Closed* (normal): calls go through; each outcome is remembered for `window`. When
//! at least `failures` calls in the window failed the way an outage fails (5xx, a
//! timeout, a connection that failed or broke: [`StripeError::is_outage`]) and failures
//! outnumber successes, the breaker *opens*: Stripe is unavailable since that moment.
//!
//! *Open*: no call is sent, except one *probe* every `probe_interval` — an ordinary
//! call of one worker, admitted alone. Other callers wait for the probe (or give up and
//! release their invoice when the wait would outlast their lease), and workers claim no
//! new invoice unless a probe is due. So during an outage the process sends one request
//! per `probe_interval` whatever its backlog. A probe that Stripe answers (anything but
//! an outage-type failure) *closes* the breaker and the backlog drains at the normal
//! rate; a failed probe keeps it open for another interval.
//!
//! [`CircuitBreaker::health`] is what the API and metrics show ("Stripe unavailable
//! since …").

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::stripe::StripeError;

/// When the breaker opens and how it probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct BreakerConfig {
    /// Outage-type failures (5xx, timeouts, connection errors) within the
    /// window that open the breaker.
    #[arg(long = "sync-breaker-failures", env = "SYNC_BREAKER_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub failures: u32,
    /// How far back outcomes count, in seconds.
    #[arg(long = "sync-breaker-window-secs", env = "SYNC_BREAKER_WINDOW_SECS", default_value = "30",
          value_parser = crate::options::secs)]
    pub window: Duration,
    /// While open: one probe per this many seconds (the request-rate floor
    /// during an outage).
    #[arg(long = "sync-breaker-probe-secs", env = "SYNC_BREAKER_PROBE_SECS", default_value = "5",
          value_parser = crate::options::secs)]
    pub probe_interval: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            window: Duration::from_secs(30),
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// What a caller may do now.
#[derive(Debug)]
pub enum Admission {
    /// Send the call.
    Go,
    /// Send the call as the probe; report its outcome with the permit.
    Probe(ProbePermit),
    /// Stripe is unavailable: nothing may be sent before `until`.
    Wait {
        /// When the next probe is due (or the current one should have ended).
        until: Instant,
        /// Since when Stripe is unavailable.
        since: DateTime<Utc>,
    },
}

/// The right to send the one probe; dropping it without reporting an outcome frees
/// the probe slot (the caller gave up before sending).
#[derive(Debug)]
pub struct ProbePermit {
    breaker: Option<Arc<CircuitBreaker>>,
}

impl Drop for ProbePermit {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            if let Some(open) = lock(&breaker.inner).open.as_mut() {
                open.probing = false;
            }
        }
    }
}

#[derive(Debug)]
struct Open {
    since: DateTime<Utc>,
    next_probe: Instant,
    probing: bool,
    /// A worker was let through to claim an invoice for the next probe.
    claim_reserved_until: Option<Instant>,
    last_error: String,
}

#[derive(Debug, Default)]
struct Inner {
    recent: VecDeque<(Instant, bool)>,
    open: Option<Open>,
    trips: u64,
    probes: u64,
    requests: u64,
    failures: u64,
}

/// The breaker; share it (`Arc`) between every worker of the process.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// The breaker's state for the API and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StripeHealth {
    /// Whether calls are going through (breaker closed).
    pub available: bool,
    /// Since when Stripe is considered unavailable (breaker open).
    pub unavailable_since: Option<DateTime<Utc>>,
    /// The failure that opened the breaker, or that the last probe met.
    pub last_error: Option<String>,
    /// How many times the breaker has opened since the process started.
    pub trips: u64,
    /// Probes sent while open.
    pub probes: u64,
    /// Stripe requests sent by this process (retries and probes included).
    pub requests: u64,
    /// Of those, outage-type failures (5xx, timeouts, connection errors).
    pub outage_failures: u64,
}

impl StripeHealth {
    /// One line for people: `Stripe available` or `Stripe unavailable since <RFC 3339>`.
    pub fn message(&self) -> String {
        match self.unavailable_since {
            None => "Stripe available".to_owned(),
            Some(since) => format!(
                "Stripe unavailable since {} ({})",
                since.to_rfc3339_opts(SecondsFormat::Secs, true),
                self.last_error.as_deref().unwrap_or("failing")
            ),
        }
    }

    /// Gauges and counters by name, for `/metrics` (`stripe_available` is 0 or 1,
    /// `stripe_unavailable_since_seconds` a Unix time, 0 while available).
    pub fn metrics(&self) -> [(&'static str, i64); 6] {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        [
            ("stripe_available", i64::from(self.available)),
            (
                "stripe_unavailable_since_seconds",
                self.unavailable_since.map_or(0, |t| t.timestamp()),
            ),
            ("stripe_breaker_trips", n(self.trips)),
            ("stripe_breaker_probes", n(self.probes)),
            ("stripe_requests", n(self.requests)),
            ("stripe_outage_failures", n(self.outage_failures)),
        ]
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                failures: config.failures.max(1),
                ..config
            },
            inner: Mutex::default(),
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// May a call be sent now?
    pub fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let Some(open) = inner.open.as_mut() else {
            return Admission::Go;
        };
        if open.probing || now < open.next_probe {
            let until = if open.probing {
                now + self.config.probe_interval
            } else {
                open.next_probe
            };
            return Admission::Wait {
                until,
                since: open.since,
            };
        }
        open.probing = true;
        open.claim_reserved_until = None;
        Admission::Probe(ProbePermit {
            breaker: Some(Arc::clone(self)),
        })
    }

    /// Should a worker claim an invoice now? Always while closed; while open only one
    /// worker, when a probe is due, so the probe has work to carry.
    pub fn admit_claim(&self) -> bool {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let Some(open) = inner.open.as_mut() else {
            return true;
        };
        let reserved = open.claim_reserved_until.is_some_and(|t| t > now);
        if open.probing || now < open.next_probe || reserved {
            return false;
        }
        open.claim_reserved_until =
            Some(now + self.config.probe_interval.max(Duration::from_secs(1)));
        true
    }

    /// Report the outcome of a call sent after [`admit`](Self::admit); `probe` is the
    /// permit if it was the probe.
    pub fn record(&self, result: Result<(), &StripeError>, probe: Option<ProbePermit>) {
        let now = Instant::now();
        let outage = result.err().filter(|e| e.is_outage());
        let was_probe = probe.is_some_and(|mut p| {
            p.breaker
                .take()
                .is_some_and(|b| std::ptr::eq(Arc::as_ptr(&b), self))
        });
        let mut inner = lock(&self.inner);
        inner.requests += 1;
        if was_probe {
            inner.probes += 1;
        }
        if outage.is_some() {
            inner.failures += 1;
        }
        if let Some(open) = inner.open.as_mut() {
            match (was_probe, outage) {
                (true, None) => {
                    tracing::info!(since = %open.since, "Stripe answers again; resuming");
                    inner.open = None;
                    inner.recent.clear();
                }
                (true, Some(e)) => {
                    open.probing = false;
                    open.next_probe = now + self.config.probe_interval;
                    open.last_error = e.to_string();
                }
                // A call admitted before the breaker opened: it says nothing new.
                (false, _) => {}
            }
            return;
        }
        inner.recent.push_back((now, outage.is_some()));
        let window = self.config.window;
        while inner
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > window)
        {
            inner.recent.pop_front();
        }
        let failed = inner.recent.iter().filter(|(_, f)| *f).count();
        let succeeded = inner.recent.len() - failed;
        if let Some(e) = outage {
            if failed >= self.config.failures as usize && failed > succeeded {
                let since = Utc::now();
                tracing::warn!(error = %e, failed, window_secs = window.as_secs(),
                    "Stripe keeps failing; circuit breaker open, probing");
                inner.trips += 1;
                inner.open = Some(Open {
                    since,
                    next_probe: now + self.config.probe_interval,
                    probing: false,
                    claim_reserved_until: None,
                    last_error: e.to_string(),
                });
            }
        }
    }

    /// Whether calls go through now.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner).open.is_none()
    }

    /// The state for the API and metrics.
    pub fn health(&self) -> StripeHealth {
        let inner = lock(&self.inner);
        StripeHealth {
            available: inner.open.is_none(),
            unavailable_since: inner.open.as_ref().map(|o| o.since),
            last_error: inner.open.as_ref().map(|o| o.last_error.clone()),
            trips: inner.trips,
            probes: inner.probes,
            requests: inner.requests,
            outage_failures: inner.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::ApiError;

    fn api(status: u16) -> StripeError {
        StripeError::Api {
            status,
            error: Box::new(ApiError {
                kind: "api_error".into(),
                code: None,
                message: None,
                param: None,
            }),
            retry_after: None,
            should_retry: None,
            request_id: None,
        }
    }

    fn breaker() -> Arc<CircuitBreaker> {
        Arc::new(CircuitBreaker::new(BreakerConfig {
            failures: 3,
            window: Duration::from_secs(10),
            probe_interval: Duration::from_secs(2),
        }))
    }

    fn send(b: &Arc<CircuitBreaker>, outcome: Result<(), StripeError>) -> bool {
        match b.admit() {
            Admission::Go => b.record(outcome.as_ref().map(|_| ()), None),
            Admission::Probe(p) => b.record(outcome.as_ref().map(|_| ()), Some(p)),
            Admission::Wait { .. } => return false,
        }
        true
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_and_occasional_failures_never_open_it() {
        let b = breaker();
        for _ in 0..20 {
            assert!(send(&b, Err(api(400))));
            assert!(send(&b, Err(api(429))));
        }
        for _ in 0..10 {
            assert!(send(&b, Ok(())));
            assert!(send(&b, Ok(())));
            assert!(send(&b, Err(api(500))));
        }
        assert!(b.health().available, "{:?}", b.health());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_window_open_it_and_one_probe_per_interval_goes_through() {
        let b = breaker();
        for _ in 0..3 {
            assert!(send(&b, Err(api(503))));
        }
        let health = b.health();
        assert!(!health.available);
        assert!(
            health.message().starts_with("Stripe unavailable since "),
            "{health:?}"
        );
        assert!(matches!(b.admit(), Admission::Wait { .. }));
        assert!(!b.admit_claim(), "no claims while no probe is due");
        let mut sent = 0;
        for _ in 0..100 {
            tokio::time::advance(Duration::from_millis(100)).await;
            if send(&b, Err(api(500))) {
                sent += 1;
            }
        }
        assert_eq!(sent, 5, "10 s open, one probe per 2 s");
        assert_eq!(b.health().probes, 5);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(b.admit_claim(), "a probe is due: one worker may claim");
        assert!(!b.admit_claim(), "only one");
        assert!(send(&b, Err(api(404))), "Stripe answered: it is up");
        assert!(b.health().available);
        assert!(matches!(b.admit(), Admission::Go));
        assert!(b.admit_claim());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_given_up_before_sending_frees_the_probe_slot() {
        let b = breaker();
        for _ in 0..3 {
            send(&b, Err(api(502)));
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        let Admission::Probe(permit) = b.admit() else {
            panic!("a probe is due");
        };
        assert!(
            matches!(b.admit(), Admission::Wait { .. }),
            "one probe at a time"
        );
        drop(permit);
        assert!(matches!(b.admit(), Admission::Probe(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_fall_out_of_the_window() {
        let b = breaker();
        send(&b, Err(api(500)));
        send(&b, Err(api(500)));
        tokio::time::advance(Duration::from_secs(11)).await;
        send(&b, Err(api(500)));
        assert!(b.health().available);
    }
}
