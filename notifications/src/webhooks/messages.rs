//! `webhook_message` and `webhook_attempt`: what is to be delivered, what
//! each attempt got; fan-out of events into messages, redelivery and replay.

use chrono::{DateTime, Utc};
use ledger::db::{Database, DbUuid, WriteTx};
use ledger::{EventStore, RecordedEvent};
use serde::Serialize;
use uuid::Uuid;

use super::endpoints::{self, webhook_type, Endpoint};
use crate::NotifyError;

/// The `webhook-id` of every delivery of a ledger event: stable across
/// attempts, redeliveries and replays, the same for every endpoint.
pub fn webhook_id(event_id: Uuid) -> String {
    format!("msg_{}", event_id.simple())
}

/// The body delivered for `event` (Standard Webhooks' recommended shape).
#[derive(Debug, Serialize)]
struct Body<'a> {
    /// `alert.triggered`, `invoice.finalized`, …
    #[serde(rename = "type")]
    kind: &'a str,
    /// When the ledger recorded the fact.
    timestamp: DateTime<Utc>,
    data: Data<'a>,
}

#[derive(Debug, Serialize)]
struct Data<'a> {
    event_id: Uuid,
    event_type: &'a str,
    position: i64,
    org_id: Option<&'a str>,
    occurred_at: DateTime<Utc>,
    payload: &'a serde_json::Value,
}

/// The JSON body for `event`, if it is a notification-worthy fact.
pub fn body(event: &RecordedEvent) -> Result<Option<(&'static str, String)>, NotifyError> {
    let Some(kind) = webhook_type(&event.event_type) else {
        return Ok(None);
    };
    let body = Body {
        kind,
        timestamp: event.recorded_at,
        data: Data {
            event_id: event.event_id,
            event_type: &event.event_type,
            position: event.global_position,
            org_id: event.org_id.as_deref(),
            occurred_at: event.occurred_at,
            payload: &event.payload,
        },
    };
    Ok(Some((kind, serde_json::to_string(&body)?)))
}

/// Insert a pending message of `event` for `endpoint` (nothing if it exists).
pub(crate) async fn insert(
    tx: &mut WriteTx,
    endpoint: Uuid,
    event: &RecordedEvent,
    kind: &str,
    body: &str,
    now_ms: i64,
) -> Result<(), NotifyError> {
    tx.query(
        "INSERT INTO webhook_message (webhook_endpoint_id, webhook_id, event_position, \
           event_type, payload, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
         ON CONFLICT (webhook_endpoint_id, event_position) DO NOTHING",
    )
    .bind(DbUuid(endpoint))
    .bind(webhook_id(event.event_id))
    .bind(event.global_position)
    .bind(kind.to_owned())
    .bind(body.to_owned())
    .bind(now_ms)
    .execute()
    .await?;
    Ok(())
}

/// Whether `endpoint` takes `kind` events at `position`.
pub(crate) fn wants(endpoint: &Endpoint, kind: &str, position: i64) -> bool {
    endpoint.enabled
        && position > endpoint.after_position
        && endpoint.event_types.iter().any(|t| t == kind)
}

/// One delivery attempt, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub attempt_id: i64,
    pub webhook_id: String,
    pub event_type: String,
    pub event_position: i64,
    pub attempt: i32,
    pub started_at: i64,
    pub latency_ms: i64,
    pub response_status: Option<i32>,
    pub outcome: String,
    pub error: Option<String>,
    /// The message's state now: pending, delivered or failed.
    pub message_status: String,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    webhook_attempt_id: i64,
    webhook_id: String,
    event_type: String,
    event_position: i64,
    attempt: i32,
    started_at: i64,
    latency_ms: i64,
    response_status: Option<i32>,
    outcome: String,
    error: Option<String>,
    status: String,
}

/// An endpoint's attempts, newest first, before `before` (an attempt id).
pub async fn attempts(
    db: &Database,
    endpoint: Uuid,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Attempt>, NotifyError> {
    let rows = db
        .query_as::<AttemptRow>(
            "SELECT a.webhook_attempt_id, m.webhook_id, m.event_type, m.event_position, \
               a.attempt, a.started_at, a.latency_ms, a.response_status, a.outcome, a.error, \
               m.status \
             FROM webhook_attempt a JOIN webhook_message m \
               ON m.webhook_message_id = a.webhook_message_id \
             WHERE a.webhook_endpoint_id = $1 AND a.webhook_attempt_id < $2 \
             ORDER BY a.webhook_attempt_id DESC LIMIT $3",
        )
        .bind(DbUuid(endpoint))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Attempt {
            attempt_id: r.webhook_attempt_id,
            webhook_id: r.webhook_id,
            event_type: r.event_type,
            event_position: r.event_position,
            attempt: r.attempt,
            started_at: r.started_at,
            latency_ms: r.latency_ms,
            response_status: r.response_status,
            outcome: r.outcome,
            error: r.error,
            message_status: r.status,
        })
        .collect())
}

/// Make the message with `webhook_id` to `endpoint` due now again (same
/// id, same body), whatever its state; `false` if there is none.
pub async fn redeliver(
    db: &Database,
    endpoint: Uuid,
    webhook_id: &str,
    now_ms: i64,
) -> Result<bool, NotifyError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE webhook_message SET status = 'pending', attempts = 0, next_attempt_at = $3, \
               lease_until = 0, delivered_at = NULL \
             WHERE webhook_endpoint_id = $1 AND webhook_id = $2",
        )
        .bind(DbUuid(endpoint))
        .bind(webhook_id.to_owned())
        .bind(now_ms)
        .execute()
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Deliver again to `endpoint` every event it subscribes to after
/// `after_position` (exclusive), with their usual webhook ids: existing
/// messages are made due again, missing ones created. Returns how many.
pub async fn replay(
    db: &Database,
    store: &dyn EventStore,
    endpoint: Uuid,
    after_position: i64,
    now_ms: i64,
) -> Result<Option<u64>, NotifyError> {
    let Some(found) = endpoints::get(db, endpoint).await? else {
        return Ok(None);
    };
    let mut cursor = after_position;
    let mut count = 0;
    loop {
        let page = store.read_all(cursor, 1_000).await?;
        let Some(last) = page.last() else { break };
        cursor = last.global_position;
        let mut tx = db.begin_write().await?;
        for event in &page {
            let Some((kind, body)) = body(event)? else {
                continue;
            };
            if !found.event_types.iter().any(|t| t == kind) {
                continue;
            }
            insert(&mut tx, endpoint, event, kind, &body, now_ms).await?;
            tx.query(
                "UPDATE webhook_message SET status = 'pending', attempts = 0, \
                   next_attempt_at = $3, lease_until = 0, delivered_at = NULL \
                 WHERE webhook_endpoint_id = $1 AND event_position = $2",
            )
            .bind(DbUuid(endpoint))
            .bind(event.global_position)
            .bind(now_ms)
            .execute()
            .await?;
            count += 1;
        }
        tx.commit().await?;
    }
    Ok(Some(count))
}

/// For `/metrics`: attempts by outcome, and the age of the oldest message
/// not yet delivered (pending), in seconds.
#[derive(Debug, Clone, Default)]
pub struct DeliveryTotals {
    pub by_outcome: Vec<(String, i64)>,
    pub oldest_pending_seconds: i64,
}

#[derive(sqlx::FromRow)]
struct OutcomeCount {
    outcome: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct Oldest {
    oldest: Option<i64>,
}

pub async fn totals(db: &Database, now_ms: i64) -> Result<DeliveryTotals, NotifyError> {
    let by_outcome = db
        .query_as::<OutcomeCount>(
            "SELECT outcome, COUNT(*) AS n FROM webhook_attempt GROUP BY outcome ORDER BY outcome",
        )
        .fetch_all()
        .await?
        .into_iter()
        .map(|r| (r.outcome, r.n))
        .collect();
    let oldest = db
        .query_as::<Oldest>(
            "SELECT MIN(created_at) AS oldest FROM webhook_message WHERE status = 'pending'",
        )
        .fetch_one()
        .await?;
    Ok(DeliveryTotals {
        by_outcome,
        oldest_pending_seconds: oldest.oldest.map_or(0, |t| ((now_ms - t) / 1000).max(0)),
    })
}
