//! Webhook endpoints: the rules a registration or change obeys, for the
//! HTTP API (admin) and anything else that registers receivers.
//!
//! - the URL is `http://` or `https://` with a host, at most 2,000
//!   characters, and its host is in the allow-list when one is configured
//!   (`BILLING_WEBHOOK_ALLOWED_HOSTS`);
//! - 1 to 5 distinct event types;
//! - a description of at most 500 characters;
//! - the secret (`whsec_` + 32 random bytes in base64) is generated here and
//!   returned once, at creation or rotation, and stored only encrypted
//!   under the keyring (`WEBHOOK_SECRET_KEY`).

use notifications::webhooks::dispatch::check_url;
use notifications::webhooks::endpoints::{self, Endpoint, EndpointChange, NewEndpoint};
use notifications::webhooks::sealing::Keyring;
use notifications::webhooks::signing::new_secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Ctx, FieldError, Rejection};

/// What an endpoint can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum WebhookEventType {
    #[serde(rename = "alert.triggered")]
    AlertTriggered,
    #[serde(rename = "alert.resolved")]
    AlertResolved,
    #[serde(rename = "invoice.finalized")]
    InvoiceFinalized,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "invoice.payment_failed")]
    InvoicePaymentFailed,
}

impl WebhookEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlertTriggered => "alert.triggered",
            Self::AlertResolved => "alert.resolved",
            Self::InvoiceFinalized => "invoice.finalized",
            Self::InvoicePaid => "invoice.paid",
            Self::InvoicePaymentFailed => "invoice.payment_failed",
        }
    }
}

/// A receiver to register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    /// Where deliveries are POSTed: http(s) only.
    #[schema(
        min_length = 8,
        max_length = 2000,
        pattern = "^https?://[^\\s/?#]+[^\\s]*$",
        example = "https://platform.example/hooks/billing"
    )]
    pub url: String,
    /// 1 to 5 distinct event types.
    #[schema(min_items = 1, max_items = 5)]
    pub event_types: Vec<WebhookEventType>,
    /// For operators; at most 500 characters.
    #[schema(max_length = 500, example = "platform budget alerts")]
    pub description: Option<String>,
}

/// Fields to change (absent: unchanged).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointChange {
    #[schema(
        min_length = 8,
        max_length = 2000,
        pattern = "^https?://[^\\s/?#]+[^\\s]*$"
    )]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 5)]
    pub event_types: Option<Vec<WebhookEventType>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// `false` disables the endpoint (nothing is delivered); `true`
    /// enables it again (pending messages are then delivered).
    pub enabled: Option<bool>,
}

fn url(raw: &str, allowed: Option<&[String]>) -> Result<String, FieldError> {
    if raw.chars().count() > 2_000 {
        return Err(FieldError::new("url", "url is at most 2000 characters"));
    }
    check_url(raw, allowed).map_err(|m| FieldError::new("url", m))?;
    Ok(raw.to_owned())
}

fn event_types(given: &[WebhookEventType]) -> Result<Vec<String>, FieldError> {
    if given.is_empty() || given.len() > 5 {
        return Err(FieldError::new("event_types", "give 1 to 5 event types"));
    }
    let mut out: Vec<String> = Vec::new();
    for t in given {
        if out.iter().any(|o| o == t.as_str()) {
            return Err(FieldError::new(
                "event_types",
                format!("event type {} is given twice", t.as_str()),
            ));
        }
        out.push(t.as_str().to_owned());
    }
    Ok(out)
}

fn description(given: Option<&str>) -> Result<Option<String>, FieldError> {
    match given {
        None => Ok(None),
        Some(d) if d.chars().count() > 500 || d.chars().any(char::is_control) => {
            Err(FieldError::new(
                "description",
                "description is at most 500 characters, no control characters",
            ))
        }
        Some(d) => Ok(Some(d.to_owned())),
    }
}

fn store(e: notifications::NotifyError) -> Rejection {
    match e {
        notifications::NotifyError::Store(s) => Rejection::Store(s),
        other => Rejection::Store(ledger::StoreError::Corrupt(other.to_string())),
    }
}

/// Register an endpoint; returns it and its secret (shown this once).
pub async fn create(
    ctx: &Ctx<'_>,
    db: &ledger::db::Database,
    keys: &Keyring,
    allowed: Option<&[String]>,
    body: NewWebhookEndpoint,
) -> Result<(Endpoint, String), Rejection> {
    let new = NewEndpoint {
        url: url(&body.url, allowed)?,
        description: description(body.description.as_deref())?.unwrap_or_default(),
        event_types: event_types(&body.event_types)?,
        secret: new_secret(),
        after_position: ctx.store.head_position().await?,
    };
    let endpoint = endpoints::create(db, keys, &new, ctx.now.timestamp_millis())
        .await
        .map_err(store)?;
    Ok((endpoint, new.secret))
}

fn missing(id: Uuid) -> Rejection {
    Rejection::NotFound(format!("no webhook endpoint `{id}`"))
}

/// Change an endpoint.
pub async fn update(
    ctx: &Ctx<'_>,
    db: &ledger::db::Database,
    allowed: Option<&[String]>,
    id: Uuid,
    body: WebhookEndpointChange,
) -> Result<Endpoint, Rejection> {
    let change = EndpointChange {
        url: body.url.as_deref().map(|u| url(u, allowed)).transpose()?,
        description: description(body.description.as_deref())?,
        event_types: body.event_types.as_deref().map(event_types).transpose()?,
        enabled: body.enabled,
    };
    endpoints::update(db, id, &change, ctx.now.timestamp_millis())
        .await
        .map_err(store)?
        .ok_or_else(|| missing(id))
}

/// A new secret for an endpoint (the old one stops signing at once).
pub async fn rotate(
    ctx: &Ctx<'_>,
    db: &ledger::db::Database,
    keys: &Keyring,
    id: Uuid,
) -> Result<String, Rejection> {
    let secret = new_secret();
    if endpoints::rotate(db, keys, id, &secret, ctx.now.timestamp_millis())
        .await
        .map_err(store)?
    {
        Ok(secret)
    } else {
        Err(missing(id))
    }
}

/// Delete an endpoint with its messages and delivery log.
pub async fn delete(db: &ledger::db::Database, id: Uuid) -> Result<(), Rejection> {
    if endpoints::delete(db, id).await.map_err(store)? {
        Ok(())
    } else {
        Err(missing(id))
    }
}

/// Make one message (by `webhook-id`) due again now.
pub async fn redeliver(
    ctx: &Ctx<'_>,
    db: &ledger::db::Database,
    id: Uuid,
    webhook_id: &str,
) -> Result<(), Rejection> {
    endpoints::get(db, id)
        .await
        .map_err(store)?
        .ok_or_else(|| missing(id))?;
    if notifications::webhooks::messages::redeliver(db, id, webhook_id, ctx.now.timestamp_millis())
        .await
        .map_err(store)?
    {
        Ok(())
    } else {
        Err(Rejection::NotFound(format!(
            "endpoint `{id}` has no message `{webhook_id}`"
        )))
    }
}

/// Deliver again every subscribed event after `after_position`.
pub async fn replay(
    ctx: &Ctx<'_>,
    db: &ledger::db::Database,
    id: Uuid,
    after_position: i64,
) -> Result<u64, Rejection> {
    if after_position < 0 {
        return Err(Rejection::invalid(
            "after_position",
            "after_position must not be negative",
        ));
    }
    notifications::webhooks::messages::replay(
        db,
        ctx.store,
        id,
        after_position,
        ctx.now.timestamp_millis(),
    )
    .await
    .map_err(store)?
    .ok_or_else(|| missing(id))
}
