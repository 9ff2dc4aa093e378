//! The objects the fake keeps, and how they render as Stripe JSON.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::time::Instant;

pub(crate) type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub id: String,
    /// Creation sequence, for list cursors.
    pub seq: u64,
    pub created: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub invoice_prefix: String,
    pub next_invoice_sequence: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
            Self::Uncollectible => "uncollectible",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Invoice {
    pub id: String,
    /// Creation sequence, for list cursors.
    pub seq: u64,
    pub created: i64,
    pub customer: String,
    pub status: Status,
    pub currency: String,
    pub auto_advance: bool,
    pub collection_method: String,
    pub days_until_due: Option<i64>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub number: Option<String>,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
    /// Payment attempts made (`POST /v1/invoices/{id}/pay`).
    pub attempt_count: i64,
    /// After a failed attempt: when Stripe's retry schedule tries again.
    pub next_payment_attempt: Option<i64>,
    /// What search sees: `(visible from, metadata then)`, oldest first.
    pub search_index: Vec<(Instant, Metadata)>,
}

impl Invoice {
    pub fn due_date(&self) -> Option<i64> {
        self.days_until_due.map(|d| self.created + d * 86_400)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: String,
    /// Creation sequence, for list cursors.
    pub seq: u64,
    pub line_id: String,
    pub created: i64,
    pub customer: String,
    pub invoice: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub period: (i64, i64),
    pub quantity: i64,
    pub unit_amount_decimal: Decimal,
}

pub(crate) fn render_customer(c: &Customer) -> Value {
    json!({
        "id": c.id, "object": "customer", "address": null, "balance": 0, "created": c.created,
        "currency": null, "default_source": null, "delinquent": false,
        "description": c.description, "discount": null, "email": c.email,
        "invoice_prefix": c.invoice_prefix,
        "invoice_settings": { "custom_fields": null, "default_payment_method": null,
                              "footer": null, "rendering_options": null },
        "livemode": false, "metadata": c.metadata, "name": c.name,
        "next_invoice_sequence": c.next_invoice_sequence, "phone": null,
        "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
    })
}

/// `pricing` of a one-off item or its line: no Price object, the unit amount as a
/// decimal string.
fn pricing(i: &Item) -> Value {
    json!({ "type": null, "unit_amount_decimal": i.unit_amount_decimal.normalize().to_string() })
}

/// An invoice item as API version 2025-03-31 and later render it (`pricing` and `parent`
/// instead of the top-level `price`, `unit_amount` and `unit_amount_decimal`). The
/// fields are those of Stripe's example object (`openapi/stripe-fixtures.json`).
pub(crate) fn render_item(i: &Item) -> Value {
    json!({
        "id": i.id, "object": "invoiceitem", "amount": i.amount, "currency": i.currency,
        "customer": i.customer, "customer_account": null, "date": i.created,
        "description": i.description, "discountable": true, "discounts": [],
        "invoice": i.invoice, "livemode": false, "metadata": i.metadata,
        "net_amount": i.amount, "parent": null,
        "period": { "start": i.period.0, "end": i.period.1 }, "pricing": pricing(i),
        "proration": false, "quantity": i.quantity,
        "quantity_decimal": i.quantity.to_string(), "tax_rates": [], "test_clock": null,
    })
}

/// An invoice line as API version 2025-03-31 and later render it: the invoice item it
/// comes from is `parent.invoice_item_details.invoice_item` (no top-level `type` or
/// `invoice_item` any more).
pub(crate) fn render_line(i: &Item) -> Value {
    json!({
        "id": i.line_id, "object": "line_item", "amount": i.amount, "currency": i.currency,
        "description": i.description, "discount_amounts": [], "discountable": true,
        "discounts": [], "invoice": i.invoice, "livemode": false, "metadata": i.metadata,
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": i.id, "proration": false,
                "proration_details": { "credited_items": null }, "subscription": null,
            },
            "subscription_item_details": null,
        },
        "period": { "start": i.period.0, "end": i.period.1 },
        "pretax_credit_amounts": [], "pricing": pricing(i), "quantity": i.quantity,
        "quantity_decimal": i.quantity.to_string(), "subscription": null,
        "subtotal": i.amount, "taxes": [],
    })
}

/// An invoice with its first `lines` embedded as a list object.
pub(crate) fn render_invoice(
    inv: &Invoice,
    customer: Option<&Customer>,
    lines: &[&Item],
    embedded: usize,
) -> Value {
    let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
    let total = subtotal;
    let amount_paid = if inv.status == Status::Paid { total } else { 0 };
    let amount_remaining = total - amount_paid;
    let shown: Vec<Value> = lines
        .iter()
        .take(embedded)
        .map(|l| render_line(l))
        .collect();
    json!({
        "id": inv.id, "object": "invoice", "account_country": "US",
        "account_name": "Stripe fake", "account_tax_ids": null, "amount_due": total,
        "amount_overpaid": 0, "amount_paid": amount_paid,
        "amount_remaining": amount_remaining, "amount_shipping": 0, "application": null,
        "attempt_count": inv.attempt_count,
        "attempted": inv.status == Status::Paid || inv.attempt_count > 0,
        "auto_advance": inv.auto_advance,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null,
                           "provider": null, "status": null },
        "automatically_finalizes_at": null, "billing_reason": "manual",
        "collection_method": inv.collection_method, "created": inv.created,
        "currency": inv.currency, "custom_fields": null, "customer": inv.customer,
        "customer_account": null, "customer_address": null,
        "customer_email": customer.and_then(|c| c.email.clone()),
        "customer_name": customer.and_then(|c| c.name.clone()), "customer_phone": null,
        "customer_shipping": null, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": null, "default_source": null, "default_tax_rates": [],
        "description": inv.description, "discounts": [], "due_date": inv.due_date(),
        "effective_at": inv.finalized_at,
        "ending_balance": if inv.status == Status::Draft { Value::Null } else { json!(0) },
        "footer": null, "from_invoice": null, "hosted_invoice_url": null,
        "invoice_pdf": null, "issuer": { "type": "self" }, "last_finalization_error": null,
        "latest_revision": null,
        "lines": {
            "object": "list", "data": shown, "has_more": lines.len() > embedded,
            "url": format!("/v1/invoices/{}/lines", inv.id),
        },
        "livemode": false, "metadata": inv.metadata, "next_payment_attempt": inv.next_payment_attempt,
        "number": inv.number, "on_behalf_of": null, "parent": null,
        "payment_settings": { "default_mandate": null, "payment_method_options": null,
                              "payment_method_types": null },
        "period_end": inv.created, "period_start": inv.created,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": null, "rendering": null, "shipping_cost": null,
        "shipping_details": null, "starting_balance": 0, "statement_descriptor": null,
        "status": inv.status.as_str(),
        "status_transitions": {
            "finalized_at": inv.finalized_at,
            "marked_uncollectible_at": inv.marked_uncollectible_at,
            "paid_at": inv.paid_at, "voided_at": inv.voided_at,
        },
        "subscription": null, "subtotal": subtotal, "subtotal_excluding_tax": subtotal,
        "test_clock": null, "total": total, "total_discount_amounts": [],
        "total_excluding_tax": total, "total_pretax_credit_amounts": [], "total_taxes": [],
        "webhooks_delivered_at": null,
    })
}

/// Something that happened, as `GET /v1/events` lists it and webhooks deliver it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: String,
    /// Creation sequence, for list cursors.
    pub seq: u64,
    pub created: i64,
    pub kind: String,
    /// The object as it was when the event happened.
    pub object: Value,
}

/// A registered webhook endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub id: String,
    pub created: i64,
    pub url: String,
    /// `whsec_…`, shown once, when created.
    pub secret: String,
    /// Event types to deliver; `*` for all.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

impl Endpoint {
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

pub(crate) fn render_event(e: &Event) -> Value {
    json!({
        "id": e.id, "object": "event", "account": null, "api_version": crate::API_VERSION,
        "context": null, "created": e.created, "data": { "object": e.object },
        "livemode": false, "pending_webhooks": 0,
        "request": { "id": null, "idempotency_key": null }, "type": e.kind,
    })
}

pub(crate) fn render_endpoint(ep: &Endpoint, with_secret: bool) -> Value {
    let mut value = json!({
        "id": ep.id, "object": "webhook_endpoint", "api_version": null, "application": null,
        "created": ep.created, "description": ep.description,
        "enabled_events": ep.enabled_events, "livemode": false, "metadata": ep.metadata,
        "status": "enabled", "url": ep.url,
    });
    if with_secret {
        value["secret"] = json!(ep.secret);
    }
    value
}

/// A PaymentIntent: how Stripe collects an invoice. One per invoice, reused by every
/// attempt (a retry confirms it again); the link to the invoice is an
/// [`InvoicePayment`] — since API version 2025-03-31 the PaymentIntent has no
/// `invoice` field and the invoice no `payment_intent`.
#[derive(Debug, Clone)]
pub(crate) struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub amount: i64,
    pub currency: String,
    /// `requires_payment_method` (after a decline), `succeeded`.
    pub status: &'static str,
    /// The last attempt's decline code, if it was declined.
    pub decline_code: Option<String>,
}

/// An invoice's payment: the invoice, the PaymentIntent collecting it and how much.
#[derive(Debug, Clone)]
pub(crate) struct InvoicePayment {
    pub id: String,
    pub created: i64,
    pub invoice: String,
    pub payment_intent: String,
    pub amount_requested: i64,
    pub currency: String,
    /// `open`, `paid`.
    pub status: &'static str,
    pub paid_at: Option<i64>,
}

/// A card decline as Stripe keeps it on the PaymentIntent (`last_payment_error`, an
/// `api_errors` object).
pub(crate) fn card_decline(decline_code: &str) -> Value {
    json!({
        "type": "card_error", "code": "card_declined", "decline_code": decline_code,
        "message": "Your card was declined.",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    })
}

/// A PaymentIntent with the fields of Stripe's example object of the current version.
pub(crate) fn render_payment_intent(pi: &PaymentIntent) -> Value {
    let received = if pi.status == "succeeded" {
        pi.amount
    } else {
        0
    };
    json!({
        "id": pi.id, "object": "payment_intent", "amount": pi.amount,
        "amount_capturable": 0, "amount_details": { "tip": {} },
        "amount_received": received, "application": null, "application_fee_amount": null,
        "automatic_payment_methods": null, "canceled_at": null, "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": format!("{}_secret_fake", pi.id),
        "confirmation_method": "automatic", "created": pi.created, "currency": pi.currency,
        "customer": pi.customer, "customer_account": null,
        "description": "Payment for Invoice", "excluded_payment_method_types": null,
        "last_payment_error": pi.decline_code.as_deref().map(card_decline),
        "latest_charge": null, "livemode": false, "managed_payments": null,
        "metadata": {}, "next_action": null, "on_behalf_of": null, "payment_method": null,
        "payment_method_configuration_details": null, "payment_method_options": {},
        "payment_method_types": ["card"], "processing": null, "receipt_email": null,
        "review": null, "setup_future_usage": null, "shipping": null, "source": null,
        "statement_descriptor": null, "statement_descriptor_suffix": null,
        "status": pi.status, "transfer_data": null, "transfer_group": null,
    })
}

/// An invoice payment (`invoice.payments`, includable) as the current version renders it.
pub(crate) fn render_invoice_payment(p: &InvoicePayment) -> Value {
    json!({
        "id": p.id, "object": "invoice_payment",
        "amount_paid": if p.status == "paid" { Some(p.amount_requested) } else { None },
        "amount_requested": p.amount_requested, "created": p.created,
        "currency": p.currency, "invoice": p.invoice, "is_default": true,
        "livemode": false,
        "payment": { "type": "payment_intent", "payment_intent": p.payment_intent },
        "status": p.status,
        "status_transitions": { "canceled_at": null, "paid_at": p.paid_at },
    })
}
