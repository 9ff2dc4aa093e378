//! The invoice fold: a pure function from ledger events to invoices.
//!
//! No clock, no randomness, no I/O, and only ordered collections (`BTreeMap`,
//! `Vec`): the same events give byte-identical invoices, and a book
//! serialised with serde and restored mid-stream folds on exactly as if it
//! had never stopped.
//!
//! # Business rules
//! - **Organizations**: events of an organization whose `OrganizationCreated`
//!   has not been folded are ignored and counted in [`Ignored`]; a second
//!   `OrganizationCreated` for the same id is ignored and counted too.
//! - **Replay safety**: [`Books`], each [`OrgBook`] and the [`Catalog`] skip
//!   events at or below the global position they already reflect, so an
//!   event delivered twice (a retried batch) is never counted twice.
//! - **Periods**: see [`crate::period`]. An invoice exists from the first
//!   event that lands on its period (usage, subscription change, charge,
//!   credit, `InvoicePeriodOpened`, `InvoiceFinalized`, a late adjustment or
//!   a carried-forward credit). Invoice events address the period that
//!   contains their key's `period_start`.
//! - **Closed periods**: a period is closed once its invoice is Finalized,
//!   Paid or Void. A closed invoice never changes again except its status
//!   (Finalized → Paid | Void) and payment-failure reason. Usage dated in a
//!   period that never had an invoice opens that invoice (nothing was billed
//!   for it yet), even when later periods are closed: the closer must
//!   finalize every Open invoice whose period has ended, not only the
//!   latest.
//! - **Lifecycle**: `InvoiceFinalized` closes an Open invoice (status
//!   Finalized; repeats are no-ops). `InvoicePaid` moves Finalized → Paid and
//!   clears a payment failure; `InvoiceVoided` moves Finalized → Void. Paid or
//!   Voided on an Open invoice closes it directly (a voided Open invoice
//!   carries all its credits forward, since it bills nothing).
//!   Paid and Void are final.
//! - **Payments** (Stripe's facts: paid, payment failed, action required,
//!   uncollectible, voided in Stripe) are merged into a set whose result
//!   does not depend on their order: `payment_status` follows the
//!   precedence `paid > void > uncollectible > payment_failed > unpaid`
//!   (see `payment`, docs/payments.md). They never change lines or the
//!   ledger status (except `InvoicePaid`, above); a fact that changes what
//!   a read shows bumps the version. Refunds and unmatched Stripe events
//!   are audit-only.
//! - **Usage** is priced with the catalog entry (same meter and the org's
//!   currency) with the greatest `effective_from <= occurred_at`, as the
//!   catalog stood when the usage was folded (a back-dated `PriceSet` only
//!   reprices usage folded after it). Quantities aggregate per (period,
//!   meter, price); line amounts are recomputed from the aggregate (see
//!   [`crate::pricing`]): the free allowance is deducted once per meter and
//!   period, in chronological price order; tiers count each price's own
//!   units; the minimum charge is per meter and period, owed only for
//!   billable usage (the largest minimum among segments with billable units
//!   governs). Usage with no price in effect (or only prices in another currency) stays visible as
//!   a zero-amount line saying so (its units still count as used towards
//!   the allowance of later price segments of the period).
//! - **Corrections and voids** apply `new − previous` (void: `−previous`) to
//!   the aggregate of the usage's own period (its `usage_occurred_at`). An
//!   aggregate never goes below zero: a delta that would is clamped at zero.
//! - **Late usage** (for a closed period) becomes a `LateUsageAdjustment`
//!   line on the org's next open invoice after that period (the earliest
//!   Open one; if none, the period after the latest invoice is created),
//!   one line per (late period, meter, price). Its amount is the marginal
//!   cost under the late period's own prices: each late event adds
//!   `price(period total after it) − price(period total before it)`, so
//!   tiers, allowance and minimum stay right and, over every invoice the
//!   adjustments land on, they sum to exactly `price(final) − price(billed)`.
//!   The closed period keeps counting its totals for this (its invoice does
//!   not change). A late event that shifts a later price segment's free
//!   allowance shows that segment's change as its own late line.
//! - **Recurring fees**: each UTC day of the period is billed at the plan in
//!   effect at the end of that day (every `effective_at` is floored to its
//!   UTC day): a start or change bills its whole day at the new fee, a
//!   cancellation stops billing from the start of its day. A run of `n` of
//!   the period's `D` days is one line, `monthly_fee × n / D` (a whole period
//!   bills exactly the monthly fee), quantity = days billed. A subscription
//!   event opens the invoice of its `effective_at`'s period (unless closed)
//!   and re-prices the fee lines of open invoices only: closed invoices are
//!   never re-prorated by a back-dated change. `SubscriptionChanged` without
//!   a start starts the subscription; cancelling an unknown one is a no-op.
//! - **Charges and credits** land on the invoice of the period containing
//!   the event's `occurred_at`; if that period is closed, on the next open
//!   invoice (a `LateCharge` line, or a credit). A repeated `charge_id` or
//!   `credit_id` on the same invoice is ignored (the first wins).
//! - **Credits** are negative lines applied in order (carried-in credits
//!   first, then grants in event order), each capped so the total never
//!   goes below zero. At finalization, an unused remainder carries forward
//!   to the next open invoice as a "carried forward" credit line (fixed from
//!   then on). A negative subtotal (late voids larger than the invoice)
//!   shows a `BalanceCarriedForward` line bringing the total to zero and
//!   carries that balance forward the same way.
//! - **Rounding**: unrounded through pricing and proration; each line rounded
//!   once with `Currency::round` (half away from zero, to the minor unit:
//!   0.125 → 0.13, −0.125 → −0.13; the commercial rule people check a bill
//!   with, and the ledger's one rule, `ledger::money::Currency::round`) and
//!   shown at exactly the minor unit's scale (`1.00`; JPY `1`); subtotal and
//!   total are sums of rounded lines. Credit grants are rounded to the minor
//!   unit when granted.
//! - **Bounds**: every amount of an invoice (lines, subtotal, credits
//!   applied, total, credit remaining) stays within ±`MAX_AMOUNT` (10^12);
//!   an invoice beyond it is refused with [`FoldError::AmountOutOfRange`]
//!   naming the organization, invoice and line, never clamped. Line
//!   descriptions are at most [`LINE_DESCRIPTION_MAX`] characters.
//!
//! docs/pricing.md states the pricing rules with worked examples.
//! - **Versions**: an invoice starts at version 1 with the event that
//!   creates it; every event that changes its content — any usage event that
//!   lands on it (its quantities or provenance window change), a charge,
//!   credit, subscription change that alters a fee line, or a status change
//!   — bumps the version by one and sets `position` to that event's global
//!   position. Audit-only events (`InvoicePublishedToStripe`,
//!   `InvoiceFinalizedInStripe`) and repeated status events change nothing.

mod book;
mod catalog;
mod fees;
mod forecast;
mod format;
mod invoice;
mod lifecycle;
mod lines;
mod payment;
mod render;
mod usage;
mod words;

pub use book::{ClosedPeriod, OrgBook};
pub use catalog::Catalog;
pub use forecast::{Forecast, MeterForecast, PROJECTED_QUANTITY_SCALE};
pub use invoice::{
    Invoice, InvoiceLine, InvoiceStatus, LineKind, LinePricing, LineSource, PricingModelKind,
    Proration, LINE_DESCRIPTION_MAX,
};
pub use payment::PaymentStatus;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use ledger::event::{DecodeError, InvoiceKey};
use ledger::{LedgerEvent, OrgId, RecordedEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The fold could not use an event, or cannot show an invoice.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error("event at position {position} could not be decoded: {source}")]
    Decode {
        position: i64,
        #[source]
        source: DecodeError,
    },
    /// An amount of one organization's invoice would leave ±`MAX_AMOUNT`
    /// (10^12 currency units; see `ledger::money`). The invoice is refused,
    /// never shown or billed with a capped amount: the organization cannot
    /// be billed until the usage or price behind it is corrected.
    #[error(
        "organization `{org_id}`, invoice for the period from {period_start}: {} {amount} is beyond the ±{max} an invoice amount may be",
        what(.line_id.as_deref(), .field),
        max = ledger::money::MAX_AMOUNT
    )]
    AmountOutOfRange {
        org_id: OrgId,
        period_start: DateTime<Utc>,
        /// The line whose amount is out of range; `None` for a total.
        line_id: Option<String>,
        /// `amount` for a line, else `subtotal`, `credit_applied`,
        /// `total` or `credit_remaining`.
        field: &'static str,
        /// The unrounded value (possibly saturated at `Decimal::MAX`).
        amount: Decimal,
    },
    /// The event concerns a closed period compacted out of the book that
    /// was not restored first (see `OrgBook::archived_touched`): folding it
    /// would miss that period's state, so the book is set aside instead.
    #[error(
        "organization `{org_id}`: the event at position {position} concerns the closed period from {period_start}, which was not loaded back before folding"
    )]
    PeriodNotRestored {
        org_id: OrgId,
        period_start: DateTime<Utc>,
        position: i64,
    },
}

fn what(line_id: Option<&str>, field: &str) -> String {
    match line_id {
        Some(line) => format!("line `{line}` {field}"),
        None => field.to_owned(),
    }
}

impl FoldError {
    /// The organization the error concerns, when it concerns one (a runner
    /// can set that organization aside and carry on with the others).
    pub fn org_id(&self) -> Option<&OrgId> {
        match self {
            Self::Decode { .. } => None,
            Self::AmountOutOfRange { org_id, .. } | Self::PeriodNotRestored { org_id, .. } => {
                Some(org_id)
            }
        }
    }
}

/// Events the fold skipped, for operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    /// Events of an organization that was never created.
    pub unknown_org: u64,
    /// `OrganizationCreated` for an organization that already exists.
    pub duplicate_org: u64,
}

/// The whole billing state: the catalog and every organization's book.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Books {
    pub catalog: Catalog,
    pub orgs: BTreeMap<OrgId, OrgBook>,
    #[serde(default)]
    pub ignored: Ignored,
    /// Global position of the last event folded; replays are skipped.
    #[serde(default)]
    pub last_position: i64,
}

/// The organization an event concerns; `None` for catalog events.
pub fn org_of(event: &LedgerEvent) -> Option<&OrgId> {
    event.org_id()
}

impl Books {
    /// Fold one stored event. Returns the invoices whose content changed.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<InvoiceKey>, FoldError> {
        let decoded = event.decode().map_err(|source| FoldError::Decode {
            position: event.global_position,
            source,
        })?;
        self.apply_decoded(event, &decoded)
    }

    /// Fold an already decoded event (`decoded` must be `event.decode()`).
    /// An error names the organization whose book must be set aside
    /// ([`FoldError::org_id`]); the other books are unaffected.
    pub fn apply_decoded(
        &mut self,
        event: &RecordedEvent,
        decoded: &LedgerEvent,
    ) -> Result<Vec<InvoiceKey>, FoldError> {
        if event.global_position <= self.last_position {
            return Ok(Vec::new());
        }
        self.last_position = event.global_position;
        Ok(match decoded {
            LedgerEvent::PriceSet(price) => {
                self.catalog.insert(event.global_position, price);
                Vec::new()
            }
            // Kept for operators; concerns no invoice.
            LedgerEvent::StripeEventUnmatched(_) => Vec::new(),
            LedgerEvent::OrganizationCreated(created) => {
                if self.orgs.contains_key(&created.org_id) {
                    self.ignored.duplicate_org += 1;
                } else {
                    let mut book = OrgBook::new(created);
                    book.last_position = event.global_position;
                    self.orgs.insert(created.org_id.clone(), book);
                }
                Vec::new()
            }
            other => match other.org_id().and_then(|org| self.orgs.get_mut(org)) {
                Some(book) => book.apply(&self.catalog, event, decoded)?,
                None => {
                    self.ignored.unknown_org += 1;
                    Vec::new()
                }
            },
        })
    }

    /// One invoice, as it stands ([`FoldError::AmountOutOfRange`] if one of
    /// its amounts is out of range).
    pub fn invoice(&self, key: &InvoiceKey) -> Result<Option<Invoice>, FoldError> {
        match self.orgs.get(&key.org_id) {
            Some(book) => book.invoice(key.period_start),
            None => Ok(None),
        }
    }

    /// Every invoice of every organization, by organization then period.
    /// The key of every invoice the books hold, by (organization, period).
    pub fn invoice_keys(&self) -> BTreeSet<InvoiceKey> {
        self.orgs
            .iter()
            .flat_map(|(org, book)| {
                book.period_starts().map(|period_start| InvoiceKey {
                    org_id: org.clone(),
                    period_start,
                })
            })
            .collect()
    }

    pub fn invoices(&self) -> Result<Vec<Invoice>, FoldError> {
        let mut invoices = Vec::new();
        for book in self.orgs.values() {
            invoices.extend(book.invoices()?);
        }
        Ok(invoices)
    }
}
