//! Budgets: an organization's spend limit per billing period and the
//! thresholds to be alerted at, stored as `BudgetSet` events in the
//! organization's budget stream, whose version is the budget's version.
//!
//! Rules:
//! - the currency is the organization's own;
//! - 1 to 20 thresholds (default: 100 percent), each a percent of the
//!   amount (more than 0, at most 1000) or an amount, none twice;
//! - a `PUT` of exactly the budget in force stores nothing (a retry);
//!   otherwise the next version is appended expecting the current one, so
//!   two racing writers cannot both win: the loser gets a 409 and re-reads.

use ledger::event::{BudgetSet, BudgetThreshold};
use ledger::money::Amount;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StoreError, StreamId};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields::{AmountText, CurrencyCode};
use super::organizations::currency;
use super::{Actor, Ctx, Rejection};

/// Most thresholds a budget may have.
pub const MAX_THRESHOLDS: usize = 20;

/// The budget to put in force.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// The spend limit per billing period, in the organization's currency.
    pub amount: AmountText,
    /// The organization's currency (ISO 4217).
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// 1 to 20 points to be alerted at; default: 100 percent.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub thresholds: Option<Vec<ThresholdRequest>>,
}

/// One threshold: `{"percent": "80"}` or `{"amount": "250.00"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThresholdRequest {
    /// Percent of the budget's amount, more than 0 and at most 1000.
    Percent(AmountText),
    /// An amount in the budget's currency.
    Amount(AmountText),
}

/// What putting a budget did.
#[derive(Debug, Clone)]
pub struct BudgetPut {
    pub budget: BudgetSet,
    /// `true` when the budget in force was already exactly this.
    pub unchanged: bool,
    pub position: i64,
}

fn thresholds(given: Option<Vec<ThresholdRequest>>) -> Result<Vec<BudgetThreshold>, Rejection> {
    let Some(given) = given else {
        return Ok(vec![BudgetThreshold::Percent(Decimal::ONE_HUNDRED)]);
    };
    if given.is_empty() || given.len() > MAX_THRESHOLDS {
        return Err(Rejection::invalid(
            "thresholds",
            format!(
                "a budget has 1 to {MAX_THRESHOLDS} thresholds (got {})",
                given.len()
            ),
        ));
    }
    let mut out: Vec<BudgetThreshold> = Vec::with_capacity(given.len());
    for (i, t) in given.into_iter().enumerate() {
        let threshold = match t {
            ThresholdRequest::Percent(p) => {
                let p = p.value().value();
                if p > Decimal::ONE_THOUSAND {
                    return Err(Rejection::invalid(
                        format!("thresholds[{i}].percent"),
                        format!("a percent threshold is at most 1000 (got {p})"),
                    ));
                }
                BudgetThreshold::Percent(p.normalize())
            }
            ThresholdRequest::Amount(a) => BudgetThreshold::Amount(a.value()),
        };
        if out.iter().any(|o| o.label() == threshold.label()) {
            return Err(Rejection::invalid(
                format!("thresholds[{i}]"),
                format!("threshold {} is given twice", threshold.label()),
            ));
        }
        out.push(threshold);
    }
    Ok(out)
}

/// Sort thresholds by the amount they stand for (then by label), the order
/// the event keeps them in.
fn ordered(amount: Decimal, mut thresholds: Vec<BudgetThreshold>) -> Vec<BudgetThreshold> {
    thresholds.sort_by(|a, b| {
        a.amount_of(amount)
            .cmp(&b.amount_of(amount))
            .then_with(|| a.label().cmp(&b.label()))
    });
    thresholds
}

/// Put `request` in force as the organization's budget.
pub async fn put(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org: &OrgId,
    request: BudgetRequest,
) -> Result<BudgetPut, Rejection> {
    let created = ctx.registered(org).await?;
    let wanted_currency = currency("currency", &request.currency)?;
    if wanted_currency != created.currency {
        return Err(Rejection::invalid(
            "currency",
            format!(
                "organization `{org}` is billed in {}, so its budget must be too (got {wanted_currency})",
                created.currency
            ),
        ));
    }
    let amount: Amount = request.amount.value();
    let thresholds = ordered(amount.value(), thresholds(request.thresholds)?);
    let stream = StreamId::budget(org);
    let current = projections::budget::latest(ctx.store, org).await?;
    let current_version = current.as_ref().map_or(0, |(b, _)| b.version);
    let same = |b: &BudgetSet| {
        b.amount == amount && b.currency == created.currency && b.thresholds == thresholds
    };
    if let Some((current, position)) = current.filter(|(b, _)| same(b)) {
        return Ok(BudgetPut {
            budget: current,
            unchanged: true,
            position,
        });
    }
    let budget = BudgetSet {
        org_id: org.clone(),
        version: current_version + 1,
        amount,
        currency: created.currency,
        thresholds,
    };
    let new = NewEvent::from_domain(&LedgerEvent::BudgetSet(budget.clone()), ctx.now)
        .map_err(|e| Rejection::invalid("body", e.to_string()))?
        .with_metadata(actor.metadata())
        .with_idempotency_key(super::event_key(format!("budget:{org}:{}", budget.version)));
    let expected = match current_version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exact(v),
    };
    let raced = || Rejection::Conflict {
        message: format!(
            "the budget of `{org}` changed while this one was being set: read it and retry"
        ),
        field: None,
    };
    let outcome = match ctx.store.append(&stream, expected, vec![new]).await {
        Ok(outcome) => outcome,
        Err(StoreError::Conflict { .. }) => return Err(raced()),
        Err(other) => return Err(other.into()),
    };
    let result = outcome
        .results
        .first()
        .ok_or_else(|| StoreError::Corrupt("append reported no result".into()))?;
    if result.is_duplicate() {
        // Another writer stored this version first: ours only if identical.
        return match projections::budget::latest(ctx.store, org).await? {
            Some((stored, position)) if stored == budget => Ok(BudgetPut {
                budget: stored,
                unchanged: true,
                position,
            }),
            _ => Err(raced()),
        };
    }
    Ok(BudgetPut {
        budget,
        unchanged: false,
        position: result.global_position(),
    })
}
