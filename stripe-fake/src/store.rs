//! The fake's in-memory state and Stripe's list pagination.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::StripeErr;
use crate::model::{Customer, Invoice, Item};
use crate::params::Params;

/// Everything the fake knows, in creation order (oldest first).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub customers: Vec<Customer>,
    pub invoices: Vec<Invoice>,
    pub items: Vec<Item>,
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
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.id == id)
    }

    pub fn invoice_index(&self, id: &str) -> Result<usize, StripeErr> {
        self.invoices
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| StripeErr::no_such("invoice", id, "id"))
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

/// One page of `all` (already in list order) per `limit`/`starting_after`/`ending_before`,
/// rendered as Stripe's list object.
pub(crate) fn page<T>(
    all: &[T],
    id_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
    params: &Params,
    url: &str,
    object: &str,
) -> Result<Value, StripeErr> {
    let limit = limit(params)?;
    let position = |param: &str, id: &str| {
        all.iter()
            .position(|o| id_of(o) == id)
            .ok_or_else(|| StripeErr::no_such_param(object, id, param))
    };
    let (slice, has_more) = match (params.str("starting_after"), params.str("ending_before")) {
        (Some(_), Some(_)) => {
            return Err(StripeErr::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
            ))
        }
        (Some(after), None) => {
            let start = position("starting_after", after)? + 1;
            let end = (start + limit).min(all.len());
            (&all[start..end], end < all.len())
        }
        (None, Some(before)) => {
            let end = position("ending_before", before)?;
            let start = end.saturating_sub(limit);
            (&all[start..end], start > 0)
        }
        (None, None) => {
            let end = limit.min(all.len());
            (&all[..end], end < all.len())
        }
    };
    Ok(json!({
        "object": "list",
        "data": slice.iter().map(render).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": url,
    }))
}
