//! Price specifications as they appear in catalog events.
//!
//! Only the shape and its validation live here; pricing a quantity is the
//! invoice projection's job. A tier table is validated when it is built or
//! deserialised: bounds strictly ascending, the last tier open-ended.

use serde::{Deserialize, Serialize};

use crate::money::{Amount, Quantity, UnitPrice};

/// How a meter's quantity over a billing period becomes money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PricingModel {
    /// quantity × unit price.
    PerUnit { unit_price: UnitPrice },
    /// Each tier prices the units that fall inside it (like tax brackets).
    Graduated { tiers: Tiers },
    /// The tier the total quantity reaches prices every unit.
    Volume { tiers: Tiers },
}

/// One tier: units up to `up_to` (inclusive; `None` = no upper bound) cost
/// `unit_price` each, plus `flat_fee` once if any unit lands in the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<Quantity>,
    pub unit_price: UnitPrice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_fee: Option<Amount>,
}

/// A validated, non-empty tier table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Tier>", into = "Vec<Tier>")]
pub struct Tiers(Vec<Tier>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("a tier table needs at least one tier")]
    Empty,
    #[error("tier {index}: `up_to` must be greater than the previous tier's")]
    NotAscending { index: usize },
    #[error("the last tier must be open-ended (`up_to: null`); only the last may be")]
    Unbounded,
    #[error("tier {index}: flat fee must not be negative")]
    NegativeFlatFee { index: usize },
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
        let mut previous = None;
        for (index, tier) in tiers.iter().enumerate() {
            match (tier.up_to, index == last) {
                (None, true) => {}
                (Some(bound), false) => {
                    if previous.is_some_and(|p| bound <= p) {
                        return Err(TierError::NotAscending { index });
                    }
                    previous = Some(bound);
                }
                _ => return Err(TierError::Unbounded),
            }
            if tier.flat_fee.is_some_and(|f| f.value().is_sign_negative()) {
                return Err(TierError::NegativeFlatFee { index });
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
/// per period (applied when the org used the meter at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    pub model: PricingModel,
    #[serde(default)]
    pub free_allowance: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_charge: Option<Amount>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let negative = json!({"model": {"type": "per_unit", "unit_price": "-1"}});
        assert!(serde_json::from_value::<PriceSpec>(negative).is_err());
        let typo = json!({"model": {"type": "per_unit", "unit_price": "1"}, "free_alowance": "5"});
        assert!(serde_json::from_value::<PriceSpec>(typo).is_err());
    }
}
