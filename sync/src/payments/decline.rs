//! The decline reason, where Stripe keeps it. An `invoice.payment_failed`
//! event says only that an attempt failed (Stripe's invoice has no
//! `last_payment_error`); why is on the attempt's PaymentIntent, which since
//! API version 2025-03-31 is linked to the invoice only by an
//! `invoice_payment` (the invoice's includable `payments`). So for each
//! failure event the catch-up reads the invoice's newest PaymentIntent
//! payment and that PaymentIntent's `last_payment_error`, and records it as
//! [`InvoicePaymentDeclined`] keyed by the failure's event id
//! (`stripe-decline:<evt id>`): once, whichever path brought the failure.
//! The API process makes no Stripe call; the reason shows within one
//! catch-up interval of the failure.

use ledger::event::InvoicePaymentDeclined;
use ledger::LedgerEvent;

use super::apply::{Applied, PaymentApplier};
use super::event::{InvoiceObject, StripeEvent};
use crate::error::SyncError;
use crate::stripe::{StripeApi, StripeError};

/// The idempotency key of the decline fact explaining failure event `id`.
pub fn decline_key(stripe_event_id: &str) -> String {
    format!("stripe-decline:{stripe_event_id}")
}

/// For an `invoice.payment_failed` event of one of our invoices: record the
/// failed attempt's decline reason. `Ignored` when there is none to record
/// (another event type, no PaymentIntent, no error left on it — paid since,
/// or the objects are gone); `Duplicate` when it is already recorded.
pub async fn record_decline(
    applier: &PaymentApplier,
    api: &dyn StripeApi,
    event: &StripeEvent,
) -> Result<Applied, SyncError> {
    if event.kind != "invoice.payment_failed" {
        return Ok(Applied::Ignored);
    }
    let Ok(invoice) = serde_json::from_value::<InvoiceObject>(event.data.object.clone()) else {
        return Ok(Applied::Ignored);
    };
    let Some(key) = applier
        .match_invoice(&invoice.id, invoice.metadata.as_ref())
        .await?
    else {
        return Ok(Applied::Unmatched);
    };
    let payments = match api.invoice_payments(&invoice.id).await {
        Ok(p) => p,
        Err(e) if gone(&e) => return Ok(Applied::Ignored),
        Err(e) => return Err(e.into()),
    };
    // The newest attempt by PaymentIntent (a retry confirms the same one).
    let newest = payments
        .iter()
        .filter(|p| p.payment.kind == "payment_intent")
        .filter_map(|p| p.payment.payment_intent.as_ref().map(|pi| (p.created, pi)))
        .max_by_key(|(created, _)| *created)
        .map(|(_, pi)| pi.id().to_owned());
    let Some(payment_intent_id) = newest else {
        return Ok(Applied::Ignored);
    };
    let intent = match api.retrieve_payment_intent(&payment_intent_id).await {
        Ok(pi) => pi,
        Err(e) if gone(&e) => return Ok(Applied::Ignored),
        Err(e) => return Err(e.into()),
    };
    let Some(error) = intent.last_payment_error else {
        return Ok(Applied::Ignored);
    };
    if error.decline_code.is_none() && error.code.is_none() && error.message.is_none() {
        return Ok(Applied::Ignored);
    }
    let fact = LedgerEvent::InvoicePaymentDeclined(InvoicePaymentDeclined {
        invoice: key.clone(),
        stripe_invoice_id: invoice.id.clone(),
        stripe_event_id: event.id.clone(),
        payment_intent_id,
        decline_code: error.decline_code,
        code: error.code,
        message: error.message,
    });
    let stored = applier
        .append(
            &key.stream(),
            &fact,
            event,
            decline_key(&event.id),
            "catch-up",
        )
        .await?;
    Ok(if stored {
        Applied::Recorded
    } else {
        Applied::Duplicate
    })
}

fn gone(e: &StripeError) -> bool {
    e.status() == Some(404)
}
