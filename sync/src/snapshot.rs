//! Pure snapshot logic: what Stripe should hold for an invoice, how that
//! differs from what it was last given, and the idempotency keys and
//! metadata that make every call safe to repeat.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use projections::Invoice;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SyncError;
use crate::state::period_text;
use crate::stripe::{IdempotencyKey, StripeError};

/// Metadata key: the ledger invoice (`<org>/<period start>`), on invoices and items.
pub const META_INVOICE: &str = "ledger_invoice";
/// Metadata key: the organization, on customers, invoices and items.
pub const META_ORG: &str = "ledger_org_id";
/// Metadata key: the period start.
pub const META_PERIOD: &str = "ledger_period_start";
/// Metadata key: the line's stable id within the invoice, on items.
pub const META_LINE: &str = "ledger_line_id";

/// One line as Stripe should hold it: an exact integer amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLine {
    pub line_id: String,
    /// Minor units of the invoice's currency; negative for credits.
    pub amount: i64,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
}

impl DesiredLine {
    /// Everything sent for the line, as one string: two requests whose keys are made
    /// from it carry identical parameters (Stripe refuses a key reused with others).
    pub fn content_key(&self) -> String {
        let metadata: Vec<String> = self
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{}\n{}\n{}\n{}",
            self.line_id,
            self.amount,
            self.description,
            metadata.join("&")
        )
    }
}

/// One line as Stripe was last given it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedLine {
    pub item_id: String,
    pub amount: i64,
    pub description: String,
}

/// The published lines by `line_id` (stored as JSON in the sync row).
pub type Snapshot = BTreeMap<String, PublishedLine>;

/// One call the diff asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create(DesiredLine),
    Update { item_id: String, line: DesiredLine },
    Delete { line_id: String, item_id: String },
}

/// `<org>/<period start>`: the ledger's name for an invoice, in Stripe metadata.
pub fn invoice_tag(org: &str, period_start: DateTime<Utc>) -> String {
    format!("{org}/{}", period_text(period_start))
}

/// Metadata every Stripe invoice of ours carries.
pub fn invoice_metadata(invoice: &Invoice) -> BTreeMap<String, String> {
    let org = invoice.org_id.as_str();
    BTreeMap::from([
        (
            META_INVOICE.to_owned(),
            invoice_tag(org, invoice.period_start),
        ),
        (META_ORG.to_owned(), org.to_owned()),
        (META_PERIOD.to_owned(), period_text(invoice.period_start)),
    ])
}

/// The lines Stripe should hold, with amounts in minor units. Fails
/// (permanently) if an amount does not fit or the lines don't add up to
/// the ledger's total to the cent.
pub fn desired(invoice: &Invoice) -> Result<Vec<DesiredLine>, SyncError> {
    let currency = invoice.currency;
    let base = invoice_metadata(invoice);
    let mut lines = Vec::with_capacity(invoice.lines.len());
    for line in &invoice.lines {
        let amount = currency.to_minor_units(line.amount).ok_or_else(|| {
            SyncError::Unpublishable(format!(
                "line {} amount {} does not fit in minor units",
                line.line_id, line.amount
            ))
        })?;
        let mut metadata = base.clone();
        metadata.insert(META_LINE.to_owned(), line.line_id.clone());
        metadata.insert("ledger_quantity".to_owned(), line.quantity.to_string());
        if let Some(price) = line.unit_price {
            metadata.insert("ledger_unit_price".to_owned(), price.to_string());
        }
        lines.push(DesiredLine {
            line_id: line.line_id.clone(),
            amount,
            description: stripe_description(&line.description),
            metadata,
        });
    }
    let sum: i64 = lines.iter().map(|l| l.amount).sum();
    let total = currency.to_minor_units(invoice.total);
    if total != Some(sum) {
        return Err(SyncError::Unpublishable(format!(
            "lines sum to {sum} minor units but the invoice total is {}",
            invoice.total
        )));
    }
    Ok(lines)
}

/// Stripe's limit for an invoice item's `description`, in characters
/// (`maxLength` on `POST /v1/invoiceitems` and `POST /v1/invoiceitems/{id}`).
pub const STRIPE_DESCRIPTION_MAX: usize = 5000;

/// The invoice line's own description — the price's description, quantity
/// and unit, the arithmetic, allowance, tiers and minimum in words — which
/// the fold already keeps within [`STRIPE_DESCRIPTION_MAX`]; cut to it (with
/// `…`) should a stored invoice hold a longer one.
pub fn stripe_description(description: &str) -> String {
    if description.chars().count() <= STRIPE_DESCRIPTION_MAX {
        return description.to_owned();
    }
    let mut cut: String = description
        .chars()
        .take(STRIPE_DESCRIPTION_MAX - 1)
        .collect();
    cut.push('…');
    cut
}

/// The calls that turn `published` into `desired`: creates for new lines,
/// updates where amount or description changed, deletes for lines gone.
pub fn diff(desired: &[DesiredLine], published: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    for line in desired {
        match published.get(&line.line_id) {
            None => changes.push(Change::Create(line.clone())),
            Some(p) if p.amount != line.amount || p.description != line.description => changes
                .push(Change::Update {
                    item_id: p.item_id.clone(),
                    line: line.clone(),
                }),
            Some(_) => {}
        }
    }
    for (line_id, p) in published {
        if !desired.iter().any(|d| &d.line_id == line_id) {
            changes.push(Change::Delete {
                line_id: line_id.clone(),
                item_id: p.item_id.clone(),
            });
        }
    }
    changes
}

/// The idempotency key of one call: a hash of (invoice, version, operation,
/// line), so a retry of the same call repeats the key and nothing else does.
/// The sync's own calls use the keys below, which leave the version out.
pub fn idempotency_key(
    tag: &str,
    version: i64,
    operation: &str,
    line: &str,
) -> Result<IdempotencyKey, StripeError> {
    let digest = Sha256::digest(format!("{tag}\n{version}\n{operation}\n{line}").as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    IdempotencyKey::new(format!("billing-{operation}-v{version}-{hex}"))
}

/// One line of a Stripe invoice, as the verification before finalizing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeLine {
    /// `il_…`
    pub line_id: String,
    /// The invoice item behind it (`ii_…`), for lines made from items.
    pub item_id: Option<String>,
    /// `metadata.ledger_line_id`, on items we created.
    pub ledger_line: Option<String>,
    pub amount: i64,
    pub description: String,
}

/// What must change on a Stripe draft before it holds exactly the ledger's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// What Stripe holds for each ledger line (the first item of each; oldest first).
    pub snapshot: Snapshot,
    /// Items for a line that already has one: delete.
    pub duplicates: Vec<String>,
    /// Items of ours whose line the ledger no longer has: delete.
    pub stale: Vec<String>,
    /// Lines whose item differs from the ledger (amount or description): update.
    pub wrong: Vec<Change>,
    /// Ledger lines Stripe does not hold: create.
    pub missing: Vec<DesiredLine>,
    /// Lines that are not ours (no `ledger_line_id`, or no invoice item): we never
    /// touch them, so while there are any the invoice cannot match.
    pub foreign: Vec<StripeLine>,
}

impl Verification {
    /// Whether Stripe's lines are exactly the ledger's.
    pub fn matches(&self) -> bool {
        self.duplicates.is_empty()
            && self.stale.is_empty()
            && self.wrong.is_empty()
            && self.missing.is_empty()
            && self.foreign.is_empty()
    }

    /// The corrections ours to make (everything but foreign lines), counted.
    pub fn corrections(&self) -> usize {
        self.duplicates.len() + self.stale.len() + self.wrong.len() + self.missing.len()
    }

    /// The differences in words, for a parked invoice's error.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut list = |what: &str, items: Vec<String>| {
            if !items.is_empty() {
                parts.push(format!("{what}: {}", items.join(", ")));
            }
        };
        list("duplicate items", self.duplicates.clone());
        list("stale items", self.stale.clone());
        list(
            "lines with other amounts",
            self.wrong
                .iter()
                .map(|c| match c {
                    Change::Update { item_id, line } => {
                        format!("{} ({item_id} → {})", line.line_id, line.amount)
                    }
                    other => format!("{other:?}"),
                })
                .collect(),
        );
        list(
            "missing lines",
            self.missing
                .iter()
                .map(|l| format!("{} ({})", l.line_id, l.amount))
                .collect(),
        );
        list(
            "lines not from the ledger",
            self.foreign
                .iter()
                .map(|l| format!("{} ({})", l.line_id, l.amount))
                .collect(),
        );
        parts.join("; ")
    }
}

/// Compare what Stripe holds (`lines`, in the order they were added) with what the
/// ledger says it should (`desired`).
pub fn verify(desired: &[DesiredLine], lines: &[StripeLine]) -> Verification {
    let mut v = Verification::default();
    let wanted: BTreeMap<&str, &DesiredLine> =
        desired.iter().map(|d| (d.line_id.as_str(), d)).collect();
    for line in lines {
        let (Some(ledger_line), Some(item)) = (&line.ledger_line, &line.item_id) else {
            v.foreign.push(line.clone());
            continue;
        };
        if v.snapshot.contains_key(ledger_line) {
            v.duplicates.push(item.clone());
            continue;
        }
        let Some(want) = wanted.get(ledger_line.as_str()) else {
            v.stale.push(item.clone());
            continue;
        };
        if want.amount != line.amount || want.description != line.description {
            v.wrong.push(Change::Update {
                item_id: item.clone(),
                line: (*want).clone(),
            });
        }
        v.snapshot.insert(
            ledger_line.clone(),
            PublishedLine {
                item_id: item.clone(),
                amount: want.amount,
                description: want.description.clone(),
            },
        );
    }
    v.missing = desired
        .iter()
        .filter(|d| !v.snapshot.contains_key(&d.line_id))
        .cloned()
        .collect();
    v
}

// Keys of the sync's calls. Creates and state changes name the logical object and what
// is sent, never the invoice version: a daemon that takes an invoice over after a lapsed lease (and sees
// a newer version) sends the very keys the first one sent for the same object and
// content, so Stripe runs each such call once. Content that differs is a different
// call, and two of them can only race when a writer outlives its lease mid-request;
// the lease check before every write, recovery on takeover and the verification
// before finalizing keep such a duplicate from ever reaching a finalized invoice.

/// Creating the Stripe invoice for ledger invoice `tag` of `customer`.
pub fn invoice_create_key(tag: &str, customer: &str) -> Result<IdempotencyKey, StripeError> {
    idempotency_key(tag, 0, "invoice", customer)
}

/// Creating the item for `line` on Stripe invoice `stripe_invoice`.
pub fn item_create_key(
    stripe_invoice: &str,
    line: &DesiredLine,
) -> Result<IdempotencyKey, StripeError> {
    idempotency_key(stripe_invoice, 0, "item", &line.content_key())
}

/// Setting item `item_id` to what `line` says, in publish attempt `attempt`. Setting a
/// value twice is harmless, but replaying an old "set to X" after the item changed is
/// not (A→B, B→A, then A→B again would replay as nothing), so an update's key is only
/// repeated by the retries of one attempt.
pub fn item_update_key(
    item_id: &str,
    line: &DesiredLine,
    attempt: &str,
) -> Result<IdempotencyKey, StripeError> {
    idempotency_key(
        item_id,
        0,
        "item-update",
        &format!("{}\n{attempt}", line.content_key()),
    )
}

/// Finalizing (`operation = "finalize"`) or voiding (`"void"`) Stripe invoice `id`.
pub fn invoice_action_key(id: &str, operation: &str) -> Result<IdempotencyKey, StripeError> {
    idempotency_key(id, 0, operation, "")
}
