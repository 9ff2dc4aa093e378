//! Pacing calls to Stripe: the circuit breaker ([`crate::breaker`]) and a token
//! bucket shared by every worker of the process, `Retry-After`, and exponential
//! backoff with full jitter. No wait — for the breaker's probe, a token, a 429's pause
//! or a retry's backoff — outlasts what the caller's [`LeaseGuard`] allows: a longer
//! one ends the call with [`SyncError::Deferred`], and the worker gives the invoice
//! back (to be claimed again when the wait is over) instead of sleeping on its lease.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::breaker::{Admission, CircuitBreaker};
use crate::error::SyncError;
use crate::stripe::{StripeApi, StripeError};

/// A token bucket: `rate` tokens a second, at most `burst` saved up. A 429
/// pauses every caller until Stripe's `Retry-After` has passed.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl TokenBucket {
    /// `rate` requests per second (must be > 0); bursts of up to `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate: rate.max(0.001),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Wait for a token.
    pub async fn acquire(&self) {
        // A budget no wait reaches: this never gives up.
        let _ = self.acquire_within(Duration::MAX).await;
    }

    /// Wait for a token, unless that means waiting longer than `budget` in all: then
    /// `Err(wait)` with the wait that would be needed, and no token is taken.
    pub async fn acquire_within(&self, budget: Duration) -> Result<(), Duration> {
        let started = Instant::now();
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let elapsed = now.duration_since(s.last).as_secs_f64();
                s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
                s.last = now;
                let wait = match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ if s.tokens >= 1.0 => {
                        s.tokens -= 1.0;
                        return Ok(());
                    }
                    _ => Duration::from_secs_f64((1.0 - s.tokens) / self.rate),
                };
                let spent = now.duration_since(started);
                if spent.saturating_add(wait) > budget {
                    return Err(wait);
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Stop handing out tokens for `d` (Stripe said to slow down).
    pub async fn pause_for(&self, d: Duration) {
        let mut s = self.state.lock().await;
        let until = Instant::now() + d;
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
        s.tokens = 0.0;
    }
}

/// Whether the call may have taken effect without our hearing of it (a timeout, a
/// lost connection, or a write whose answer could not be decoded).
pub fn in_doubt(e: &StripeError) -> bool {
    e.is_in_doubt()
}

/// Exponential backoff with full jitter and a cap.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// A random delay in `[0, min(cap, base × 2^attempt)]`, but never less
    /// than what Stripe asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.cap);
        let jitter = rand::rng().random_range(0.0..=ceiling.as_secs_f64());
        Duration::from_secs_f64(jitter).max(retry_after.unwrap_or_default())
    }
}

/// A boxed Stripe call, as `async_trait` methods return them.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, StripeError>> + Send + 'a>>;

/// Whether a call changes Stripe (and so needs the lease when it is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `GET`: changes nothing.
    Read,
    /// `POST` or `DELETE`.
    Write,
}

/// What the work a call is made for allows: how long the caller may wait, and whether
/// a write may be sent now. The publish implements it with its lease.
#[async_trait::async_trait]
pub trait LeaseGuard: Send + Sync {
    /// How long the caller may still wait (sleep) before it must give the work back.
    fn wait_budget(&self) -> Duration;
    /// Called right before each write is sent; an error stops the write (the lease is
    /// gone or cannot be confirmed).
    async fn before_write(&self) -> Result<(), SyncError>;
}

/// A guard for work that holds no lease (reconcile, tests): waits up to `max_wait`,
/// writes always allowed.
#[derive(Debug, Clone, Copy)]
pub struct NoLease {
    pub max_wait: Duration,
}

#[async_trait::async_trait]
impl LeaseGuard for NoLease {
    fn wait_budget(&self) -> Duration {
        self.max_wait
    }
    async fn before_write(&self) -> Result<(), SyncError> {
        Ok(())
    }
}

/// Stripe behind the breaker, the bucket and the retry policy; counts every request.
#[derive(Clone)]
pub struct Caller {
    api: Arc<dyn StripeApi>,
    bucket: Arc<TokenBucket>,
    breaker: Arc<CircuitBreaker>,
    backoff: Backoff,
    /// Tries per call in-process before the invoice is put back with a delay.
    tries: u32,
}

fn deferred(wait: Duration, reason: String) -> SyncError {
    SyncError::Deferred { wait, reason }
}

impl Caller {
    pub fn new(
        api: Arc<dyn StripeApi>,
        bucket: Arc<TokenBucket>,
        breaker: Arc<CircuitBreaker>,
        backoff: Backoff,
        tries: u32,
    ) -> Self {
        Self {
            api,
            bucket,
            breaker,
            backoff,
            tries: tries.max(1),
        }
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The process's circuit breaker (for the API and metrics: [`CircuitBreaker::health`]).
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Make one call (the same request, same idempotency key, on every try),
    /// retrying refusals; `calls` counts requests sent. Every wait stays within
    /// `guard.wait_budget()`, and every write is preceded by `guard.before_write()`.
    pub async fn call<'a, T>(
        &'a self,
        calls: &mut i64,
        guard: &dyn LeaseGuard,
        access: Access,
        f: impl Fn(&'a dyn StripeApi) -> Call<'a, T>,
    ) -> Result<T, SyncError> {
        let mut attempt = 0;
        loop {
            let probe = match self.breaker.admit() {
                Admission::Go => None,
                Admission::Probe(permit) => Some(permit),
                Admission::Wait { until, since } => {
                    let wait = until.saturating_duration_since(Instant::now());
                    if wait > guard.wait_budget() {
                        return Err(deferred(
                            wait,
                            format!(
                                "Stripe unavailable since {}; waiting for the breaker's probe",
                                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                            ),
                        ));
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            if let Err(wait) = self.bucket.acquire_within(guard.wait_budget()).await {
                return Err(deferred(
                    wait,
                    "rate limited (token bucket or Retry-After)".into(),
                ));
            }
            if access == Access::Write {
                guard.before_write().await?;
            }
            *calls += 1;
            let result = f(self.api.as_ref()).await;
            self.breaker.record(result.as_ref().map(|_| ()), probe);
            match result {
                Ok(v) => return Ok(v),
                // Stripe answered and refused (429, 409, 5xx): nothing changed, try the
                // same request again. A timeout, a lost connection or an unreadable
                // answer to a write is in doubt: the call may have taken effect, and
                // after the idempotency window a repeat would create a duplicate, so
                // the pass ends and the next claim re-reads Stripe (recovery) first.
                Err(e) if e.is_retryable() && !in_doubt(&e) && attempt + 1 < self.tries => {
                    let delay = self.backoff.delay(attempt, e.retry_after());
                    if e.status() == Some(429) {
                        self.bucket.pause_for(delay).await;
                    }
                    if delay > guard.wait_budget() {
                        return Err(e.into());
                    }
                    tracing::warn!(error = %e, attempt, delay_ms = delay.as_millis() as u64,
                        "Stripe call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
