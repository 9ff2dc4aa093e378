//! `/v1/invoices`: one-off drafts, their lifecycle, and their lines.

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::StripeErr;
use crate::model::{render_invoice, render_line, Invoice, Status};
use crate::params::{merged_metadata, Params};
use crate::store::{new_id, now_unix, page, Listing, Store};
use crate::FakeConfig;

fn render(store: &Store, config: &FakeConfig, inv: &Invoice) -> Value {
    let lines = store.lines_of(&inv.id);
    render_invoice(
        inv,
        store.customer(&inv.customer),
        &lines,
        config.embedded_lines,
    )
}

pub(super) fn render_at(store: &Store, config: &FakeConfig, idx: usize) -> Value {
    render(store, config, &store.invoices[idx])
}

/// Stripe's rule: `days_until_due` only with `send_invoice`, which requires it here.
fn check_due(method: &str, days: Option<i64>) -> Result<(), StripeErr> {
    match (method, days) {
        ("send_invoice", None) => Err(StripeErr::missing_param("days_until_due")),
        ("charge_automatically", Some(_)) => Err(StripeErr::invalid(
            "You may only specify `days_until_due` for invoices with `collection_method=send_invoice`.",
        )
        .param("days_until_due")),
        (_, Some(d)) if d < 0 => {
            Err(StripeErr::invalid("days_until_due must be non-negative.").param("days_until_due"))
        }
        _ => Ok(()),
    }
}

fn index_for_search(inv: &mut Invoice, config: &FakeConfig) {
    let visible = Instant::now() + config.search_index_delay;
    inv.search_index.push((visible, inv.metadata.clone()));
}

pub(super) fn create(
    store: &mut Store,
    config: &FakeConfig,
    p: &Params,
) -> Result<Value, StripeErr> {
    let customer = p
        .str("customer")
        .ok_or_else(|| StripeErr::missing_param("customer"))?;
    if store.customer(customer).is_none() {
        return Err(StripeErr::no_such_param("customer", customer, "customer"));
    }
    let method = p.str("collection_method").unwrap_or("charge_automatically");
    let days = p.int("days_until_due")?;
    check_due(method, days)?;
    let currency = p.str("currency").unwrap_or("usd").to_owned();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(StripeErr::invalid(format!("Invalid currency: {currency}.")).param("currency"));
    }
    let mut inv = Invoice {
        id: new_id("in"),
        seq: store.next_seq(),
        created: now_unix(),
        customer: customer.to_owned(),
        status: Status::Draft,
        currency,
        auto_advance: p.bool("auto_advance")?.unwrap_or(false),
        collection_method: method.to_owned(),
        days_until_due: days,
        description: p.str("description").map(str::to_owned),
        metadata: merged_metadata(&Default::default(), p)?,
        number: None,
        finalized_at: None,
        paid_at: None,
        voided_at: None,
        marked_uncollectible_at: None,
        attempt_count: 0,
        next_payment_attempt: None,
        search_index: Vec::new(),
    };
    index_for_search(&mut inv, config);
    if p.str("pending_invoice_items_behavior") == Some("include") {
        let mut pending = store
            .items
            .iter_mut()
            .filter(|i| i.invoice.is_none() && i.customer == inv.customer)
            .take(config.max_items_per_invoice);
        for item in &mut pending {
            item.invoice = Some(inv.id.clone());
        }
    }
    store.invoices.push(inv);
    Ok(render_at(store, config, store.invoices.len() - 1))
}

pub(super) fn retrieve(store: &Store, config: &FakeConfig, id: &str) -> Result<Value, StripeErr> {
    Ok(render_at(store, config, store.invoice_index(id)?))
}

pub(super) fn list(store: &Store, config: &FakeConfig, p: &Params) -> Result<Value, StripeErr> {
    let (customer, status, method) = (
        p.str("customer"),
        p.str("status"),
        p.str("collection_method"),
    );
    let newest_first: Vec<&Invoice> = store
        .invoices
        .iter()
        .rev()
        .filter(|i| customer.is_none_or(|c| i.customer == c))
        .filter(|i| status.is_none_or(|s| i.status.as_str() == s))
        .filter(|i| method.is_none_or(|m| i.collection_method == m))
        .collect();
    let listing = Listing {
        items: newest_first,
        seq: |i| i.seq,
        newest_first: true,
        url: "/v1/invoices".into(),
        object: "invoice",
    };
    let cursor = |id: &str| store.invoices.iter().find(|i| i.id == id).map(|i| i.seq);
    page(listing, cursor, |i| render(store, config, i), p)
}

pub(super) fn update(
    store: &mut Store,
    config: &FakeConfig,
    id: &str,
    p: &Params,
) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    let inv = &store.invoices[idx];
    let draft_only = ["collection_method", "days_until_due"];
    if inv.status != Status::Draft {
        if let Some(field) = draft_only.iter().find(|f| p.has(f)) {
            return Err(StripeErr::invalid(format!(
                "You can only update `{field}` on draft invoices."
            ))
            .code("invoice_not_editable")
            .param(*field));
        }
    }
    let method = p
        .str("collection_method")
        .unwrap_or(&inv.collection_method)
        .to_owned();
    let days = match p.int("days_until_due")? {
        Some(d) => Some(d),
        None if method == "send_invoice" => inv.days_until_due,
        None => None,
    };
    check_due(&method, days)?;
    let metadata = merged_metadata(&inv.metadata, p)?;
    let auto_advance = p.bool("auto_advance")?;
    let inv = &mut store.invoices[idx];
    inv.collection_method = method;
    inv.days_until_due = days;
    if let Some(a) = auto_advance {
        inv.auto_advance = a;
    }
    if let Some(d) = p.str("description") {
        inv.description = (!d.is_empty()).then(|| d.to_owned());
    }
    if p.has("metadata") {
        inv.metadata = metadata;
        index_for_search(inv, config);
    }
    Ok(render_at(store, config, idx))
}

pub(super) fn delete(store: &mut Store, id: &str) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    if store.invoices[idx].status != Status::Draft {
        return Err(
            StripeErr::invalid("You can only delete draft invoices.").code("invoice_not_editable")
        );
    }
    store.invoices.remove(idx);
    store.items.retain(|i| i.invoice.as_deref() != Some(id));
    Ok(json!({ "id": id, "object": "invoice", "deleted": true }))
}

pub(super) fn finalize(
    store: &mut Store,
    config: &FakeConfig,
    id: &str,
    p: &Params,
) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    if store.invoices[idx].status != Status::Draft {
        return Err(StripeErr::invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
        )
        .code("invoice_not_editable"));
    }
    let total: i64 = store.lines_of(id).iter().map(|l| l.amount).sum();
    let auto_advance = p.bool("auto_advance")?;
    let customer_id = store.invoices[idx].customer.clone();
    let number = match store.customers.iter_mut().find(|c| c.id == customer_id) {
        Some(c) => {
            let n = format!("{}-{:04}", c.invoice_prefix, c.next_invoice_sequence);
            c.next_invoice_sequence += 1;
            n
        }
        None => format!("FAKE-{:04}", idx + 1),
    };
    let now = now_unix();
    let inv = &mut store.invoices[idx];
    inv.number = Some(number);
    inv.finalized_at = Some(now);
    if let Some(a) = auto_advance {
        inv.auto_advance = a;
    }
    // As in Stripe, an invoice with nothing to pay is paid on finalization.
    let paid = total <= 0;
    if paid {
        inv.status = Status::Paid;
        inv.paid_at = Some(now);
    } else {
        inv.status = Status::Open;
    }
    let object = render_at(store, config, idx);
    store.emit("invoice.finalized", object.clone());
    if paid {
        store.emit("invoice.paid", object.clone());
    }
    Ok(object)
}

pub(super) fn void(store: &mut Store, config: &FakeConfig, id: &str) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    let inv = &mut store.invoices[idx];
    if !matches!(inv.status, Status::Open | Status::Uncollectible) {
        return Err(StripeErr::invalid(format!(
            "You can only void open invoices; this invoice is {}.",
            inv.status.as_str()
        ))
        .code("invoice_not_editable"));
    }
    inv.status = Status::Void;
    inv.voided_at = Some(now_unix());
    let object = render_at(store, config, idx);
    store.emit("invoice.voided", object.clone());
    Ok(object)
}

pub(super) fn lines(store: &Store, id: &str, p: &Params) -> Result<Value, StripeErr> {
    store.invoice_index(id)?;
    let listing = Listing {
        items: store.lines_of(id),
        seq: |l| l.seq,
        newest_first: false,
        url: format!("/v1/invoices/{id}/lines"),
        object: "line item",
    };
    let cursor = |line: &str| {
        store
            .items
            .iter()
            .find(|i| i.line_id == line)
            .map(|i| i.seq)
    };
    page(listing, cursor, render_line, p)
}
