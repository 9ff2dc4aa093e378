//! Stripe's idempotency rules for `POST`: same key and parameters → the stored response
//! again (`Idempotent-Replayed: true`); same key, other parameters → 400
//! `idempotency_error`; same key while the first is running → 409
//! `idempotency_key_in_use`; keys are forgotten after the configured window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::time::Instant;

use crate::error::StripeErr;
use crate::state::{lock, Shared};

/// What identifies "the same request" for a key.
pub(crate) type Fingerprint = (String, Vec<(String, String)>);

/// A response kept for replay.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

#[derive(Debug)]
enum State {
    InFlight,
    Done(Stored),
}

#[derive(Debug)]
struct Entry {
    fingerprint: Fingerprint,
    created: Instant,
    state: State,
}

#[derive(Debug, Default)]
pub(crate) struct IdempotencyTable {
    entries: HashMap<String, Entry>,
}

/// What to do with an incoming keyed request.
pub(crate) enum Claim {
    /// Run it; the guard stores the result (or forgets the key if dropped unfinished).
    Run(InFlightGuard),
    /// Answer with the stored response.
    Replay(Stored),
}

impl IdempotencyTable {
    pub fn claim(
        &mut self,
        key: &str,
        fingerprint: Fingerprint,
        window: Duration,
        now: Instant,
    ) -> Result<Option<Stored>, StripeErr> {
        if let Some(entry) = self.entries.get(key) {
            if now.duration_since(entry.created) < window {
                if entry.fingerprint != fingerprint {
                    return Err(StripeErr::new(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                        ),
                    ));
                }
                return match &entry.state {
                    State::InFlight => Err(StripeErr::new(
                        StatusCode::CONFLICT,
                        "invalid_request_error",
                        "There is currently another in-progress request using this Stripe token or idempotency key. Retry later.",
                    )
                    .code("idempotency_key_in_use")),
                    State::Done(stored) => Ok(Some(stored.clone())),
                };
            }
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                fingerprint,
                created: now,
                state: State::InFlight,
            },
        );
        Ok(None)
    }
}

/// Claims `key` for a request; see [`Claim`].
pub(crate) fn claim(
    shared: &Arc<Shared>,
    key: &str,
    fingerprint: Fingerprint,
) -> Result<Claim, StripeErr> {
    let window = shared.config.idempotency_window;
    let stored = lock(&shared.idempotency).claim(key, fingerprint, window, Instant::now())?;
    Ok(match stored {
        Some(stored) => Claim::Replay(stored),
        None => Claim::Run(InFlightGuard {
            shared: Arc::clone(shared),
            key: Some(key.to_owned()),
        }),
    })
}

/// Holds a key in flight; dropping it unfinished forgets the key (nothing was executed).
pub(crate) struct InFlightGuard {
    shared: Arc<Shared>,
    key: Option<String>,
}

impl InFlightGuard {
    /// Stores the response for replay.
    pub fn complete(mut self, stored: Stored) {
        if let Some(key) = self.key.take() {
            if let Some(entry) = lock(&self.shared.idempotency).entries.get_mut(&key) {
                entry.state = State::Done(stored);
            }
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.shared.idempotency).entries.remove(&key);
        }
    }
}
