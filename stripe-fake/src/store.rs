//! The fake's in-memory state and Stripe's list pagination.

use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::StripeErr;
use crate::model::{Customer, Endpoint, Event, Invoice, InvoicePayment, Item, PaymentIntent};
use crate::params::Params;

/// Everything the fake knows, in creation order (oldest first).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub customers: Vec<Customer>,
    pub invoices: Vec<Invoice>,
    pub items: Vec<Item>,
    /// Events, oldest first.
    pub events: Vec<Event>,
    pub endpoints: Vec<Endpoint>,
    pub payment_intents: Vec<PaymentIntent>,
    pub invoice_payments: Vec<InvoicePayment>,
    /// Fake-only: the next payment attempt of these invoices fails with this decline code.
    pub fail_next: BTreeMap<String, String>,
    /// Creation order across all objects; list cursors compare by it.
    last_seq: u64,
}

/// A Stripe-looking id: `prefix_` and 24 alphanumerics.
pub(crate) fn new_id(prefix: &str) -> String {
    let raw = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_1{}", &raw[..23])
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// The next creation sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    /// Record that `kind` happened to `object` (delivered to endpoints by `webhooks`).
    pub fn emit(&mut self, kind: &str, object: Value) {
        let seq = self.next_seq();
        self.events.push(Event {
            id: new_id("evt"),
            seq,
            created: now_unix(),
            kind: kind.to_owned(),
            object,
        });
    }

    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.id == id)
    }

    pub fn invoice_index(&self, id: &str) -> Result<usize, StripeErr> {
        self.invoices
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| StripeErr::no_such("invoice", id, "id"))
    }

    pub fn payment_intent(&self, id: &str) -> Result<&PaymentIntent, StripeErr> {
        self.payment_intents
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| StripeErr::no_such("payment_intent", id, "intent"))
    }

    /// An invoice's payments, oldest first.
    pub fn payments_of(&self, invoice: &str) -> Vec<&InvoicePayment> {
        self.invoice_payments
            .iter()
            .filter(|p| p.invoice == invoice)
            .collect()
    }

    pub fn item_index(&self, id: &str) -> Result<usize, StripeErr> {
        self.items
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| StripeErr::no_such("invoiceitem", id, "id"))
    }

    /// An invoice's items in the order they were added.
    pub fn lines_of(&self, invoice: &str) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| i.invoice.as_deref() == Some(invoice))
            .collect()
    }
}

/// `limit` for list and search endpoints: 1 to 100, default 10.
pub(crate) fn limit(params: &Params) -> Result<usize, StripeErr> {
    match params.int("limit")? {
        None => Ok(10),
        Some(n @ 1..=100) => Ok(usize::try_from(n).unwrap_or(10)),
        Some(n) => Err(StripeErr::invalid(format!(
            "This value must be less than or equal to 100 (it currently is '{n}')."
        ))
        .param("limit")),
    }
}

/// What a list endpoint lists, in list order (by creation sequence).
pub(crate) struct Listing<'a, T> {
    pub items: Vec<&'a T>,
    pub seq: fn(&T) -> u64,
    /// Newest first (most lists) or oldest first (invoice lines).
    pub newest_first: bool,
    pub url: String,
    /// The object's name in "No such …" errors.
    pub object: &'static str,
}

/// One page per `limit`/`starting_after`/`ending_before`, as Stripe's list object.
/// Cursors are positions in creation order, so a cursor object that no longer matches
/// the filters (say, an invoice finalized between pages) still works; one that does not
/// exist at all (`cursor_seq` gives `None`) is `resource_missing`.
pub(crate) fn page<T>(
    listing: Listing<'_, T>,
    cursor_seq: impl Fn(&str) -> Option<u64>,
    render: impl Fn(&T) -> Value,
    params: &Params,
) -> Result<Value, StripeErr> {
    let limit = limit(params)?;
    let Listing {
        items,
        seq,
        newest_first,
        url,
        object,
    } = listing;
    let cursor = |param: &str, id: &str| {
        cursor_seq(id).ok_or_else(|| StripeErr::no_such_param(object, id, param))
    };
    // Whether `x` comes before the cursor `c` in list order.
    let before = |x: u64, c: u64| if newest_first { x > c } else { x < c };
    let (slice, has_more) = match (params.str("starting_after"), params.str("ending_before")) {
        (Some(_), Some(_)) => {
            return Err(StripeErr::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
            ))
        }
        (Some(after), None) => {
            let c = cursor("starting_after", after)?;
            let start = items.partition_point(|t| before(seq(t), c) || seq(t) == c);
            let end = (start + limit).min(items.len());
            (&items[start..end], end < items.len())
        }
        (None, Some(before_id)) => {
            let c = cursor("ending_before", before_id)?;
            let end = items.partition_point(|t| before(seq(t), c));
            let start = end.saturating_sub(limit);
            (&items[start..end], start > 0)
        }
        (None, None) => {
            let end = limit.min(items.len());
            (&items[..end], end < items.len())
        }
    };
    Ok(json!({
        "object": "list",
        "data": slice.iter().map(|t| render(t)).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": url,
    }))
}
