//! Plans: start, change and cancel a subscription, effective now or at a
//! given time, each safe to retry.
//!
//! A subscription starts once and is cancelled once, so a retry of either
//! is a duplicate whatever its (defaulted) time. A change is identified by
//! what it changes to and when; without `effective_at`, a change to exactly
//! the plan and fee the subscription has is what it already is, so a retry
//! of a change that was stored stores nothing.

use chrono::{DateTime, Utc};
use ledger::event::{SubscriptionCancelled, SubscriptionChanged, SubscriptionStarted};
use ledger::money::Amount;
use ledger::{LedgerEvent, OrgId, StreamId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::entries::{append_once, Appended};
use super::fields::{self, FeeText};
use super::{within, Actor, Ctx, Rejection, MAX_SCHEDULE};

/// Start, change or cancel a plan (`"action"`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubscriptionRequest {
    Start {
        #[schema(
            min_length = 1,
            max_length = 100,
            pattern = "^[!-~]+$",
            example = "sub-acme-scale"
        )]
        subscription_id: String,
        #[schema(
            min_length = 1,
            max_length = 100,
            example = "scale",
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )]
        plan: String,
        monthly_fee: FeeText,
        /// From the organization's billing anchor to a year from now; default now.
        effective_at: Option<DateTime<Utc>>,
    },
    Change {
        #[schema(
            min_length = 1,
            max_length = 100,
            pattern = "^[!-~]+$",
            example = "sub-acme-scale"
        )]
        subscription_id: String,
        #[schema(
            min_length = 1,
            max_length = 100,
            example = "launch",
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )]
        plan: String,
        monthly_fee: FeeText,
        effective_at: Option<DateTime<Utc>>,
    },
    Cancel {
        #[schema(
            min_length = 1,
            max_length = 100,
            pattern = "^[!-~]+$",
            example = "sub-acme-scale"
        )]
        subscription_id: String,
        effective_at: Option<DateTime<Utc>>,
    },
}

/// A subscription's plan and fee now, from the organization's stream.
enum Current {
    NotStarted,
    Active {
        plan: String,
        fee: Amount,
        position: i64,
    },
    Cancelled,
}

async fn current(ctx: &Ctx<'_>, org: &OrgId, id: &str) -> Result<Current, Rejection> {
    let stream = StreamId::organization(org);
    let mut state = Current::NotStarted;
    let mut version = 1;
    loop {
        let page = ctx.store.read_stream(&stream, version, 1_000).await?;
        let Some(last) = page.last() else { break };
        version = last.stream_version + 1;
        for event in &page {
            match event.decode() {
                Ok(LedgerEvent::SubscriptionStarted(s)) if s.subscription_id == id => {
                    state = Current::Active {
                        plan: s.plan,
                        fee: s.monthly_fee,
                        position: event.global_position,
                    }
                }
                Ok(LedgerEvent::SubscriptionChanged(s)) if s.subscription_id == id => {
                    state = Current::Active {
                        plan: s.plan,
                        fee: s.monthly_fee,
                        position: event.global_position,
                    }
                }
                Ok(LedgerEvent::SubscriptionCancelled(s)) if s.subscription_id == id => {
                    state = Current::Cancelled
                }
                _ => {}
            }
        }
    }
    Ok(state)
}

pub async fn apply(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org: &OrgId,
    request: SubscriptionRequest,
) -> Result<Appended, Rejection> {
    let created = ctx.registered(org).await?;
    let now = ctx.now;
    let when = |at: Option<DateTime<Utc>>| {
        let at = at.unwrap_or(now);
        within(
            "effective_at",
            at,
            created.billing_anchor,
            now + MAX_SCHEDULE,
            "the organization's billing anchor",
            "a year from now",
        )?;
        Ok::<_, Rejection>(at)
    };
    let (event, key) = match request {
        SubscriptionRequest::Start {
            subscription_id,
            plan,
            monthly_fee,
            effective_at,
        } => {
            fields::key("subscription_id", &subscription_id, 100)?;
            let plan = fields::text("plan", &plan, 100)?;
            let at = when(effective_at)?;
            let key = format!("subscription:{org}:{subscription_id}:SubscriptionStarted");
            let event = LedgerEvent::SubscriptionStarted(SubscriptionStarted {
                org_id: org.clone(),
                subscription_id,
                plan,
                monthly_fee: monthly_fee.value(),
                effective_at: at,
            });
            (event, key)
        }
        SubscriptionRequest::Change {
            subscription_id,
            plan,
            monthly_fee,
            effective_at,
        } => {
            fields::key("subscription_id", &subscription_id, 100)?;
            let plan = fields::text("plan", &plan, 100)?;
            let fee = monthly_fee.value();
            let given = effective_at.is_some();
            let at = when(effective_at)?;
            let key = match current(ctx, org, &subscription_id).await? {
                Current::NotStarted => {
                    return Err(Rejection::NotFound(format!(
                    "organization `{org}` has no subscription `{subscription_id}`: start it first"
                )))
                }
                Current::Cancelled => {
                    return Err(Rejection::Conflict {
                        message: format!("subscription `{subscription_id}` is cancelled"),
                        field: Some("subscription_id".into()),
                    })
                }
                Current::Active {
                    plan: now_plan,
                    fee: now_fee,
                    position,
                } if !given && now_plan == plan && now_fee == fee => {
                    // Already so: a retry of this change (or a no-op); store nothing.
                    return Ok(Appended {
                        duplicate: true,
                        position,
                        event: LedgerEvent::SubscriptionChanged(SubscriptionChanged {
                            org_id: org.clone(),
                            subscription_id,
                            plan,
                            monthly_fee: fee,
                            effective_at: at,
                        }),
                    });
                }
                Current::Active { position, .. } if !given => {
                    format!("subscription:{org}:{subscription_id}:changed:{plan}:{fee}:after:{position}")
                }
                Current::Active { .. } => format!(
                    "subscription:{org}:{subscription_id}:changed:{plan}:{fee}:{}",
                    at.timestamp_micros()
                ),
            };
            let event = LedgerEvent::SubscriptionChanged(SubscriptionChanged {
                org_id: org.clone(),
                subscription_id,
                plan,
                monthly_fee: fee,
                effective_at: at,
            });
            (event, key)
        }
        SubscriptionRequest::Cancel {
            subscription_id,
            effective_at,
        } => {
            fields::key("subscription_id", &subscription_id, 100)?;
            let at = when(effective_at)?;
            let key = format!("subscription:{org}:{subscription_id}:SubscriptionCancelled");
            let event = LedgerEvent::SubscriptionCancelled(SubscriptionCancelled {
                org_id: org.clone(),
                subscription_id,
                effective_at: at,
            });
            (event, key)
        }
    };
    append_once(ctx, actor, org, event, now, super::event_key(key)).await
}
