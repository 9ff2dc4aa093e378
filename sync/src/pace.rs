//! Pacing calls to Stripe: a token bucket shared by every worker of the
//! process, `Retry-After`, and exponential backoff with full jitter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Mutex;
use tokio::time::Instant;

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
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let elapsed = now.duration_since(s.last).as_secs_f64();
                s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
                s.last = now;
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ if s.tokens >= 1.0 => {
                        s.tokens -= 1.0;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - s.tokens) / self.rate),
                }
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

/// Stripe behind the bucket and the retry policy; counts every request.
#[derive(Clone)]
pub struct Caller {
    api: Arc<dyn StripeApi>,
    bucket: Arc<TokenBucket>,
    backoff: Backoff,
    /// Tries per call in-process before the invoice is put back with a delay.
    tries: u32,
    /// The longest in-process wait; a longer one (a long `Retry-After`) ends
    /// the pass instead, so a sleeping worker never outlives its lease.
    max_sleep: Duration,
}

impl Caller {
    pub fn new(
        api: Arc<dyn StripeApi>,
        bucket: Arc<TokenBucket>,
        backoff: Backoff,
        tries: u32,
        max_sleep: Duration,
    ) -> Self {
        Self {
            api,
            bucket,
            backoff,
            tries: tries.max(1),
            max_sleep,
        }
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Make one call (the same request, same idempotency key, on every try),
    /// retrying retryable failures; `calls` counts requests sent.
    pub async fn call<'a, T>(
        &'a self,
        calls: &mut i64,
        f: impl Fn(&'a dyn StripeApi) -> Call<'a, T>,
    ) -> Result<T, StripeError> {
        let mut attempt = 0;
        loop {
            self.bucket.acquire().await;
            *calls += 1;
            match f(self.api.as_ref()).await {
                Ok(v) => return Ok(v),
                // Stripe answered and refused (429, 409, 5xx): nothing changed, try the
                // same request again. A timeout or a lost connection is in doubt: the
                // call may have taken effect, and after the idempotency window a repeat
                // would create a duplicate, so the pass ends and the next claim
                // re-reads Stripe (recovery) before doing anything.
                Err(e) if e.is_retryable() && !in_doubt(&e) && attempt + 1 < self.tries => {
                    let delay = self.backoff.delay(attempt, e.retry_after());
                    if e.status() == Some(429) {
                        self.bucket.pause_for(delay).await;
                    }
                    if delay > self.max_sleep {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, attempt, delay_ms = delay.as_millis() as u64,
                        "Stripe call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
