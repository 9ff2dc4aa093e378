//! Registering an organization: its creation and its first billing period,
//! in one atomic append.

use chrono::{DateTime, DurationRound, TimeDelta};
use ledger::event::{InvoiceKey, InvoicePeriodOpened, OrganizationCreated};
use ledger::money::Currency;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, StoreError, StreamAppend, StreamId};
use projections::period::period_containing;
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields::{self, CurrencyCode, FieldError};
use super::{earliest, within, Actor, Ctx, Rejection};

/// A new organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// The platform's own id of the organization.
    #[schema(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    pub org_id: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "Acme Inc.",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// ISO 4217 code; every invoice of the organization is in it.
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// Start of the first billing period (2000-01-01 to now); default: today 00:00 UTC.
    pub billing_anchor: Option<DateTime<chrono::Utc>>,
    /// The Stripe customer to bill, if it exists already (`cus_…`).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$",
        example = "cus_NffrFeUfNV2Hib"
    )]
    pub stripe_customer_id: Option<String>,
}

/// What registering stored.
#[derive(Debug, Clone)]
pub struct Registered {
    pub organization: OrganizationCreated,
    pub position: i64,
}

/// Parse an ISO 4217 code, exactly as the standard writes it (`USD`).
pub fn currency(field: &str, raw: &str) -> Result<Currency, FieldError> {
    let refuse = || {
        FieldError::new(
            field,
            format!("`{raw}` is not an ISO 4217 currency code such as USD"),
        )
    };
    if raw.len() != 3 || !raw.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse());
    }
    raw.parse().map_err(|_| refuse())
}

pub async fn register(
    ctx: &Ctx<'_>,
    actor: &Actor,
    body: NewOrganization,
) -> Result<Registered, Rejection> {
    let org = fields::org_id("org_id", &body.org_id)?;
    let name = fields::text("name", &body.name, 200)?;
    let currency = currency("currency", &body.currency)?;
    if let Some(id) = &body.stripe_customer_id {
        fields::key("stripe_customer_id", id, 255)?;
    }
    let now = ctx.now;
    let anchor = match body.billing_anchor {
        Some(anchor) => {
            within(
                "billing_anchor",
                anchor,
                earliest(),
                now,
                "2000-01-01",
                "now",
            )?;
            anchor
        }
        None => now.duration_trunc(TimeDelta::days(1)).unwrap_or(now),
    };
    let created = OrganizationCreated {
        org_id: org.clone(),
        name,
        currency,
        billing_anchor: anchor,
        stripe_customer_id: body.stripe_customer_id,
    };
    let period = period_containing(anchor, now);
    let opened = InvoicePeriodOpened {
        invoice: InvoiceKey {
            org_id: org.clone(),
            period_start: period.start,
        },
        period_end: period.end,
    };
    let meta = actor.metadata();
    let encode = |e: serde_json::Error| Rejection::invalid("organization", e.to_string());
    let created_event =
        NewEvent::from_domain(&LedgerEvent::OrganizationCreated(created.clone()), now)
            .map_err(encode)?
            .with_metadata(meta.clone());
    let opened_event = NewEvent::from_domain(&LedgerEvent::InvoicePeriodOpened(opened), now)
        .map_err(encode)?
        .with_metadata(meta)
        .with_idempotency_key(format!(
            "invoice-opened:{}",
            StreamId::invoice(&org, period.start)
        ));
    let appended = ctx
        .store
        .append_batch(vec![
            StreamAppend {
                stream_id: StreamId::organization(&org),
                expected: ExpectedVersion::NoStream,
                events: vec![created_event],
            },
            StreamAppend {
                stream_id: StreamId::invoice(&org, period.start),
                expected: ExpectedVersion::Any,
                events: vec![opened_event],
            },
        ])
        .await;
    match appended {
        Ok(outcomes) => Ok(Registered {
            organization: created,
            position: outcomes
                .iter()
                .flat_map(|o| &o.results)
                .map(|r| r.global_position())
                .max()
                .unwrap_or_default(),
        }),
        Err(StoreError::Conflict { .. }) => Err(Rejection::Conflict {
            message: format!("organization `{org}` is already registered"),
            field: Some("org_id".into()),
        }),
        Err(other) => Err(other.into()),
    }
}
