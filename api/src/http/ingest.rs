//! Ingestion: batched usage with per-item results; charges, credits and
//! subscriptions for one organization.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ledger::event::{
    ChargeAdded, CreditGranted, SubscriptionCancelled, SubscriptionChanged, SubscriptionStarted,
    UsageRecorded, UsageWindow,
};
use ledger::money::{Amount, Quantity};
use ledger::{AppendResult, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamAppend, StreamId};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::catalog::metadata;
use super::error::ApiError;
use super::extract::{org_id, ApiJson, ApiQuery, Auth};
use super::AppState;
use crate::tokens::Role;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// Up to 5,000 records: `{org_id, meter, quantity, occurred_at, idempotency_key, window?, source?, attributes?}`.
    #[schema(value_type = Vec<Object>)]
    records: Vec<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageRecord {
    org_id: String,
    meter: String,
    /// A decimal string, or a JSON number taken exactly as written.
    quantity: Box<RawValue>,
    /// RFC 3339, parsed by us so a bad value names the field.
    occurred_at: String,
    idempotency_key: String,
    window: Option<UsageWindow>,
    source: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IngestOptions {
    /// Reject the whole batch (store nothing) if any record is rejected.
    #[serde(default)]
    atomic: bool,
}

/// Usage may not claim to happen more than this far ahead of our clock.
const MAX_FUTURE: TimeDelta = TimeDelta::hours(24);

fn quantity(raw: &RawValue) -> Result<Quantity, String> {
    let text = raw.get().trim();
    let unquoted = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => s,
        Ok(Value::Number(_)) => text.to_owned(),
        _ => {
            return Err(
                "quantity must be a decimal string such as \"12.5\" (or an exact JSON number)"
                    .into(),
            )
        }
    };
    unquoted
        .parse::<Quantity>()
        .map_err(|e| format!("quantity: {e}"))
}

fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Validate one record into an org and its event, or say why not.
async fn check(
    state: &AppState,
    raw: &RawValue,
    now: DateTime<Utc>,
) -> Result<(OrgId, NewEvent), String> {
    let record: UsageRecord = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let org = OrgId::new(&record.org_id).map_err(|e| e.to_string())?;
    let quantity = quantity(&record.quantity)?;
    let occurred_at = DateTime::parse_from_rfc3339(&record.occurred_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "occurred_at `{}` is not an RFC 3339 time such as 2026-11-21T10:00:00Z",
                record.occurred_at
            )
        })?;
    if occurred_at > now + MAX_FUTURE {
        return Err(format!(
            "occurred_at {occurred_at} is more than 24 hours in the future"
        ));
    }
    if occurred_at < earliest() {
        return Err(format!("occurred_at {occurred_at} is before 2000-01-01"));
    }
    let key = &record.idempotency_key;
    if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
        return Err(
            "idempotency_key must be 1 to 255 characters without control characters".into(),
        );
    }
    if record.meter.is_empty() || record.meter.len() > 64 {
        return Err("meter must be 1 to 64 characters".into());
    }
    if let Some(w) = record.window {
        if w.start > w.end {
            return Err("window.start must not be after window.end".into());
        }
    }
    if record.attributes.len() > 32
        || record
            .attributes
            .iter()
            .any(|(k, v)| k.len() > 64 || v.len() > 256 || k.contains('\0') || v.contains('\0'))
    {
        return Err("attributes: at most 32, keys ≤ 64 and values ≤ 256 characters".into());
    }
    let store = state.store.as_ref();
    if state
        .directory
        .org(store, &org)
        .await
        .map_err(|e| format!("lookup failed: {e}"))?
        .is_none()
    {
        return Err(format!(
            "unknown organization `{org}`: register it with POST /v1/organizations"
        ));
    }
    if !state
        .directory
        .has_meter(store, &record.meter)
        .await
        .map_err(|e| format!("lookup failed: {e}"))?
    {
        return Err(format!(
            "unknown meter `{}`: set a price for it with POST /v1/prices",
            record.meter
        ));
    }
    let source = record.source.unwrap_or_else(|| "api".to_owned());
    if source.is_empty() || source.len() > 64 || source.contains('\0') {
        return Err("source must be 1 to 64 characters".into());
    }
    let event = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: record.meter,
        quantity,
        window: record.window,
        source,
        attributes: record.attributes,
    });
    let new = NewEvent::from_domain(&event, occurred_at)
        .map_err(|e| e.to_string())?
        .with_idempotency_key(record.idempotency_key);
    Ok((org, new))
}

/// `POST /v1/usage` (ingest, admin).
#[utoipa::path(
    post,
    path = "/v1/usage",
    tag = "ingestion",
    summary = "Append a batch of usage records (ingest)",
    params(IngestOptions),
    request_body = UsageBatch,
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn post_usage(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(options): ApiQuery<IngestOptions>,
    ApiJson(batch): ApiJson<UsageBatch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Ingest])?;
    let max = state.config.max_batch;
    if batch.records.is_empty() || batch.records.len() > max {
        return Err(ApiError::invalid(
            "records",
            format!("send 1 to {max} records per batch"),
        ));
    }
    let now = Utc::now();
    let meta = metadata(principal, "/v1/usage");
    let mut results: Vec<Value> = vec![Value::Null; batch.records.len()];
    let mut by_org: BTreeMap<OrgId, Vec<(usize, NewEvent)>> = BTreeMap::new();
    for (index, raw) in batch.records.iter().enumerate() {
        match check(&state, raw, now).await {
            Ok((org, event)) => by_org
                .entry(org)
                .or_default()
                .push((index, event.with_metadata(meta.clone()))),
            Err(reason) => {
                results[index] = json!({"index": index, "status": "rejected", "reason": reason})
            }
        }
    }
    let rejected = results.iter().filter(|r| !r.is_null()).count();
    if options.atomic && rejected > 0 {
        state.metrics.usage("rejected", rejected as u64);
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"stored": false, "rejected": rejected, "results": results})),
        ));
    }
    let mut order: Vec<Vec<usize>> = Vec::with_capacity(by_org.len());
    let appends: Vec<StreamAppend> = by_org
        .into_iter()
        .map(|(org, items)| {
            let (indices, events): (Vec<usize>, Vec<NewEvent>) = items.into_iter().unzip();
            order.push(indices);
            StreamAppend {
                stream_id: StreamId::usage(&org),
                expected: ExpectedVersion::Any,
                events,
            }
        })
        .collect();
    let outcomes = if appends.is_empty() {
        Vec::new()
    } else {
        state.store.append_batch(appends).await?
    };
    let (mut accepted, mut duplicates, mut position) = (0, 0, None::<i64>);
    for (outcome, indices) in outcomes.iter().zip(&order) {
        for (result, &index) in outcome.results.iter().zip(indices) {
            position = position.max(Some(result.global_position()));
            results[index] = match result {
                AppendResult::Appended {
                    event_id,
                    global_position,
                    ..
                } => {
                    accepted += 1;
                    json!({"index": index, "status": "accepted", "event_id": event_id, "position": global_position})
                }
                AppendResult::Duplicate {
                    event_id,
                    global_position,
                    ..
                } => {
                    duplicates += 1;
                    json!({"index": index, "status": "duplicate", "event_id": event_id, "position": global_position})
                }
            };
        }
    }
    state.metrics.usage("accepted", accepted);
    state.metrics.usage("duplicate", duplicates);
    state.metrics.usage("rejected", rejected as u64);
    Ok((
        StatusCode::OK,
        Json(json!({
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected,
            "position": position,
            "results": results,
        })),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyEntry {
    id: String,
    description: String,
    /// Positive decimal string in the organization's currency.
    amount: String,
    /// The period it belongs to; default now.
    occurred_at: Option<DateTime<Utc>>,
}

async fn registered(state: &AppState, raw: &str) -> Result<OrgId, ApiError> {
    let org = org_id(raw, "org_id")?;
    match state.directory.org(state.store.as_ref(), &org).await? {
        Some(_) => Ok(org),
        None => Err(ApiError::not_found(format!(
            "organization `{org}` is not registered"
        ))),
    }
}

async fn append_one(
    state: &AppState,
    stream: StreamId,
    event: LedgerEvent,
    at: DateTime<Utc>,
    key: String,
    meta: ledger::EventMetadata,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = NewEvent::from_domain(&event, at)
        .map_err(ApiError::internal)?
        .with_metadata(meta)
        .with_idempotency_key(key);
    let outcome = state
        .store
        .append(&stream, ExpectedVersion::Any, vec![new])
        .await?;
    let Some(result) = outcome.results.first() else {
        return Err(ApiError::internal("append reported no result"));
    };
    let (status, label) = if result.is_duplicate() {
        (StatusCode::OK, "duplicate")
    } else {
        (StatusCode::CREATED, "accepted")
    };
    Ok((
        status,
        Json(json!({"status": label, "position": result.global_position(), "event": event})),
    ))
}

fn checked_entry(entry: &MoneyEntry) -> Result<(Amount, DateTime<Utc>), ApiError> {
    if entry.id.is_empty() || entry.id.len() > 100 || entry.id.chars().any(char::is_control) {
        return Err(ApiError::invalid("id", "id must be 1 to 100 characters"));
    }
    if entry.description.trim().is_empty() || entry.description.len() > 500 {
        return Err(ApiError::invalid(
            "description",
            "description must be 1 to 500 characters",
        ));
    }
    let value = entry
        .amount
        .parse::<Amount>()
        .map_err(|e| ApiError::invalid("amount", e.to_string()))?;
    let amount =
        Amount::positive(value.value()).map_err(|e| ApiError::invalid("amount", e.to_string()))?;
    if amount.value().is_zero() {
        return Err(ApiError::invalid("amount", "amount must be positive"));
    }
    let at = entry.occurred_at.unwrap_or_else(Utc::now);
    if at > Utc::now() + MAX_FUTURE || at < earliest() {
        return Err(ApiError::invalid(
            "occurred_at",
            "occurred_at is out of range",
        ));
    }
    Ok((amount, at))
}

/// `POST /v1/organizations/{org_id}/charges` (admin). Retrying with the
/// same `id` stores nothing twice.
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/charges",
    tag = "ingestion",
    summary = "Add a one-off charge (admin)",
    params(("org_id" = String, Path, description = "The platform's organization id")),
    request_body = MoneyEntry,
    responses((status = 201, description = "Stored (200 if a duplicate)", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn post_charge(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(entry): ApiJson<MoneyEntry>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    money_entry(&state, &auth, &raw, entry, "charge").await
}

/// `POST /v1/organizations/{org_id}/credits` (admin).
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/credits",
    tag = "ingestion",
    summary = "Grant a credit (admin)",
    params(("org_id" = String, Path, description = "The platform's organization id")),
    request_body = MoneyEntry,
    responses((status = 201, description = "Stored (200 if a duplicate)", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn post_credit(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(entry): ApiJson<MoneyEntry>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    money_entry(&state, &auth, &raw, entry, "credit").await
}

/// A charge or a credit for one organization; the entry's id is the
/// idempotency key, so a retry stores nothing twice.
async fn money_entry(
    state: &AppState,
    auth: &Auth,
    raw: &str,
    entry: MoneyEntry,
    kind: &'static str,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = registered(state, raw).await?;
    let (amount, at) = checked_entry(&entry)?;
    let key = format!("{kind}:{org}:{}", entry.id);
    let (org_id, description) = (org.clone(), entry.description);
    let event = if kind == "charge" {
        LedgerEvent::ChargeAdded(ChargeAdded {
            org_id,
            charge_id: entry.id,
            description,
            amount,
        })
    } else {
        LedgerEvent::CreditGranted(CreditGranted {
            org_id,
            credit_id: entry.id,
            description,
            amount,
        })
    };
    let meta = metadata(principal, &format!("/v1/{kind}s"));
    append_one(state, StreamId::organization(&org), event, at, key, meta).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubscriptionRequest {
    Start {
        subscription_id: String,
        plan: String,
        monthly_fee: String,
        effective_at: Option<DateTime<Utc>>,
    },
    Change {
        subscription_id: String,
        plan: String,
        monthly_fee: String,
        effective_at: Option<DateTime<Utc>>,
    },
    Cancel {
        subscription_id: String,
        effective_at: Option<DateTime<Utc>>,
    },
}

/// `POST /v1/organizations/{org_id}/subscriptions` (admin): start, change
/// or cancel a plan (`"action"`), effective now or at `effective_at`.
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/subscriptions",
    tag = "ingestion",
    summary = "Start, change or cancel a plan (admin)",
    params(("org_id" = String, Path, description = "The platform's organization id")),
    request_body = SubscriptionRequest,
    responses((status = 201, description = "Stored (200 if a duplicate)", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn post_subscription(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(request): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = registered(&state, &raw).await?;
    let fee = |raw: &str| {
        raw.parse::<Amount>()
            .and_then(|a| Amount::positive(a.value()))
            .map_err(|e| ApiError::invalid("monthly_fee", e.to_string()))
    };
    let now = Utc::now();
    let (event, id, at) = match request {
        SubscriptionRequest::Start {
            subscription_id,
            plan,
            monthly_fee,
            effective_at,
        } => {
            let at = effective_at.unwrap_or(now);
            let e = SubscriptionStarted {
                org_id: org.clone(),
                subscription_id: subscription_id.clone(),
                plan,
                monthly_fee: fee(&monthly_fee)?,
                effective_at: at,
            };
            (LedgerEvent::SubscriptionStarted(e), subscription_id, at)
        }
        SubscriptionRequest::Change {
            subscription_id,
            plan,
            monthly_fee,
            effective_at,
        } => {
            let at = effective_at.unwrap_or(now);
            let e = SubscriptionChanged {
                org_id: org.clone(),
                subscription_id: subscription_id.clone(),
                plan,
                monthly_fee: fee(&monthly_fee)?,
                effective_at: at,
            };
            (LedgerEvent::SubscriptionChanged(e), subscription_id, at)
        }
        SubscriptionRequest::Cancel {
            subscription_id,
            effective_at,
        } => {
            let at = effective_at.unwrap_or(now);
            let e = SubscriptionCancelled {
                org_id: org.clone(),
                subscription_id: subscription_id.clone(),
                effective_at: at,
            };
            (LedgerEvent::SubscriptionCancelled(e), subscription_id, at)
        }
    };
    if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "subscription_id",
            "subscription_id must be 1 to 100 characters",
        ));
    }
    // A subscription starts once and is cancelled once, so a retry of
    // either is a duplicate whatever its (defaulted) time. A change is
    // identified by what it changes to and when.
    let key = match &event {
        LedgerEvent::SubscriptionChanged(c) => format!(
            "subscription:{org}:{id}:changed:{}:{}:{}",
            c.plan,
            c.monthly_fee,
            at.timestamp_micros()
        ),
        other => format!("subscription:{org}:{id}:{}", other.event_type()),
    };
    append_one(
        &state,
        StreamId::organization(&org),
        event,
        now,
        key,
        metadata(principal, "/v1/subscriptions"),
    )
    .await
}
