//! Budgets and the alerts derived from them: an organization's spend limit
//! (versioned, one stream per organization) and the facts the alerter
//! records when spend or forecast crosses one of its thresholds.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::stream::OrgId;
use crate::money::{Amount, Currency};

/// An organization's budget from now on. `version` is the position of this
/// event in the organization's budget stream (1, 2, …), so every alert
/// names the exact budget it was measured against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSet {
    pub org_id: OrgId,
    pub version: i64,
    /// The spend limit per billing period.
    pub amount: Amount,
    pub currency: Currency,
    /// In ascending order of the amount they stand for.
    pub thresholds: Vec<BudgetThreshold>,
}

/// A point of a budget to be told about: a share of the budget or an
/// absolute amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetThreshold {
    /// Percent of the budget's amount (`80` is 80 %).
    #[schema(value_type = String)]
    Percent(Decimal),
    /// An amount in the budget's currency.
    #[schema(value_type = String)]
    Amount(Amount),
}

impl BudgetThreshold {
    /// The spend at which it is crossed, unrounded.
    pub fn amount_of(&self, budget: Decimal) -> Decimal {
        match self {
            Self::Percent(p) => budget * *p / Decimal::ONE_HUNDRED,
            Self::Amount(a) => a.value(),
        }
    }

    /// A stable name for keys and people: `80%` or `250.00`.
    pub fn label(&self) -> String {
        match self {
            Self::Percent(p) => format!("{}%", p.normalize()),
            Self::Amount(a) => a.value().normalize().to_string(),
        }
    }
}

/// What crossed a threshold: spend so far, or the month-end forecast.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The invoice's total reached the threshold.
    Actual,
    /// The forecast for the period's end reached it ("projected to exceed").
    Projected,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Actual => "actual",
            Self::Projected => "projected",
        }
    }
}

/// Spend (or forecast) reached a threshold of the budget in force, in one
/// billing period. Recorded once per crossing of (organization, period,
/// budget version, threshold, kind): a threshold crossed again after it
/// resolved triggers again, with the next `crossing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTriggered {
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub kind: AlertKind,
    pub budget_version: i64,
    pub budget_amount: Amount,
    pub currency: Currency,
    pub threshold: BudgetThreshold,
    /// The spend at which the threshold is crossed.
    #[schema(value_type = String)]
    pub threshold_amount: Decimal,
    /// The invoice total when it was noticed.
    #[schema(value_type = String)]
    pub spend: Decimal,
    /// The forecast total when it was noticed.
    #[schema(value_type = String)]
    pub forecast: Decimal,
    /// The invoice version that crossed it.
    pub invoice_version: i64,
    /// Which crossing of this threshold it is in the period under this
    /// budget version: 1, then 2 after a resolve and a new crossing, …
    /// (absent in facts recorded before re-crossings alerted: 1).
    #[serde(default = "first_crossing")]
    pub crossing: u32,
}

fn first_crossing() -> u32 {
    1
}

/// A correction took spend (or the forecast) back below a threshold that
/// had triggered. Recorded at most once per triggered alert (the one with
/// the same `crossing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertResolved {
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
    pub kind: AlertKind,
    pub budget_version: i64,
    pub threshold: BudgetThreshold,
    #[schema(value_type = String)]
    pub threshold_amount: Decimal,
    #[schema(value_type = String)]
    pub spend: Decimal,
    #[schema(value_type = String)]
    pub forecast: Decimal,
    pub invoice_version: i64,
    /// The crossing it resolves (absent in older facts: 1).
    #[serde(default = "first_crossing")]
    pub crossing: u32,
}

/// The idempotency key of an alert fact: one per (organization, period,
/// budget version, threshold, kind), crossing and fact type, so a rebuild,
/// a restart or two alerters append it once. The first crossing's key has
/// no ordinal (it is the key facts had before re-crossings alerted); later
/// ones end in `:<crossing>`.
pub fn alert_key(
    fact: &str,
    org: &OrgId,
    period_start: DateTime<Utc>,
    budget_version: i64,
    threshold: &BudgetThreshold,
    kind: AlertKind,
    crossing: u32,
) -> String {
    let key = format!(
        "alert:{fact}:{}:{org}:{budget_version}:{}:{}",
        period_start.format("%Y-%m-%d"),
        threshold.label(),
        kind.as_str()
    );
    if crossing <= 1 {
        key
    } else {
        format!("{key}:{crossing}")
    }
}
