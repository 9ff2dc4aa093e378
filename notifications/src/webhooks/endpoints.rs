//! `webhook_endpoint`: the registered receivers. Reads here never write.

use ledger::db::{Database, DbUuid};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use super::sealing::Keyring;
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

/// Register `new`, its secret sealed under `keys` (never stored raw).
pub async fn create(
    db: &Database,
    keys: &Keyring,
    new: &NewEndpoint,
    now_ms: i64,
) -> Result<Endpoint, NotifyError> {
    let id = Uuid::now_v7();
    let sealed = keys.seal(id, &new.secret)?;
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO webhook_endpoint (webhook_endpoint_id, url, description, event_types, \
           sealed_secret, status, after_position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'enabled', $6, $7, $7)",
    )
    .bind(DbUuid(id))
    .bind(new.url.clone())
    .bind(new.description.clone())
    .bind(serde_json::to_string(&new.event_types)?)
    .bind(sealed)
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

/// Replace the signing secret (sealed under `keys`); `false` if there is
/// no such endpoint.
pub async fn rotate(
    db: &Database,
    keys: &Keyring,
    id: Uuid,
    secret: &str,
    now_ms: i64,
) -> Result<bool, NotifyError> {
    let sealed = keys.seal(id, secret)?;
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE webhook_endpoint SET sealed_secret = $2, plain_secret = NULL, updated_at = $3 \
             WHERE webhook_endpoint_id = $1",
        )
        .bind(DbUuid(id))
        .bind(sealed)
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

#[derive(sqlx::FromRow)]
struct SecretRow {
    webhook_endpoint_id: DbUuid,
    plain_secret: Option<String>,
    sealed_secret: Option<String>,
}

/// What [`reseal`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Raw secrets of rows from before migration 0011, now encrypted.
    pub encrypted: usize,
    /// Secrets moved from an older key to the first key.
    pub rekeyed: usize,
    /// Secrets already under the first key (checked: they open).
    pub current: usize,
}

/// Bring every endpoint's stored secret under the first key of `keys`:
/// encrypt the raw secrets left from before migration 0011, re-encrypt
/// those sealed under another key of the ring, and check that the others
/// open. Fails, naming the endpoint and key, on a secret no key opens
/// (nothing is changed then). Idempotent; run at start-up and by
/// `billing webhooks rotate-key`.
pub async fn reseal(db: &Database, keys: &Keyring) -> Result<Resealed, NotifyError> {
    let first = keys
        .sealing_key_id()
        .ok_or(super::sealing::SealError::NoKeys)?
        .to_owned();
    let rows = db
        .query_as::<SecretRow>(
            "SELECT webhook_endpoint_id, plain_secret, sealed_secret FROM webhook_endpoint \
             ORDER BY webhook_endpoint_id",
        )
        .fetch_all()
        .await?;
    let mut report = Resealed::default();
    let mut changes = Vec::new();
    for row in rows {
        let id = row.webhook_endpoint_id.0;
        match (row.plain_secret, row.sealed_secret) {
            (_, Some(sealed)) => {
                let secret = keys.open(id, &sealed)?;
                if Keyring::envelope_key_id(&sealed) == Some(first.as_str()) {
                    report.current += 1;
                } else {
                    changes.push((id, keys.seal(id, secret.expose_secret())?, sealed));
                    report.rekeyed += 1;
                }
            }
            (Some(plain), None) => {
                changes.push((id, keys.seal(id, &plain)?, plain));
                report.encrypted += 1;
            }
            (None, None) => {
                return Err(NotifyError::Corrupt(format!(
                    "webhook endpoint {id} has no secret"
                )))
            }
        }
    }
    if changes.is_empty() {
        return Ok(report);
    }
    let mut tx = db.begin_write().await?;
    for (id, sealed, was) in changes {
        // Compare-and-set: a secret rotated meanwhile is left as it is.
        tx.query(
            "UPDATE webhook_endpoint SET sealed_secret = $2, plain_secret = NULL \
             WHERE webhook_endpoint_id = $1 AND COALESCE(sealed_secret, plain_secret) = $3",
        )
        .bind(DbUuid(id))
        .bind(sealed)
        .bind(was)
        .execute()
        .await?;
    }
    tx.commit().await?;
    Ok(report)
}
