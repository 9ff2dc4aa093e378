//! The dispatcher: fans notification-worthy events out into messages (its
//! own cursor over the events, never the invoice projection, so a rebuild
//! gives it nothing to do), then delivers due messages, signed, one lease
//! at a time.
//!
//! - **At least once, stable id**: a message is leased before its attempt;
//!   the outcome and the attempt log are written together after it. A
//!   dispatcher that dies mid-attempt leaves the lease to run out, and the
//!   message is attempted again with the same `webhook-id` and body.
//! - **Retries**: [`DEFAULT_SCHEDULE`] (at once, 5 s, 5 min, 30 min, 2 h,
//!   5 h, 10 h, 10 h: eight attempts over about 28 hours). A message that
//!   fails its last attempt is `failed` and its endpoint is disabled with
//!   the reason (visible in the API); re-enabling it and redelivering or
//!   replaying brings it back.
//! - **No redirects** are followed (a 3xx is a failed attempt); every
//!   attempt has a timeout; only http(s) URLs, optionally only allowed hosts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger::db::{Database, DbUuid};
use ledger::EventStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use secrecy::{ExposeSecret, SecretString};

use super::endpoints;
use super::messages::{self, wants};
use super::sealing::{Keyring, SealError};
use super::signing::sign;
use crate::cursor::{self, DISPATCHER};
use crate::{millis, NotifyError};

/// When each attempt is made, counted from the previous failure: at once,
/// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later.
pub const DEFAULT_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How the dispatcher delivers.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Delay before each attempt; its length is the number of attempts.
    pub schedule: Vec<Duration>,
    /// Longest a receiver may take to answer.
    pub timeout: Duration,
    /// How long a claimed message stays leased (longer than `timeout`).
    pub lease: Duration,
    /// When set, only these hosts are delivered to.
    pub allowed_hosts: Option<Vec<String>>,
    /// Concurrent deliveries.
    pub workers: usize,
    /// Opens the endpoints' stored secrets (`WEBHOOK_SECRET_KEY`); the
    /// dispatcher does not start without a key.
    pub keys: Keyring,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            allowed_hosts: None,
            workers: 4,
            keys: Keyring::default(),
        }
    }
}

/// Whether `url` is http(s) and its host allowed; the reason if not.
pub fn check_url(url: &str, allowed: Option<&[String]>) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs are accepted (got `{}`)",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("`{url}` has no host"))?;
    if let Some(allowed) = allowed {
        if !allowed.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(format!(
                "host `{host}` is not in the allow-list ({})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Worked,
    Idle,
}

#[derive(sqlx::FromRow)]
struct Claimable {
    webhook_message_id: i64,
    webhook_endpoint_id: DbUuid,
    webhook_id: String,
    payload: String,
    attempts: i32,
    url: String,
    sealed_secret: Option<String>,
}

/// What an attempt got.
#[derive(Debug)]
struct Attempted {
    status: Option<u16>,
    outcome: &'static str,
    error: Option<String>,
    latency_ms: i64,
}

/// The webhook dispatcher over one database.
#[derive(Clone)]
pub struct Dispatcher {
    db: Database,
    store: Arc<dyn EventStore>,
    client: reqwest::Client,
    options: Arc<DispatchOptions>,
}

impl Dispatcher {
    pub fn new(db: &Database, options: DispatchOptions) -> Result<Self, NotifyError> {
        if options.keys.is_empty() {
            return Err(SealError::NoKeys.into());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent("ledger-webhooks/1")
            .build()
            .map_err(|e| NotifyError::Corrupt(format!("HTTP client: {e}")))?;
        Ok(Self {
            db: db.clone(),
            store: db.event_store(),
            client,
            options: Arc::new(options),
        })
    }

    pub fn options(&self) -> &DispatchOptions {
        &self.options
    }

    /// Turn the events after the cursor into messages; returns how many
    /// events were read.
    pub async fn fan_out(&self, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let after = cursor::position(&self.db, DISPATCHER).await?;
        let page = self.store.read_all(after, 500).await?;
        let Some(last) = page.last() else {
            return Ok(0);
        };
        let endpoints = endpoints::list(&self.db).await?;
        let now_ms = millis(now);
        let mut tx = self.db.begin_write().await?;
        for event in &page {
            let Some((kind, body)) = messages::body(event)? else {
                continue;
            };
            for endpoint in endpoints
                .iter()
                .filter(|e| wants(e, kind, event.global_position))
            {
                messages::insert(&mut tx, endpoint.endpoint_id, event, kind, &body, now_ms).await?;
            }
        }
        cursor::advance(&mut tx, DISPATCHER, last.global_position, now_ms).await?;
        tx.commit().await?;
        Ok(page.len())
    }

    /// Lease the next due message, if any.
    async fn claim(&self, now_ms: i64) -> Result<Option<Claimable>, NotifyError> {
        for _ in 0..5 {
            let Some(due) = self
                .db
                .query_as::<Claimable>(
                    "SELECT m.webhook_message_id, m.webhook_endpoint_id, m.webhook_id, m.payload, \
                       m.attempts, e.url, e.sealed_secret \
                     FROM webhook_message m JOIN webhook_endpoint e \
                       ON e.webhook_endpoint_id = m.webhook_endpoint_id \
                     WHERE m.status = 'pending' AND m.next_attempt_at <= $1 \
                       AND m.lease_until <= $1 AND e.status = 'enabled' \
                     ORDER BY m.next_attempt_at, m.webhook_message_id LIMIT 1",
                )
                .bind(now_ms)
                .fetch_optional()
                .await?
            else {
                return Ok(None);
            };
            let lease_ms = i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX / 2);
            let mut tx = self.db.begin_write().await?;
            let won = tx
                .query(
                    "UPDATE webhook_message SET lease_until = $2 \
                     WHERE webhook_message_id = $1 AND status = 'pending' AND lease_until <= $3",
                )
                .bind(due.webhook_message_id)
                .bind(now_ms.saturating_add(lease_ms))
                .bind(now_ms)
                .execute()
                .await?;
            tx.commit().await?;
            if won == 1 {
                return Ok(Some(due));
            }
        }
        Ok(None)
    }

    /// The signing secret of a claimed message's endpoint. A raw secret
    /// (a row from before migration 0011 that no start-up encrypted yet)
    /// is refused: [`endpoints::reseal`] encrypts it.
    fn secret(&self, message: &Claimable) -> Result<SecretString, NotifyError> {
        let endpoint_id = message.webhook_endpoint_id.0;
        let sealed = message.sealed_secret.as_deref().ok_or_else(|| {
            NotifyError::Corrupt(format!(
                "webhook endpoint {endpoint_id} still has an unencrypted secret; \
                 restart with WEBHOOK_SECRET_KEY set or run `billing webhooks rotate-key` to encrypt it"
            ))
        })?;
        Ok(self.options.keys.open(endpoint_id, sealed)?)
    }

    async fn attempt(
        &self,
        message: &Claimable,
        secret: &SecretString,
        now: DateTime<Utc>,
    ) -> Attempted {
        let started = Instant::now();
        let elapsed =
            |started: Instant| i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let refuse = |error: String| Attempted {
            status: None,
            outcome: "failed",
            error: Some(error),
            latency_ms: 0,
        };
        if let Err(reason) = check_url(&message.url, self.options.allowed_hosts.as_deref()) {
            return refuse(reason);
        }
        let timestamp = now.timestamp();
        let signature = match sign(
            secret.expose_secret(),
            &message.webhook_id,
            timestamp,
            &message.payload,
        ) {
            Ok(s) => s,
            Err(e) => return refuse(e.to_string()),
        };
        let sent = self
            .client
            .post(&message.url)
            .header("webhook-id", &message.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let latency_ms = elapsed(started);
                if status.is_success() {
                    Attempted {
                        status: Some(status.as_u16()),
                        outcome: "delivered",
                        error: None,
                        latency_ms,
                    }
                } else {
                    let error = if status.is_redirection() {
                        format!("answered {status}; redirects are not followed")
                    } else {
                        format!("answered {status}")
                    };
                    Attempted {
                        status: Some(status.as_u16()),
                        outcome: "failed",
                        error: Some(error),
                        latency_ms,
                    }
                }
            }
            Err(err) => Attempted {
                status: None,
                outcome: if err.is_timeout() {
                    "timeout"
                } else {
                    "network_error"
                },
                error: Some(err.to_string()),
                latency_ms: elapsed(started),
            },
        }
    }

    async fn record(
        &self,
        message: &Claimable,
        attempted: &Attempted,
        now_ms: i64,
    ) -> Result<(), NotifyError> {
        let attempt = message.attempts.saturating_add(1);
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO webhook_attempt (webhook_message_id, webhook_endpoint_id, attempt, \
               started_at, latency_ms, response_status, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(message.webhook_message_id)
        .bind(DbUuid(message.webhook_endpoint_id.0))
        .bind(attempt)
        .bind(now_ms)
        .bind(attempted.latency_ms)
        .bind(attempted.status.map(i32::from))
        .bind(attempted.outcome)
        .bind(attempted.error.clone())
        .execute()
        .await?;
        let exhausted =
            usize::try_from(attempt).unwrap_or(usize::MAX) >= self.options.schedule.len();
        if attempted.outcome == "delivered" {
            tx.query(
                "UPDATE webhook_message SET status = 'delivered', attempts = $2, lease_until = 0, \
                   delivered_at = $3, last_error = NULL WHERE webhook_message_id = $1",
            )
            .bind(message.webhook_message_id)
            .bind(attempt)
            .bind(now_ms)
            .execute()
            .await?;
        } else if exhausted {
            tx.query(
                "UPDATE webhook_message SET status = 'failed', attempts = $2, lease_until = 0, \
                   last_error = $3 WHERE webhook_message_id = $1",
            )
            .bind(message.webhook_message_id)
            .bind(attempt)
            .bind(attempted.error.clone())
            .execute()
            .await?;
            tx.query(
                "UPDATE webhook_endpoint SET status = 'disabled', disabled_reason = $2, updated_at = $3 \
                 WHERE webhook_endpoint_id = $1",
            )
            .bind(DbUuid(message.webhook_endpoint_id.0))
            .bind(format!(
                "message {} failed all {attempt} attempts of the retry schedule; last: {}",
                message.webhook_id,
                attempted.error.as_deref().unwrap_or("no answer")
            ))
            .bind(now_ms)
            .execute()
            .await?;
        } else {
            let delay = self
                .options
                .schedule
                .get(usize::try_from(attempt).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or_default();
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            tx.query(
                "UPDATE webhook_message SET attempts = $2, lease_until = 0, next_attempt_at = $3, \
                   last_error = $4 WHERE webhook_message_id = $1",
            )
            .bind(message.webhook_message_id)
            .bind(attempt)
            .bind(now_ms.saturating_add(delay_ms))
            .bind(attempted.error.clone())
            .execute()
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deliver one due message (leased, attempted, recorded); `false` if
    /// none was due. A secret that does not open (a wrong or missing key)
    /// is an error, not an attempt: the message keeps its lease until it
    /// runs out, so the others are delivered meanwhile and nothing is
    /// counted against the receiver.
    pub async fn deliver_one(&self, now: DateTime<Utc>) -> Result<bool, NotifyError> {
        let Some(message) = self.claim(millis(now)).await? else {
            return Ok(false);
        };
        let secret = self.secret(&message)?;
        let attempted = self.attempt(&message, &secret, now).await;
        tracing::info!(
            webhook_id = %message.webhook_id,
            outcome = attempted.outcome,
            status = attempted.status,
            "webhook attempt"
        );
        self.record(&message, &attempted, millis(now)).await?;
        Ok(true)
    }

    /// Fan out and deliver one message.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<Outcome, NotifyError> {
        let read = self.fan_out(now).await?;
        let delivered = self.deliver_one(now).await?;
        Ok(if read == 0 && !delivered {
            Outcome::Idle
        } else {
            Outcome::Worked
        })
    }

    /// Step until nothing is due at `now`.
    pub async fn run_until_idle(&self, now: DateTime<Utc>) -> Result<(), NotifyError> {
        while self.step(now).await? == Outcome::Worked {}
        Ok(())
    }

    /// Fan out and deliver with `workers` concurrent deliveries until
    /// `shutdown`; a delivery in flight is finished first.
    pub async fn run(self, poll: Duration, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..self.options.workers.max(1) {
            let me = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                while !shutdown.is_cancelled() {
                    let worked = if worker == 0 {
                        me.step(Utc::now()).await.map(|o| o == Outcome::Worked)
                    } else {
                        me.deliver_one(Utc::now()).await
                    };
                    match worked {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(err) => tracing::error!(error = %err, "webhook dispatcher step failed"),
                    }
                    tokio::select! {
                        () = tokio::time::sleep(poll) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// The endpoint ids with messages still pending (for tests and the demo).
pub async fn pending(db: &Database) -> Result<Vec<Uuid>, NotifyError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        webhook_endpoint_id: DbUuid,
    }
    Ok(db
        .query_as::<Row>("SELECT webhook_endpoint_id FROM webhook_message WHERE status = 'pending'")
        .fetch_all()
        .await?
        .into_iter()
        .map(|r| r.webhook_endpoint_id.0)
        .collect())
}
