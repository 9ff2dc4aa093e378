//! Correcting or voiding recorded usage: a later event, never a mutation.
//!
//! Each usage event's corrections form their own stream
//! (`usage-correction-<event id>`), appended with its expected version, so
//! two corrections racing each other cannot both compute their delta from
//! the same "quantity in force": the loser gets a conflict and retries.

use ledger::event::{UsageCorrected, UsageVoided};
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StoreError, StreamId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::entries::Appended;
use super::fields::{self, QuantityText};
use super::{Actor, Ctx, Rejection};

/// Correct the quantity, or void the usage (`"action"`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum CorrectionRequest {
    /// Replace the usage's quantity.
    Correct {
        quantity: QuantityText,
        /// Why (support will read it).
        #[schema(
            min_length = 1,
            max_length = 500,
            example = "meter double-counted a restart",
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )]
        reason: String,
    },
    /// Cancel the usage.
    Void {
        #[schema(
            min_length = 1,
            max_length = 500,
            example = "test traffic",
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )]
        reason: String,
    },
}

pub async fn correct(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org: &OrgId,
    event_id: Uuid,
    request: CorrectionRequest,
) -> Result<Appended, Rejection> {
    let reason = match &request {
        CorrectionRequest::Correct { reason, .. } | CorrectionRequest::Void { reason } => {
            fields::text("reason", reason, 500)?
        }
    };
    let original = ctx.store.event_by_id(event_id).await?;
    let (occurred_at, recorded) = match original.as_ref().map(|e| (e, e.decode())) {
        Some((e, Ok(LedgerEvent::UsageRecorded(u)))) if &u.org_id == org => (e.occurred_at, u),
        _ => {
            return Err(Rejection::NotFound(format!(
                "organization `{org}` has no usage event {event_id}"
            )))
        }
    };
    let stream = StreamId::new(format!("usage-correction-{event_id}"))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let history = ctx.store.read_stream(&stream, 1, 10_000).await?;
    let version = history.last().map_or(0, |e| e.stream_version);
    let previous = match history.last().map(|e| e.decode()) {
        None => recorded.quantity,
        Some(Ok(LedgerEvent::UsageCorrected(c))) => c.quantity,
        Some(Ok(LedgerEvent::UsageVoided(_))) => {
            return Err(Rejection::Conflict {
                message: format!("usage event {event_id} is already voided"),
                field: None,
            })
        }
        Some(_) => return Err(StoreError::Corrupt(format!("unexpected event in {stream}")).into()),
    };
    let event = match request {
        CorrectionRequest::Correct { quantity, .. } => {
            LedgerEvent::UsageCorrected(UsageCorrected {
                org_id: org.clone(),
                usage_event_id: event_id,
                meter: recorded.meter.clone(),
                usage_occurred_at: occurred_at,
                previous_quantity: previous,
                quantity: quantity.value(),
                reason,
            })
        }
        CorrectionRequest::Void { .. } => LedgerEvent::UsageVoided(UsageVoided {
            org_id: org.clone(),
            usage_event_id: event_id,
            meter: recorded.meter.clone(),
            usage_occurred_at: occurred_at,
            previous_quantity: previous,
            reason,
        }),
    };
    // The corrected usage's own time, so provenance and audit windows find
    // a usage event and its corrections together.
    let new = NewEvent::from_domain(&event, occurred_at)
        .map_err(|e| Rejection::invalid("body", e.to_string()))?
        .with_metadata(actor.metadata());
    match ctx
        .store
        .append(&stream, ExpectedVersion::Exact(version), vec![new])
        .await
    {
        Ok(outcome) => Ok(Appended {
            duplicate: false,
            position: outcome
                .results
                .first()
                .map(|r| r.global_position())
                .unwrap_or_default(),
            event,
        }),
        Err(StoreError::Conflict { .. }) => Err(Rejection::Conflict {
            message: format!(
                "usage event {event_id} was corrected at the same time; read it again and retry"
            ),
            field: None,
        }),
        Err(other) => Err(other.into()),
    }
}
