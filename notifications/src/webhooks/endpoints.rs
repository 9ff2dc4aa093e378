//! `webhook_endpoint`: the registered receivers. Reads here never write.

use ledger::db::{Database, DbUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::NotifyError;

/// Every event type an endpoint can subscribe to, and the ledger event
/// each comes from.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("alert.triggered", "AlertTriggered"),
    ("alert.resolved", "AlertResolved"),
    ("invoice.finalized", "InvoiceFinalized"),
    ("invoice.paid", "InvoicePaid"),
    ("invoice.payment_failed", "InvoicePaymentFailed"),
];

/// The webhook event type of a ledger event type, if it is delivered.
pub fn webhook_type(ledger_type: &str) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .find(|(_, l)| *l == ledger_type)
        .map(|(w, _)| *w)
}

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub endpoint_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub after_position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    pub webhook_endpoint_id: DbUuid,
    pub url: String,
    pub description: String,
    pub event_types: String,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub after_position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EndpointRow {
    pub(crate) fn endpoint(&self) -> Result<Endpoint, NotifyError> {
        Ok(Endpoint {
            endpoint_id: self.webhook_endpoint_id.0,
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: serde_json::from_str(&self.event_types)?,
            enabled: self.status == "enabled",
            disabled_reason: self.disabled_reason.clone(),
            after_position: self.after_position,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) const COLUMNS: &str = "webhook_endpoint_id, url, description, event_types, \
     status, disabled_reason, after_position, created_at, updated_at";

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub secret: String,
    /// Events at or below this position are not delivered (the head now).
    pub after_position: i64,
}

pub async fn create(
    db: &Database,
    new: &NewEndpoint,
    now_ms: i64,
) -> Result<Endpoint, NotifyError> {
    let id = Uuid::now_v7();
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO webhook_endpoint (webhook_endpoint_id, url, description, event_types, \
           secret, status, after_position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'enabled', $6, $7, $7)",
    )
    .bind(DbUuid(id))
    .bind(new.url.clone())
    .bind(new.description.clone())
    .bind(serde_json::to_string(&new.event_types)?)
    .bind(new.secret.clone())
    .bind(new.after_position)
    .bind(now_ms)
    .execute()
    .await?;
    tx.commit().await?;
    get(db, id)
        .await?
        .ok_or_else(|| NotifyError::Corrupt("a created endpoint is missing".into()))
}

pub(crate) async fn row(db: &Database, id: Uuid) -> Result<Option<EndpointRow>, NotifyError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoint WHERE webhook_endpoint_id = $1");
    Ok(db
        .query_as::<EndpointRow>(&sql)
        .bind(DbUuid(id))
        .fetch_optional()
        .await?)
}

pub async fn get(db: &Database, id: Uuid) -> Result<Option<Endpoint>, NotifyError> {
    row(db, id).await?.map(|r| r.endpoint()).transpose()
}

/// Every endpoint, oldest first.
pub async fn list(db: &Database) -> Result<Vec<Endpoint>, NotifyError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoint ORDER BY webhook_endpoint_id");
    db.query_as::<EndpointRow>(&sql)
        .fetch_all()
        .await?
        .iter()
        .map(EndpointRow::endpoint)
        .collect()
}

/// What a `PATCH` changes (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub async fn update(
    db: &Database,
    id: Uuid,
    change: &EndpointChange,
    now_ms: i64,
) -> Result<Option<Endpoint>, NotifyError> {
    let Some(current) = get(db, id).await? else {
        return Ok(None);
    };
    let enabled = change.enabled.unwrap_or(current.enabled);
    let reason = match (enabled, current.enabled) {
        (true, _) => None,
        (false, true) => Some("disabled by an operator".to_owned()),
        (false, false) => current.disabled_reason.clone(),
    };
    let mut tx = db.begin_write().await?;
    tx.query(
        "UPDATE webhook_endpoint SET url = $2, description = $3, event_types = $4, \
           status = $5, disabled_reason = $6, updated_at = $7 \
         WHERE webhook_endpoint_id = $1",
    )
    .bind(DbUuid(id))
    .bind(change.url.clone().unwrap_or(current.url))
    .bind(change.description.clone().unwrap_or(current.description))
    .bind(serde_json::to_string(
        change.event_types.as_ref().unwrap_or(&current.event_types),
    )?)
    .bind(if enabled { "enabled" } else { "disabled" })
    .bind(reason)
    .bind(now_ms)
    .execute()
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// Replace the signing secret; `false` if there is no such endpoint.
pub async fn rotate(
    db: &Database,
    id: Uuid,
    secret: &str,
    now_ms: i64,
) -> Result<bool, NotifyError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE webhook_endpoint SET secret = $2, updated_at = $3 WHERE webhook_endpoint_id = $1",
        )
        .bind(DbUuid(id))
        .bind(secret.to_owned())
        .bind(now_ms)
        .execute()
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Delete an endpoint with its messages and attempt log; `false` if absent.
pub async fn delete(db: &Database, id: Uuid) -> Result<bool, NotifyError> {
    let mut tx = db.begin_write().await?;
    tx.query("DELETE FROM webhook_attempt WHERE webhook_endpoint_id = $1")
        .bind(DbUuid(id))
        .execute()
        .await?;
    tx.query("DELETE FROM webhook_message WHERE webhook_endpoint_id = $1")
        .bind(DbUuid(id))
        .execute()
        .await?;
    let n = tx
        .query("DELETE FROM webhook_endpoint WHERE webhook_endpoint_id = $1")
        .bind(DbUuid(id))
        .execute()
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}
