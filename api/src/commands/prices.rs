//! Setting a price: a catalog event, effective now or later (history is
//! never repriced).

use chrono::{DateTime, TimeDelta, Utc};
use ledger::event::PriceSet;
use ledger::pricing::PriceSpec;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, StreamId};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::fields::{self, CurrencyCode, FeeText, FieldError, QuantityText, UnitPriceText};
use super::organizations::currency;
use super::{within, Actor, Ctx, Rejection, MAX_SCHEDULE};

/// A catalog entry for a meter.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    /// Names the price; setting it again is a new version of it.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9_-]+$",
        example = "shared-cpu-1x"
    )]
    pub price_id: String,
    /// The meter usage records name.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9_-]+$",
        example = "shared_cpu_seconds"
    )]
    pub meter: String,
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// The unit, singular (`second`, `GB-hour`): invoice lines pluralise it.
    #[schema(
        min_length = 1,
        max_length = 64,
        example = "second",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub unit: String,
    /// What is bought, as invoice lines will name it.
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "shared-cpu-1x machine time",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub description: String,
    pub spec: PriceSpecBody,
    /// From 5 minutes ago to a year from now; default now.
    pub effective_from: Option<DateTime<Utc>>,
}

/// How a meter's quantity becomes money (see docs/pricing.md).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceSpecBody {
    pub model: PricingModelBody,
    /// Units per period that cost nothing (default 0).
    pub free_allowance: Option<QuantityText>,
    /// The least a period with billable usage costs for this meter.
    pub minimum_charge: Option<FeeText>,
}

/// Per-unit, graduated (each tier prices its own units) or volume (the
/// tier the total reaches prices every unit).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PricingModelBody {
    PerUnit {
        unit_price: UnitPriceText,
    },
    Graduated {
        #[schema(min_items = 1, max_items = 100)]
        tiers: Vec<TierBody>,
    },
    Volume {
        #[schema(min_items = 1, max_items = 100)]
        tiers: Vec<TierBody>,
    },
}

/// Units up to `up_to` (inclusive; absent or null: no bound, last tier only).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    pub up_to: Option<QuantityText>,
    pub unit_price: UnitPriceText,
    /// Added once when the tier is used.
    pub flat_fee: Option<FeeText>,
}

impl PriceSpecBody {
    /// The ledger's price spec; tier-table rules (ascending bounds, one
    /// open-ended last tier) are checked there and named.
    pub fn spec(&self) -> Result<PriceSpec, FieldError> {
        let tiers = |tiers: &[TierBody]| {
            tiers
                .iter()
                .map(|t| {
                    json!({
                        "up_to": t.up_to.map(|q| q.to_string()),
                        "unit_price": t.unit_price.to_string(),
                        "flat_fee": t.flat_fee.map(|f| f.to_string()),
                    })
                })
                .collect::<Vec<_>>()
        };
        let model = match &self.model {
            PricingModelBody::PerUnit { unit_price } => {
                json!({"type": "per_unit", "unit_price": unit_price.to_string()})
            }
            PricingModelBody::Graduated { tiers: t } => {
                json!({"type": "graduated", "tiers": tiers(t)})
            }
            PricingModelBody::Volume { tiers: t } => json!({"type": "volume", "tiers": tiers(t)}),
        };
        let mut spec = json!({"model": model});
        if let Some(free) = self.free_allowance {
            spec["free_allowance"] = json!(free.to_string());
        }
        if let Some(minimum) = self.minimum_charge {
            spec["minimum_charge"] = json!(minimum.to_string());
        }
        serde_json::from_value(spec).map_err(|e| FieldError::new("spec", e.to_string()))
    }
}

/// What setting stored.
#[derive(Debug, Clone)]
pub struct PriceStored {
    pub price: PriceSet,
    pub position: i64,
}

pub async fn set(ctx: &Ctx<'_>, actor: &Actor, body: NewPrice) -> Result<PriceStored, Rejection> {
    fields::plain_name("price_id", &body.price_id, 64)?;
    fields::plain_name("meter", &body.meter, 64)?;
    let currency = currency("currency", &body.currency)?;
    let unit = fields::text("unit", &body.unit, 64)?;
    let description = fields::text("description", &body.description, 200)?;
    let spec = body.spec.spec()?;
    let now = ctx.now;
    let effective_from = body.effective_from.unwrap_or(now);
    within(
        "effective_from",
        effective_from,
        now - TimeDelta::minutes(5),
        now + MAX_SCHEDULE,
        "now: a price change applies to usage from now on",
        "a year from now",
    )?;
    let price = PriceSet {
        price_id: body.price_id,
        meter: body.meter,
        currency,
        unit,
        description,
        spec,
        effective_from,
    };
    let event = NewEvent::from_domain(&LedgerEvent::PriceSet(price.clone()), now)
        .map_err(|e| Rejection::invalid("price", e.to_string()))?
        .with_metadata(actor.metadata());
    let outcome = ctx
        .store
        .append(&StreamId::catalog(), ExpectedVersion::Any, vec![event])
        .await?;
    let position = outcome
        .results
        .first()
        .map(|r| r.global_position())
        .unwrap_or_default();
    Ok(PriceStored { price, position })
}
