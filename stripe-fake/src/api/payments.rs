//! Payments: paying an invoice (or marking it paid out of band), writing it off,
//! webhook endpoints and the event list.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::error::StripeErr;
use crate::model::{
    render_endpoint, render_event, render_invoice_payment, render_payment_intent, Endpoint, Event,
    InvoicePayment, PaymentIntent, Status,
};
use crate::params::{merged_metadata, Params};
use crate::store::{new_id, now_unix, page, Listing, Store};
use crate::FakeConfig;

/// Stripe's smart-retry schedule, simplified: 3 days after a failed attempt, at most
/// four attempts.
const RETRY_AFTER_SECS: i64 = 3 * 86_400;
const MAX_ATTEMPTS: i64 = 4;

fn invoice_json(store: &Store, config: &FakeConfig, idx: usize) -> Value {
    super::invoices::render_at(store, config, idx)
}

/// `POST /v1/invoices/{id}/pay`.
pub(super) fn pay(
    store: &mut Store,
    config: &FakeConfig,
    id: &str,
    p: &Params,
) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    let status = store.invoices[idx].status;
    match status {
        Status::Open | Status::Uncollectible => {}
        Status::Draft => {
            return Err(StripeErr::invalid(
                "This invoice is a draft; finalize it before paying it.",
            )
            .code("invoice_not_editable"))
        }
        Status::Paid => {
            return Err(StripeErr::invalid("Invoice is already paid").code("invoice_already_paid"))
        }
        Status::Void => {
            return Err(
                StripeErr::invalid("This invoice is void and cannot be paid.")
                    .code("invoice_not_editable"),
            )
        }
    }
    let now = now_unix();
    if p.bool("paid_out_of_band")?.unwrap_or(false) {
        let inv = &mut store.invoices[idx];
        inv.status = Status::Paid;
        inv.paid_at = Some(now);
        inv.next_payment_attempt = None;
        let object = invoice_json(store, config, idx);
        store.emit("invoice.paid", object.clone());
        return Ok(object);
    }
    let declined = store.fail_next.remove(id);
    let pi_idx = payment_intent_for(store, config, idx, now);
    let inv = &mut store.invoices[idx];
    inv.attempt_count += 1;
    if let Some(decline_code) = declined {
        inv.next_payment_attempt =
            (inv.attempt_count < MAX_ATTEMPTS).then_some(now + RETRY_AFTER_SECS);
        let pi = &mut store.payment_intents[pi_idx];
        pi.status = "requires_payment_method";
        pi.decline_code = Some(decline_code.clone());
        // As Stripe does: the error is on the PaymentIntent (`last_payment_error`),
        // the invoice event says only that the attempt failed.
        let intent = render_payment_intent(pi);
        store.emit("payment_intent.payment_failed", intent);
        let object = invoice_json(store, config, idx);
        store.emit("invoice.payment_failed", object);
        let mut err = StripeErr::new(
            StatusCode::PAYMENT_REQUIRED,
            "card_error",
            "Your card was declined.",
        )
        .code("card_declined");
        err.card = Some(Box::new(crate::error::CardDecline { decline_code }));
        return Err(err);
    }
    inv.status = Status::Paid;
    inv.paid_at = Some(now);
    inv.next_payment_attempt = None;
    let pi = &mut store.payment_intents[pi_idx];
    pi.status = "succeeded";
    pi.decline_code = None;
    let pi_id = pi.id.clone();
    let intent = render_payment_intent(pi);
    store.emit("payment_intent.succeeded", intent);
    if let Some(payment) = store
        .invoice_payments
        .iter_mut()
        .find(|p| p.payment_intent == pi_id)
    {
        payment.status = "paid";
        payment.paid_at = Some(now);
        let rendered = render_invoice_payment(payment);
        store.emit("invoice_payment.paid", rendered);
    }
    let object = invoice_json(store, config, idx);
    store.emit("invoice.payment_succeeded", object.clone());
    store.emit("invoice.paid", object.clone());
    Ok(object)
}

/// The invoice's PaymentIntent (and the invoice payment linking them), created at the
/// first attempt; every later attempt confirms the same one, as Stripe's retries do.
fn payment_intent_for(store: &mut Store, config: &FakeConfig, idx: usize, now: i64) -> usize {
    let invoice_id = store.invoices[idx].id.clone();
    let existing = store
        .payments_of(&invoice_id)
        .first()
        .map(|p| p.payment_intent.clone());
    if let Some(pi) = existing {
        if let Some(i) = store.payment_intents.iter().position(|p| p.id == pi) {
            return i;
        }
    }
    let invoice = invoice_json(store, config, idx);
    let amount = invoice["amount_due"].as_i64().unwrap_or(0);
    let currency = store.invoices[idx].currency.clone();
    let pi = PaymentIntent {
        id: new_id("pi"),
        created: now,
        customer: store.invoices[idx].customer.clone(),
        amount,
        currency: currency.clone(),
        status: "requires_payment_method",
        decline_code: None,
    };
    store.invoice_payments.push(InvoicePayment {
        id: new_id("inpay"),
        created: now,
        invoice: invoice_id,
        payment_intent: pi.id.clone(),
        amount_requested: amount,
        currency,
        status: "open",
        paid_at: None,
    });
    store.payment_intents.push(pi);
    store.payment_intents.len() - 1
}

/// `GET /v1/payment_intents/{intent}`.
pub(super) fn retrieve_payment_intent(store: &Store, id: &str) -> Result<Value, StripeErr> {
    Ok(render_payment_intent(store.payment_intent(id)?))
}

/// `invoice.payments` when the request expands it (Stripe's *includable* field: never
/// in an invoice unless asked for with `expand[]=payments`).
pub(super) fn with_payments(store: &Store, invoice: &mut Value, p: &Params) {
    if !p.list("expand").iter().any(|e| e == "payments") {
        return;
    }
    let Some(id) = invoice["id"].as_str().map(str::to_owned) else {
        return;
    };
    // Newest first, like Stripe's list of an invoice's payments.
    let data: Vec<Value> = store
        .payments_of(&id)
        .iter()
        .rev()
        .map(|p| render_invoice_payment(p))
        .collect();
    invoice["payments"] = json!({
        "object": "list", "data": data, "has_more": false,
        "url": "/v1/invoice_payments",
    });
}

/// `POST /v1/invoices/{id}/mark_uncollectible`.
pub(super) fn mark_uncollectible(
    store: &mut Store,
    config: &FakeConfig,
    id: &str,
) -> Result<Value, StripeErr> {
    let idx = store.invoice_index(id)?;
    let inv = &mut store.invoices[idx];
    if inv.status != Status::Open {
        return Err(StripeErr::invalid(format!(
            "You can only mark open invoices uncollectible; this invoice is {}.",
            inv.status.as_str()
        ))
        .code("invoice_not_editable"));
    }
    inv.status = Status::Uncollectible;
    inv.marked_uncollectible_at = Some(now_unix());
    inv.next_payment_attempt = None;
    let object = invoice_json(store, config, idx);
    store.emit("invoice.marked_uncollectible", object.clone());
    Ok(object)
}

/// `POST /v1/webhook_endpoints`: the secret is in this answer only.
pub(super) fn create_endpoint(store: &mut Store, p: &Params) -> Result<Value, StripeErr> {
    let url = p
        .str("url")
        .ok_or_else(|| StripeErr::missing_param("url"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(StripeErr::invalid("Invalid URL: must be http(s).").param("url"));
    }
    let enabled = p.list("enabled_events");
    if enabled.is_empty() {
        return Err(StripeErr::missing_param("enabled_events"));
    }
    let endpoint = Endpoint {
        id: new_id("we"),
        created: now_unix(),
        url: url.to_owned(),
        secret: format!("whsec_{}", uuid::Uuid::new_v4().simple()),
        enabled_events: enabled,
        description: p.str("description").map(str::to_owned),
        metadata: merged_metadata(&Default::default(), p)?,
    };
    let body = render_endpoint(&endpoint, true);
    store.endpoints.push(endpoint);
    Ok(body)
}

/// `GET /v1/events`: newest first; `type` filters (`invoice.*` wildcards too).
pub(super) fn list_events(store: &Store, p: &Params) -> Result<Value, StripeErr> {
    let single = p.str("type");
    let types = p.list("types");
    let matches = |e: &Event| {
        let one = |t: &str| match t.strip_suffix(".*") {
            Some(prefix) => e.kind.starts_with(&format!("{prefix}.")),
            None => e.kind == t,
        };
        single.is_none_or(one) && (types.is_empty() || types.iter().any(|t| one(t)))
    };
    let newest_first: Vec<&Event> = store.events.iter().rev().filter(|e| matches(e)).collect();
    let listing = Listing {
        items: newest_first,
        seq: |e| e.seq,
        newest_first: true,
        url: "/v1/events".into(),
        object: "event",
    };
    let cursor = |id: &str| store.events.iter().find(|e| e.id == id).map(|e| e.seq);
    page(listing, cursor, render_event, p)
}
