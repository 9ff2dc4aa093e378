//! One-off charges and credits: an organization event each, keyed by the
//! caller's id so a retry stores nothing twice.

use chrono::{DateTime, Utc};
use ledger::event::{ChargeAdded, CreditGranted};
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields::{self, AmountText};
use super::{within, Actor, Ctx, Rejection, MAX_FUTURE};

/// A charge or a credit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyEntry {
    /// The caller's id of the entry: a retry with the same id stores nothing.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[!-~]+$",
        example = "ipv4-2026-11"
    )]
    pub id: String,
    /// What it is for, as the invoice line will say.
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "Dedicated IPv4 address",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub description: String,
    /// More than 0, in the organization's currency (rounded to its minor unit on the invoice).
    pub amount: AmountText,
    /// The moment it belongs to (its billing period): from the organization's
    /// billing anchor to 24 h from now; default now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Which kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Charge,
    Credit,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Credit => "credit",
        }
    }
}

/// One appended (or recognised) event.
#[derive(Debug, Clone)]
pub struct Appended {
    pub duplicate: bool,
    pub position: i64,
    pub event: LedgerEvent,
}

/// Append one organization event with `key`; a repeat reports a duplicate.
pub(super) async fn append_once(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org: &OrgId,
    event: LedgerEvent,
    at: DateTime<Utc>,
    key: String,
) -> Result<Appended, Rejection> {
    let new = NewEvent::from_domain(&event, at)
        .map_err(|e| Rejection::invalid("body", e.to_string()))?
        .with_metadata(actor.metadata())
        .with_idempotency_key(key);
    let outcome = ctx
        .store
        .append(
            &StreamId::organization(org),
            ExpectedVersion::Any,
            vec![new],
        )
        .await?;
    let result = outcome
        .results
        .first()
        .ok_or_else(|| ledger::StoreError::Corrupt("append reported no result".into()))?;
    Ok(Appended {
        duplicate: result.is_duplicate(),
        position: result.global_position(),
        event,
    })
}

pub async fn add(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org: &OrgId,
    kind: EntryKind,
    entry: MoneyEntry,
) -> Result<Appended, Rejection> {
    fields::key("id", &entry.id, 100)?;
    let description = fields::text("description", &entry.description, 500)?;
    let created = ctx.registered(org).await?;
    let at = entry.occurred_at.unwrap_or(ctx.now);
    within(
        "occurred_at",
        at,
        created.billing_anchor,
        ctx.now + MAX_FUTURE,
        "the organization's billing anchor",
        "24 hours from now",
    )?;
    let amount = entry.amount.value();
    let event = match kind {
        EntryKind::Charge => LedgerEvent::ChargeAdded(ChargeAdded {
            org_id: org.clone(),
            charge_id: entry.id.clone(),
            description,
            amount,
        }),
        EntryKind::Credit => LedgerEvent::CreditGranted(CreditGranted {
            org_id: org.clone(),
            credit_id: entry.id.clone(),
            description,
            amount,
        }),
    };
    let key = super::event_key(format!("{}:{org}:{}", kind.as_str(), entry.id));
    append_once(ctx, actor, org, event, at, key).await
}
