//! An organization's budget in force, read from its budget stream (the
//! stream version is the budget version), and which of its thresholds an
//! amount has reached. Reads only.

use ledger::event::{BudgetSet, BudgetThreshold};
use ledger::{EventStore, LedgerEvent, OrgId, StoreError, StreamId};
use rust_decimal::Decimal;

/// The latest `BudgetSet` of `org` and its global position, if it ever set one.
pub async fn latest(
    store: &dyn EventStore,
    org: &OrgId,
) -> Result<Option<(BudgetSet, i64)>, StoreError> {
    let stream = StreamId::budget(org);
    let version = store.stream_version(&stream).await?;
    if version == 0 {
        return Ok(None);
    }
    let page = store.read_stream(&stream, version, 1).await?;
    let Some(event) = page.first() else {
        return Ok(None);
    };
    match event.decode() {
        Ok(LedgerEvent::BudgetSet(budget)) => Ok(Some((budget, event.global_position))),
        Ok(other) => Err(StoreError::Corrupt(format!(
            "budget stream of `{org}` holds a {}",
            other.event_type()
        ))),
        Err(err) => Err(StoreError::Corrupt(err.to_string())),
    }
}

/// A threshold with the spend at which it is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub threshold: BudgetThreshold,
    pub amount: Decimal,
}

/// Every threshold of `budget` with its amount, ascending.
pub fn levels(budget: &BudgetSet) -> Vec<Level> {
    let total = budget.amount.value();
    let mut levels: Vec<Level> = budget
        .thresholds
        .iter()
        .map(|t| Level {
            threshold: *t,
            amount: t.amount_of(total),
        })
        .collect();
    levels.sort_by_key(|l| l.amount);
    levels
}

/// Whether `spend` has reached `level` (crossing means reaching: a
/// threshold of 100 is crossed when spend equals the budget).
pub fn reached(spend: Decimal, level: &Level) -> bool {
    spend >= level.amount
}

/// The live generation's book of `org` (what forecasts are computed from);
/// `None` if it has none or it cannot be read (a parked organization).
pub async fn live_book(
    tables: &dyn crate::ProjectionTables,
    org: &OrgId,
) -> Result<Option<crate::OrgBook>, crate::ProjectionError> {
    let generation = tables.active_generation(crate::tables::INVOICES).await?;
    let key = crate::runner::org_key(org.as_str());
    let states = tables.load_states(generation, &[key]).await?;
    Ok(states
        .first()
        .and_then(|(_, state)| serde_json::from_str::<crate::OrgBook>(state.get()).ok()))
}
