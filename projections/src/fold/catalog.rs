//! The price catalog: every `PriceSet` folded so far, per meter.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger::event::PriceSet;
use ledger::money::Currency;
use serde::{Deserialize, Serialize};

/// All catalog entries, per meter, ordered by `effective_from` (entries with
/// the same `effective_from` keep event order; the later one wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    prices: BTreeMap<String, Vec<PriceSet>>,
    /// Global position of the last `PriceSet` folded (replays are skipped).
    pub last_position: i64,
}

impl Catalog {
    /// Fold a `PriceSet` recorded at `position`; ignored when the catalog
    /// already reflects that position.
    pub fn insert(&mut self, position: i64, price: &PriceSet) {
        if position <= self.last_position {
            return;
        }
        self.last_position = position;
        let entries = self.prices.entry(price.meter.clone()).or_default();
        let at = entries.partition_point(|p| p.effective_from <= price.effective_from);
        entries.insert(at, price.clone());
    }

    /// The entry for `meter` in effect at `at`, in any currency.
    pub fn price_for(&self, meter: &str, at: DateTime<Utc>) -> Option<&PriceSet> {
        self.in_effect(meter, at).next()
    }

    /// The entry for `meter` in `currency` in effect at `at`: the one with
    /// the greatest `effective_from <= at` among that currency's entries.
    pub fn price_for_currency(
        &self,
        meter: &str,
        currency: Currency,
        at: DateTime<Utc>,
    ) -> Option<&PriceSet> {
        self.in_effect(meter, at).find(|p| p.currency == currency)
    }

    fn in_effect(&self, meter: &str, at: DateTime<Utc>) -> impl Iterator<Item = &PriceSet> {
        let entries = self.prices.get(meter).map_or(&[][..], Vec::as_slice);
        let end = entries.partition_point(|p| p.effective_from <= at);
        entries[..end].iter().rev()
    }

    /// Every entry, by meter then `effective_from`.
    pub fn entries(&self) -> impl Iterator<Item = &PriceSet> {
        self.prices.values().flatten()
    }
}
