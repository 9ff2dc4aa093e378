//! Recording usage: one record or a batch, each checked against the
//! organization and the catalog, duplicates recognised by their key.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger::event::{UsageRecorded, UsageWindow};
use ledger::money::{Quantity, MAX_QUANTITY};
use ledger::{AppendResult, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamAppend, StreamId};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::fields::{self, FieldError, QuantityText};
use super::{within, Actor, Ctx, Rejection, MAX_FUTURE};

/// Most attributes one record may carry.
pub const MAX_ATTRIBUTES: usize = 32;

/// A quantity as a decimal string, or as a JSON number taken exactly as
/// written (never through a float).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantityValue(pub Quantity);

impl<'de> Deserialize<'de> for QuantityValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        let invalid = |m: String| serde::de::Error::custom(m);
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::String(s)) => QuantityText::parse("quantity", &s)
                .map(|q| Self(q.value()))
                .map_err(|e| invalid(e.message)),
            Ok(serde_json::Value::Number(_)) => text
                .parse::<Quantity>()
                .map(Self)
                .map_err(|e| invalid(format!("quantity: {e}"))),
            _ => Err(invalid(
                "quantity must be a decimal string such as \"12.5\" or a JSON number".to_owned(),
            )),
        }
    }
}

impl PartialSchema for QuantityValue {
    fn schema() -> RefOr<Schema> {
        let number = ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .maximum(Some(MAX_QUANTITY.mantissa() as f64))
            .description(Some(
                "A JSON number, taken exactly as written (at most 12 decimal places).",
            ))
            .build();
        OneOfBuilder::new()
            .item(QuantityText::schema())
            .item(number)
            .description(Some(
                "A non-negative quantity up to 10^15: a decimal string, or a JSON number.",
            ))
            .into()
    }
}

impl ToSchema for QuantityValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("QuantityValue")
    }
}

/// One usage record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    /// The organization (registered with `POST /v1/organizations`).
    #[schema(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    pub org_id: String,
    /// The meter (priced with `POST /v1/prices`).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9_-]+$",
        example = "cpu_seconds"
    )]
    pub meter: String,
    pub quantity: QuantityValue,
    /// When it happened: from the organization's billing anchor to 24 h from now.
    #[schema(example = "2026-11-21T10:00:00Z")]
    pub occurred_at: DateTime<Utc>,
    /// Makes a retry safe: a repeated key stores nothing and is reported as a duplicate.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$",
        example = "flyd-7f3a-0001"
    )]
    pub idempotency_key: String,
    /// The interval the measurement covers, when the source knows it.
    #[schema(value_type = Option<UsageWindowBody>)]
    pub window: Option<UsageWindow>,
    /// What sent it (default `api`).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[!-~]+$",
        example = "flyd"
    )]
    pub source: Option<String>,
    /// Dimensions such as app and region: at most 32, keys up to 64 and values up to 256 characters.
    #[serde(default)]
    #[schema(schema_with = attributes_schema)]
    pub attributes: BTreeMap<String, String>,
}

/// Up to 32 attributes: keys 1 to 64 printable ASCII characters, values up
/// to 256 characters without control characters.
fn attributes_schema() -> Schema {
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(256))
        .pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f]*$"));
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(fields::KEY));
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(MAX_ATTRIBUTES))
            .property_names(Some(key))
            .additional_properties(Some(value))
            .examples([serde_json::json!({"app": "web", "region": "ord"})])
            .build(),
    )
}

/// The interval a measurement covers (`start` ≤ `end`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageWindowBody {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Accepted,
    Duplicate,
    Rejected,
}

/// One record's result, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    pub status: ItemStatus,
    /// The stored event (for a duplicate: the one holding the key).
    pub event_id: Option<Uuid>,
    pub position: Option<i64>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The field at fault, when there is one.
    pub field: Option<String>,
}

impl ItemResult {
    pub fn rejected(index: usize, field: Option<String>, reason: String) -> Self {
        Self {
            index,
            status: ItemStatus::Rejected,
            event_id: None,
            position: None,
            reason: Some(reason),
            field,
        }
    }
}

/// A batch's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recorded {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Whether anything was stored (false when an atomic batch had a rejection).
    pub stored: bool,
    /// The highest position the batch stored or named (read your writes with `?min_position=`).
    pub position: Option<i64>,
    pub results: Vec<ItemResult>,
}

/// Check one record: the organization and meter exist, every field obeys
/// its rule, the time is inside the organization's life.
pub async fn check(ctx: &Ctx<'_>, record: UsageRecord) -> Result<(OrgId, NewEvent), Rejection> {
    let org = fields::org_id("org_id", &record.org_id)?;
    fields::plain_name("meter", &record.meter, 64)?;
    fields::key("idempotency_key", &record.idempotency_key, 255)?;
    let source = match record.source {
        Some(source) => {
            fields::key("source", &source, 64)?;
            source
        }
        None => "api".to_owned(),
    };
    if record.attributes.len() > MAX_ATTRIBUTES {
        return Err(Rejection::invalid(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for (k, v) in &record.attributes {
        fields::key("attributes", k, 64)?;
        if v.chars().count() > 256 || v.chars().any(char::is_control) {
            return Err(Rejection::invalid(
                format!("attributes.{k}"),
                "attribute values are up to 256 characters without control characters",
            ));
        }
    }
    let (from, to) = (ctx.registered_anchor(&org).await?, ctx.now + MAX_FUTURE);
    let anchor = "the organization's billing anchor";
    within(
        "occurred_at",
        record.occurred_at,
        from,
        to,
        anchor,
        "24 hours from now",
    )?;
    if let Some(w) = record.window {
        within(
            "window.start",
            w.start,
            from,
            to,
            anchor,
            "24 hours from now",
        )?;
        within("window.end", w.end, from, to, anchor, "24 hours from now")?;
        if w.start > w.end {
            return Err(Rejection::invalid(
                "window",
                "window.start must not be after window.end",
            ));
        }
    }
    if !ctx.directory.has_meter(ctx.store, &record.meter).await? {
        return Err(Rejection::invalid(
            "meter",
            format!(
                "unknown meter `{}`: set a price for it with POST /v1/prices",
                record.meter
            ),
        ));
    }
    let event = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: record.meter,
        quantity: record.quantity.0,
        window: record.window,
        source,
        attributes: record.attributes,
    });
    let new = NewEvent::from_domain(&event, record.occurred_at)
        .map_err(|e| FieldError::new("record", e.to_string()))?
        .with_idempotency_key(record.idempotency_key);
    Ok((org, new))
}

/// Record a batch: each item already parsed (or refused with its reason).
/// Accepted items are appended in one transaction; with `atomic`, one
/// rejection stores nothing.
pub async fn record(
    ctx: &Ctx<'_>,
    actor: &Actor,
    items: Vec<Result<UsageRecord, FieldError>>,
    atomic: bool,
) -> Result<Recorded, Rejection> {
    let meta = actor.metadata();
    let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
    let mut by_org: BTreeMap<OrgId, Vec<(usize, NewEvent)>> = BTreeMap::new();
    for (index, item) in items.into_iter().enumerate() {
        let checked = match item {
            Ok(record) => check(ctx, record).await,
            Err(e) => Err(Rejection::Invalid(e)),
        };
        match checked {
            Ok((org, event)) => by_org
                .entry(org)
                .or_default()
                .push((index, event.with_metadata(meta.clone()))),
            Err(Rejection::Store(e)) => return Err(Rejection::Store(e)),
            Err(Rejection::Invalid(e)) => {
                results[index] = Some(ItemResult::rejected(index, Some(e.field), e.message))
            }
            Err(other) => {
                results[index] = Some(ItemResult::rejected(index, None, other.to_string()))
            }
        }
    }
    let rejected = results.iter().filter(|r| r.is_some()).count();
    if atomic && rejected > 0 {
        return Ok(Recorded {
            accepted: 0,
            duplicates: 0,
            rejected,
            stored: false,
            position: None,
            results: results.into_iter().flatten().collect(),
        });
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
        ctx.store.append_batch(appends).await?
    };
    let (mut accepted, mut duplicates, mut position) = (0, 0, None::<i64>);
    for (outcome, indices) in outcomes.iter().zip(&order) {
        for (result, &index) in outcome.results.iter().zip(indices) {
            position = position.max(Some(result.global_position()));
            let (status, event_id) = match result {
                AppendResult::Appended { event_id, .. } => {
                    accepted += 1;
                    (ItemStatus::Accepted, *event_id)
                }
                AppendResult::Duplicate { event_id, .. } => {
                    duplicates += 1;
                    (ItemStatus::Duplicate, *event_id)
                }
            };
            results[index] = Some(ItemResult {
                index,
                status,
                event_id: Some(event_id),
                position: Some(result.global_position()),
                reason: None,
                field: None,
            });
        }
    }
    Ok(Recorded {
        accepted,
        duplicates,
        rejected,
        stored: accepted > 0,
        position,
        results: results.into_iter().flatten().collect(),
    })
}
