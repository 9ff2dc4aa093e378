//! `/v1/invoiceitems`: items on draft invoices (or pending on the customer).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

use crate::error::StripeErr;
use crate::model::{render_item, Item, Status};
use crate::params::{merged_metadata, Params};
use crate::store::{new_id, now_unix, page, Listing, Store};
use crate::FakeConfig;

/// `amount`, or `unit_amount_decimal` × `quantity` rounded to a whole minor unit.
fn price(p: &Params, current: Option<&Item>) -> Result<(i64, i64, Decimal), StripeErr> {
    let quantity = p
        .int("quantity")?
        .or(current.map(|i| i.quantity))
        .unwrap_or(1);
    if quantity < 0 {
        return Err(StripeErr::invalid("Quantity must be non-negative.").param("quantity"));
    }
    match (p.int("amount")?, p.decimal("unit_amount_decimal")?) {
        (Some(_), Some(_)) => Err(StripeErr::invalid(
            "You may only specify one of these parameters: amount, unit_amount_decimal.",
        )),
        (Some(amount), None) => {
            if p.has("quantity") && quantity != 1 {
                return Err(StripeErr::invalid(
                    "When `amount` is passed, `quantity` must be 1 (pass `unit_amount_decimal` instead).",
                )
                .param("quantity"));
            }
            Ok((amount, 1, Decimal::from(amount)))
        }
        (None, unit) => {
            let unit = match (unit, current) {
                (Some(u), _) => u,
                (None, Some(item)) => item.unit_amount_decimal,
                (None, None) => return Err(StripeErr::missing_param("amount")),
            };
            let amount = (unit * Decimal::from(quantity))
                .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                .to_i64()
                .ok_or_else(|| {
                    StripeErr::invalid("The amount is too large.").param("unit_amount_decimal")
                })?;
            Ok((amount, quantity, unit))
        }
    }
}

fn period(p: &Params, current: (i64, i64)) -> Result<(i64, i64), StripeErr> {
    if !p.has("period") {
        return Ok(current);
    }
    let start = p
        .field_int("period", "start")?
        .ok_or_else(|| StripeErr::missing_param("period[start]"))?;
    let end = p
        .field_int("period", "end")?
        .ok_or_else(|| StripeErr::missing_param("period[end]"))?;
    if end < start {
        return Err(
            StripeErr::invalid("The period end must be after its start.").param("period[end]"),
        );
    }
    Ok((start, end))
}

/// Items can only change while their invoice is a draft.
fn editable(store: &Store, invoice: Option<&str>, param: &str) -> Result<(), StripeErr> {
    let Some(id) = invoice else { return Ok(()) };
    let idx = store
        .invoice_index(id)
        .map_err(|_| StripeErr::no_such_param("invoice", id, param))?;
    let inv = &store.invoices[idx];
    if inv.status != Status::Draft {
        return Err(StripeErr::invalid(format!(
            "Invoice {id} is no longer editable: invoice items can only be added to or changed on draft invoices."
        ))
        .code("invoice_not_editable")
        .param(param));
    }
    Ok(())
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
    let invoice = p.str("invoice");
    editable(store, invoice, "invoice")?;
    let invoice_currency = match invoice {
        Some(id) => {
            let inv = &store.invoices[store.invoice_index(id)?];
            if inv.customer != customer {
                return Err(StripeErr::invalid(format!(
                    "The invoice {id} belongs to a different customer."
                ))
                .param("invoice"));
            }
            if store.lines_of(id).len() >= config.max_items_per_invoice {
                return Err(StripeErr::invalid(format!(
                    "You can add at most {} invoice items to an invoice.",
                    config.max_items_per_invoice
                ))
                .param("invoice"));
            }
            Some(inv.currency.clone())
        }
        None => None,
    };
    let currency = match (p.str("currency"), invoice_currency) {
        (Some(c), Some(ic)) if c != ic => {
            return Err(StripeErr::invalid(format!(
                "The currency of the invoice item ({c}) must match the invoice's ({ic})."
            ))
            .param("currency"))
        }
        (Some(c), _) => c.to_owned(),
        (None, Some(ic)) => ic,
        (None, None) => return Err(StripeErr::missing_param("currency")),
    };
    let (amount, quantity, unit) = price(p, None)?;
    let now = now_unix();
    let item = Item {
        id: new_id("ii"),
        seq: store.next_seq(),
        line_id: new_id("il"),
        created: now,
        customer: customer.to_owned(),
        invoice: invoice.map(str::to_owned),
        amount,
        currency,
        description: p.str("description").map(str::to_owned),
        metadata: merged_metadata(&Default::default(), p)?,
        period: period(p, (now, now))?,
        quantity,
        unit_amount_decimal: unit,
    };
    let rendered = render_item(&item);
    store.items.push(item);
    Ok(rendered)
}

pub(super) fn retrieve(store: &Store, id: &str) -> Result<Value, StripeErr> {
    Ok(render_item(&store.items[store.item_index(id)?]))
}

pub(super) fn update(store: &mut Store, id: &str, p: &Params) -> Result<Value, StripeErr> {
    let idx = store.item_index(id)?;
    let current = &store.items[idx];
    editable(store, current.invoice.as_deref(), "id")?;
    let priced = if ["amount", "unit_amount_decimal", "quantity"]
        .iter()
        .any(|k| p.has(k))
    {
        Some(price(p, Some(current))?)
    } else {
        None
    };
    let span = period(p, current.period)?;
    let metadata = merged_metadata(&current.metadata, p)?;
    let item = &mut store.items[idx];
    if let Some((amount, quantity, unit)) = priced {
        (item.amount, item.quantity, item.unit_amount_decimal) = (amount, quantity, unit);
    }
    if let Some(d) = p.str("description") {
        item.description = (!d.is_empty()).then(|| d.to_owned());
    }
    item.period = span;
    item.metadata = metadata;
    Ok(render_item(item))
}

pub(super) fn delete(store: &mut Store, id: &str) -> Result<Value, StripeErr> {
    let idx = store.item_index(id)?;
    editable(store, store.items[idx].invoice.as_deref(), "id")?;
    store.items.remove(idx);
    Ok(json!({ "id": id, "object": "invoiceitem", "deleted": true }))
}

pub(super) fn list(store: &Store, p: &Params) -> Result<Value, StripeErr> {
    let (customer, invoice, pending) = (p.str("customer"), p.str("invoice"), p.bool("pending")?);
    let newest_first: Vec<&Item> = store
        .items
        .iter()
        .rev()
        .filter(|i| customer.is_none_or(|c| i.customer == c))
        .filter(|i| invoice.is_none_or(|v| i.invoice.as_deref() == Some(v)))
        .filter(|i| pending.is_none_or(|want| i.invoice.is_none() == want))
        .collect();
    let listing = Listing {
        items: newest_first,
        seq: |i| i.seq,
        newest_first: true,
        url: "/v1/invoiceitems".into(),
        object: "invoiceitem",
    };
    let cursor = |id: &str| store.items.iter().find(|i| i.id == id).map(|i| i.seq);
    page(listing, cursor, render_item, p)
}
