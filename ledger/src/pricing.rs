//! Price specifications as they appear in catalog events.
//!
//! Only the shape and its validation live here; pricing a quantity is the
//! invoice projection's job (docs/pricing.md states every rule).
//!
//! Every field is validated when a spec is built or deserialised, and a
//! refusal names the field (`minimum_charge`, `model.tiers[1].up_to`…):
//! - `unit_price` (per-unit and each tier): a [`UnitPrice`], `0 ≤ p ≤ 10^9`,
//!   at most 12 decimal places.
//! - `tiers`: 1 to [`MAX_TIERS`] tiers; every `up_to` but the last is a
//!   [`Quantity`] greater than zero and greater than the previous tier's
//!   (so no empty, duplicate or overlapping tier); the last is `null`
//!   (open-ended).
//! - `flat_fee` (per tier) and `minimum_charge`: a [`NonNegativeAmount`],
//!   `0 ≤ a ≤ 10^12`, at most 12 decimal places (they are part of the
//!   unrounded amount, which is rounded once).
//! - `free_allowance`: a [`Quantity`], `0 ≤ q ≤ 10^15`, default 0.
//! - Unknown fields are refused.

use serde::{Deserialize, Serialize};

use crate::money::{NonNegativeAmount, Quantity, UnitPrice, ValueError};
use rust_decimal::Decimal;

/// The most tiers a tier table may have: enough for any real price list,
/// and it keeps an invoice line's description (which names the tiers that
/// priced its units) short.
pub const MAX_TIERS: usize = 100;

/// How a meter's quantity over a billing period becomes money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PricingModel {
    /// quantity × unit price.
    PerUnit { unit_price: UnitPrice },
    /// Each tier prices the units that fall inside it (like tax brackets).
    Graduated { tiers: Tiers },
    /// The tier the total quantity reaches prices every unit.
    Volume { tiers: Tiers },
}

impl PricingModel {
    /// `per_unit`, `graduated` or `volume`: the model's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PerUnit { .. } => "per_unit",
            Self::Graduated { .. } => "graduated",
            Self::Volume { .. } => "volume",
        }
    }
}

/// One tier: units up to `up_to` (inclusive; `None` = no upper bound) cost
/// `unit_price` each, plus `flat_fee` once if any unit lands in the tier
/// (graduated) or if the quantity reaches the tier (volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<Quantity>,
    pub unit_price: UnitPrice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_fee: Option<NonNegativeAmount>,
}

/// A validated tier table: 1 to [`MAX_TIERS`] tiers, bounds strictly
/// ascending from above zero, only the last tier open-ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Tier>", into = "Vec<Tier>")]
pub struct Tiers(Vec<Tier>);

/// Why a tier table was refused. Fields are named as in JSON, relative to
/// the model (`tiers[1].up_to`); indices count from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("`tiers` needs at least one tier")]
    Empty,
    #[error("`tiers` has {count} tiers; at most {max} are allowed", max = MAX_TIERS)]
    TooMany { count: usize },
    #[error(
        "`tiers[{index}].up_to` must be greater than zero (got {up_to}): a tier cannot be empty"
    )]
    ZeroBound { index: usize, up_to: Decimal },
    #[error(
        "`tiers[{index}].up_to` ({up_to}) must be greater than `tiers[{previous_index}].up_to` ({previous}): bounds ascend strictly, so no two tiers overlap",
        previous_index = .index.saturating_sub(1)
    )]
    NotAscending {
        index: usize,
        up_to: Decimal,
        previous: Decimal,
    },
    #[error("`tiers[{index}].up_to` must be null: the last tier is open-ended")]
    LastBounded { index: usize },
    #[error("`tiers[{index}].up_to` is missing: only the last tier may be open-ended")]
    Unbounded { index: usize },
}

impl Tiers {
    pub fn as_slice(&self) -> &[Tier] {
        &self.0
    }
}

impl TryFrom<Vec<Tier>> for Tiers {
    type Error = TierError;
    fn try_from(tiers: Vec<Tier>) -> Result<Self, TierError> {
        let last = tiers.len().checked_sub(1).ok_or(TierError::Empty)?;
        if tiers.len() > MAX_TIERS {
            return Err(TierError::TooMany { count: tiers.len() });
        }
        let mut previous: Option<Decimal> = None;
        for (index, tier) in tiers.iter().enumerate() {
            match (tier.up_to.map(Quantity::value), index == last) {
                (None, true) => {}
                (Some(_), true) => return Err(TierError::LastBounded { index }),
                (None, false) => return Err(TierError::Unbounded { index }),
                (Some(up_to), false) => {
                    match previous {
                        None if up_to.is_zero() => {
                            return Err(TierError::ZeroBound { index, up_to })
                        }
                        Some(previous) if up_to <= previous => {
                            return Err(TierError::NotAscending {
                                index,
                                up_to,
                                previous,
                            })
                        }
                        _ => {}
                    }
                    previous = Some(up_to);
                }
            }
        }
        Ok(Self(tiers))
    }
}

impl From<Tiers> for Vec<Tier> {
    fn from(tiers: Tiers) -> Self {
        tiers.0
    }
}

/// A complete price for a meter: a model, a free allowance per billing
/// period (deducted before the model applies) and an optional minimum charge
/// per period (see docs/pricing.md for exactly when it applies).
///
/// Deserialisation validates every field and names the one it refuses
/// ([`PriceSpecError`]); built in code, the field types are already valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "RawSpec")]
pub struct PriceSpec {
    pub model: PricingModel,
    #[serde(default)]
    pub free_allowance: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_charge: Option<NonNegativeAmount>,
}

/// Why a price spec was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceSpecError {
    #[error("`{field}`: {problem}")]
    Value { field: String, problem: ValueError },
    /// The tier table's message, with its field paths under `model.`.
    #[error("{}", under_model(.0))]
    Tiers(TierError),
}

/// "`tiers[1].up_to` …" → "`model.tiers[1].up_to` …".
fn under_model(error: &TierError) -> String {
    error.to_string().replacen("`tiers", "`model.tiers", 2)
}

/// The JSON shape of a spec with plain decimals, so each value is checked
/// under its own field name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    model: RawModel,
    #[serde(default)]
    free_allowance: Option<Decimal>,
    #[serde(default)]
    minimum_charge: Option<Decimal>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawModel {
    PerUnit { unit_price: Decimal },
    Graduated { tiers: Vec<RawTier> },
    Volume { tiers: Vec<RawTier> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    up_to: Option<Decimal>,
    unit_price: Decimal,
    #[serde(default)]
    flat_fee: Option<Decimal>,
}

fn field<T: TryFrom<Decimal, Error = ValueError>>(
    name: impl Into<String>,
    value: Decimal,
) -> Result<T, PriceSpecError> {
    T::try_from(value).map_err(|problem| PriceSpecError::Value {
        field: name.into(),
        problem,
    })
}

fn tiers(raw: Vec<RawTier>) -> Result<Tiers, PriceSpecError> {
    if raw.len() > MAX_TIERS {
        return Err(PriceSpecError::Tiers(TierError::TooMany {
            count: raw.len(),
        }));
    }
    let mut tiers = Vec::with_capacity(raw.len());
    for (i, tier) in raw.into_iter().enumerate() {
        tiers.push(Tier {
            up_to: tier
                .up_to
                .map(|u| field(format!("model.tiers[{i}].up_to"), u))
                .transpose()?,
            unit_price: field(format!("model.tiers[{i}].unit_price"), tier.unit_price)?,
            flat_fee: tier
                .flat_fee
                .map(|f| field(format!("model.tiers[{i}].flat_fee"), f))
                .transpose()?,
        });
    }
    Tiers::try_from(tiers).map_err(PriceSpecError::Tiers)
}

impl TryFrom<RawSpec> for PriceSpec {
    type Error = PriceSpecError;
    fn try_from(raw: RawSpec) -> Result<Self, PriceSpecError> {
        let model = match raw.model {
            RawModel::PerUnit { unit_price } => PricingModel::PerUnit {
                unit_price: field("model.unit_price", unit_price)?,
            },
            RawModel::Graduated { tiers: t } => PricingModel::Graduated { tiers: tiers(t)? },
            RawModel::Volume { tiers: t } => PricingModel::Volume { tiers: tiers(t)? },
        };
        Ok(Self {
            model,
            free_allowance: raw
                .free_allowance
                .map(|q| field("free_allowance", q))
                .transpose()?
                .unwrap_or_default(),
            minimum_charge: raw
                .minimum_charge
                .map(|m| field("minimum_charge", m))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn refusal(spec: Value) -> String {
        match serde_json::from_value::<PriceSpec>(spec.clone()) {
            Ok(parsed) => panic!("{spec} was accepted as {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn graduated(tiers: Value) -> Value {
        json!({"model": {"type": "graduated", "tiers": tiers}})
    }

    #[test]
    fn tier_tables_must_ascend_and_end_open() {
        let ok =
            json!([{"up_to": "100", "unit_price": "0.1"}, {"up_to": null, "unit_price": "0.05"}]);
        assert!(serde_json::from_value::<Tiers>(ok).is_ok());
        let descending = json!([{"up_to": "100", "unit_price": "0.1"}, {"up_to": "50", "unit_price": "0.1"}, {"up_to": null, "unit_price": "0"}]);
        assert!(serde_json::from_value::<Tiers>(descending).is_err());
        let closed = json!([{"up_to": "100", "unit_price": "0.1"}]);
        assert!(serde_json::from_value::<Tiers>(closed).is_err());
        assert!(serde_json::from_value::<Tiers>(json!([])).is_err());
    }

    #[test]
    fn price_spec_round_trips_with_its_model_tag() {
        let spec = json!({
            "model": {"type": "graduated", "tiers": [{"up_to": null, "unit_price": "0.02"}]},
            "free_allowance": "100"
        });
        let parsed: PriceSpec = serde_json::from_value(spec.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), spec);
        let typo = json!({"model": {"type": "per_unit", "unit_price": "1"}, "free_alowance": "5"});
        assert!(serde_json::from_value::<PriceSpec>(typo).is_err());
    }

    #[test]
    fn a_negative_minimum_charge_is_refused_naming_the_field() {
        let spec =
            json!({"model": {"type": "per_unit", "unit_price": "1"}, "minimum_charge": "-5"});
        let message = refusal(spec);
        assert!(message.contains("`minimum_charge`"), "{message}");
        assert!(message.contains("must not be negative"), "{message}");
    }

    #[test]
    fn a_minimum_charge_beyond_the_amount_bound_or_too_precise_is_refused() {
        let big = json!({"model": {"type": "per_unit", "unit_price": "1"}, "minimum_charge": "1000000000000.01"});
        assert!(refusal(big).contains("`minimum_charge`: amount"));
        let precise = json!({"model": {"type": "per_unit", "unit_price": "1"}, "minimum_charge": "0.0000000000001"});
        assert!(refusal(precise).contains("more than 12 decimal places"));
    }

    #[test]
    fn a_per_unit_price_must_be_a_valid_unit_price() {
        let negative = json!({"model": {"type": "per_unit", "unit_price": "-1"}});
        assert!(refusal(negative).contains("`model.unit_price`: unit price must not be negative"));
        let huge = json!({"model": {"type": "per_unit", "unit_price": "1000000001"}});
        assert!(refusal(huge).contains("`model.unit_price`"));
        let garbage = json!({"model": {"type": "per_unit", "unit_price": "NaN"}});
        assert!(serde_json::from_value::<PriceSpec>(garbage).is_err());
    }

    #[test]
    fn the_free_allowance_must_be_a_valid_quantity() {
        let negative =
            json!({"model": {"type": "per_unit", "unit_price": "1"}, "free_allowance": "-1"});
        assert!(refusal(negative).contains("`free_allowance`: quantity must not be negative"));
        let huge =
            json!({"model": {"type": "per_unit", "unit_price": "1"}, "free_allowance": "1e16"});
        assert!(refusal(huge).contains("`free_allowance`: quantity"));
        let omitted: PriceSpec =
            serde_json::from_value(json!({"model": {"type": "per_unit", "unit_price": "1"}}))
                .unwrap();
        assert_eq!(omitted.free_allowance, Quantity::ZERO);
    }

    #[test]
    fn an_empty_tier_table_is_refused() {
        assert_eq!(
            refusal(graduated(json!([]))),
            "`model.tiers` needs at least one tier"
        );
    }

    #[test]
    fn a_tier_table_longer_than_the_maximum_is_refused() {
        let mut tiers: Vec<Value> = (1..=MAX_TIERS)
            .map(|n| json!({"up_to": n.to_string(), "unit_price": "1"}))
            .collect();
        tiers.push(json!({"up_to": null, "unit_price": "1"}));
        assert!(refusal(graduated(Value::Array(tiers.clone()))).contains("at most 100"));
        tiers.remove(0);
        assert!(serde_json::from_value::<PriceSpec>(graduated(Value::Array(tiers))).is_ok());
    }

    #[test]
    fn tier_bounds_must_ascend_strictly_with_no_duplicate_tier() {
        let duplicate = graduated(json!([
            {"up_to": "100", "unit_price": "0.1"},
            {"up_to": "100", "unit_price": "0.1"},
            {"up_to": null, "unit_price": "0.05"}
        ]));
        let message = refusal(duplicate);
        assert!(
            message.starts_with(
                "`model.tiers[1].up_to` (100) must be greater than `model.tiers[0].up_to` (100)"
            ),
            "{message}"
        );
        let descending = graduated(json!([
            {"up_to": "100", "unit_price": "0.1"},
            {"up_to": "50", "unit_price": "0.1"},
            {"up_to": null, "unit_price": "0.05"}
        ]));
        assert!(refusal(descending).contains("`model.tiers[1].up_to` (50)"));
    }

    #[test]
    fn the_first_tier_bound_must_be_above_zero() {
        let empty_tier = graduated(json!([
            {"up_to": "0", "unit_price": "0.1"},
            {"up_to": null, "unit_price": "0.05"}
        ]));
        assert!(refusal(empty_tier).starts_with("`model.tiers[0].up_to` must be greater than zero"));
    }

    #[test]
    fn only_the_last_tier_is_open_ended() {
        let closed = graduated(json!([{"up_to": "100", "unit_price": "0.1"}]));
        assert_eq!(
            refusal(closed),
            "`model.tiers[0].up_to` must be null: the last tier is open-ended"
        );
        let open_early = json!({"model": {"type": "volume", "tiers": [
            {"up_to": null, "unit_price": "0.1"},
            {"up_to": null, "unit_price": "0.05"}
        ]}});
        assert_eq!(
            refusal(open_early),
            "`model.tiers[0].up_to` is missing: only the last tier may be open-ended"
        );
    }

    #[test]
    fn tier_values_are_checked_under_their_own_field_names() {
        let negative_fee = graduated(json!([
            {"up_to": "10", "unit_price": "0.1", "flat_fee": "-1"},
            {"up_to": null, "unit_price": "0.05"}
        ]));
        assert!(refusal(negative_fee)
            .starts_with("`model.tiers[0].flat_fee`: amount must not be negative"));
        let negative_price = graduated(json!([
            {"up_to": "10", "unit_price": "0.1"},
            {"up_to": null, "unit_price": "-0.05"}
        ]));
        assert!(refusal(negative_price)
            .starts_with("`model.tiers[1].unit_price`: unit price must not be negative"));
        let negative_bound = graduated(json!([
            {"up_to": "-10", "unit_price": "0.1"},
            {"up_to": null, "unit_price": "0.05"}
        ]));
        assert!(refusal(negative_bound)
            .starts_with("`model.tiers[0].up_to`: quantity must not be negative"));
        let unknown = graduated(json!([{"up_to": null, "unit_price": "1", "flat": "1"}]));
        assert!(serde_json::from_value::<PriceSpec>(unknown).is_err());
    }

    /// A spec with `value` at `field` (one of the spec's numeric fields).
    fn with_value(field: &str, value: &str) -> Value {
        let mut spec = json!({"model": {"type": "graduated", "tiers": [
            {"up_to": "10", "unit_price": "0.1", "flat_fee": "1"},
            {"up_to": null, "unit_price": "0.05"}
        ]}, "free_allowance": "5", "minimum_charge": "2"});
        let slot = match field {
            "model.tiers[0].up_to" => &mut spec["model"]["tiers"][0]["up_to"],
            "model.tiers[0].unit_price" => &mut spec["model"]["tiers"][0]["unit_price"],
            "model.tiers[0].flat_fee" => &mut spec["model"]["tiers"][0]["flat_fee"],
            "free_allowance" => &mut spec["free_allowance"],
            "minimum_charge" => &mut spec["minimum_charge"],
            "model.unit_price" => {
                spec["model"] = json!({"type": "per_unit", "unit_price": "1"});
                &mut spec["model"]["unit_price"]
            }
            other => panic!("no field {other}"),
        };
        *slot = json!(value);
        spec
    }

    #[test]
    fn every_numeric_field_refuses_negatives_values_beyond_its_bound_and_13_decimal_places() {
        let fields = [
            ("model.unit_price", "1000000000.000000000001"),
            ("model.tiers[0].up_to", "1000000000000001"),
            ("model.tiers[0].unit_price", "1000000001"),
            ("model.tiers[0].flat_fee", "1000000000001"),
            ("free_allowance", "1000000000000001"),
            ("minimum_charge", "1000000000001"),
        ];
        for (field, too_large) in fields {
            for (value, problem) in [
                ("-1", "must not be negative"),
                (too_large, "exceeds the maximum"),
                ("0.0000000000001", "more than 12 decimal places"),
            ] {
                let message = refusal(with_value(field, value));
                assert!(
                    message.starts_with(&format!("`{field}`: ")) && message.contains(problem),
                    "{field} = {value}: {message}"
                );
            }
            let at_twelve_places = with_value(field, "1.000000000001");
            assert!(
                serde_json::from_value::<PriceSpec>(at_twelve_places).is_ok(),
                "{field}"
            );
        }
    }

    #[test]
    fn a_zero_flat_fee_and_a_zero_minimum_are_valid_and_charge_nothing_extra() {
        let spec = json!({"model": {"type": "volume", "tiers": [
            {"up_to": "10", "unit_price": "0.1", "flat_fee": "0"},
            {"up_to": null, "unit_price": "0.05"}
        ]}, "minimum_charge": "0"});
        assert!(serde_json::from_value::<PriceSpec>(spec).is_ok());
    }
}
