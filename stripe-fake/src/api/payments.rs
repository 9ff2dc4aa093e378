//! Payments: paying an invoice (or marking it paid out of band), writing it off,
//! webhook endpoints and the event list.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::error::StripeErr;
use crate::model::{render_endpoint, render_event, Endpoint, Event, Status};
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
    let inv = &mut store.invoices[idx];
    inv.attempt_count += 1;
    if let Some(decline_code) = declined {
        inv.next_payment_attempt =
            (inv.attempt_count < MAX_ATTEMPTS).then_some(now + RETRY_AFTER_SECS);
        let mut object = invoice_json(store, config, idx);
        // Stripe keeps the error on the payment attempt (the PaymentIntent's
        // `last_payment_error`); the fake embeds a copy in the event's invoice so the
        // ledger can show the decline without a PaymentIntent (docs/payments.md).
        if let Some(o) = object.as_object_mut() {
            o.insert(
                "last_payment_error".into(),
                json!({"type": "card_error", "code": "card_declined",
                       "decline_code": decline_code, "message": "Your card was declined."}),
            );
        }
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
    let object = invoice_json(store, config, idx);
    store.emit("invoice.payment_succeeded", object.clone());
    store.emit("invoice.paid", object.clone());
    Ok(object)
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
