//! The objects the fake keeps, and how they render as Stripe JSON.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
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
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
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

fn unit_amount(d: &Decimal) -> Value {
    match d.fract().is_zero().then(|| d.to_i64()).flatten() {
        Some(whole) => json!(whole),
        None => Value::Null,
    }
}

pub(crate) fn render_item(i: &Item) -> Value {
    json!({
        "id": i.id, "object": "invoiceitem", "amount": i.amount, "currency": i.currency,
        "customer": i.customer, "date": i.created, "description": i.description,
        "discountable": true, "discounts": [], "invoice": i.invoice, "livemode": false,
        "metadata": i.metadata, "period": { "start": i.period.0, "end": i.period.1 },
        "price": null, "proration": false, "quantity": i.quantity, "subscription": null,
        "tax_rates": [], "test_clock": null, "unit_amount": unit_amount(&i.unit_amount_decimal),
        "unit_amount_decimal": i.unit_amount_decimal.normalize().to_string(),
    })
}

pub(crate) fn render_line(i: &Item) -> Value {
    json!({
        "id": i.line_id, "object": "line_item", "amount": i.amount,
        "amount_excluding_tax": i.amount, "currency": i.currency,
        "description": i.description, "discount_amounts": [], "discountable": true,
        "discounts": [], "invoice_item": i.id, "livemode": false, "metadata": i.metadata,
        "period": { "start": i.period.0, "end": i.period.1 }, "price": null,
        "proration": false, "proration_details": { "credited_items": null },
        "quantity": i.quantity, "subscription": null, "tax_amounts": [], "tax_rates": [],
        "type": "invoiceitem",
        "unit_amount_excluding_tax": i.unit_amount_decimal.normalize().to_string(),
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
        "amount_paid": amount_paid, "amount_remaining": amount_remaining,
        "amount_shipping": 0, "application": null, "application_fee_amount": null,
        "attempt_count": 0, "attempted": inv.status == Status::Paid,
        "auto_advance": inv.auto_advance,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "billing_reason": "manual", "charge": null,
        "collection_method": inv.collection_method, "created": inv.created,
        "currency": inv.currency, "custom_fields": null, "customer": inv.customer,
        "customer_email": customer.and_then(|c| c.email.clone()),
        "customer_name": customer.and_then(|c| c.name.clone()),
        "default_payment_method": null, "default_source": null, "default_tax_rates": [],
        "description": inv.description, "discount": null, "discounts": [],
        "due_date": inv.due_date(),
        "ending_balance": if inv.status == Status::Draft { Value::Null } else { json!(0) },
        "footer": null, "hosted_invoice_url": null, "invoice_pdf": null,
        "last_finalization_error": null, "latest_revision": null,
        "lines": {
            "object": "list", "data": shown, "has_more": lines.len() > embedded,
            "url": format!("/v1/invoices/{}/lines", inv.id),
        },
        "livemode": false, "metadata": inv.metadata, "next_payment_attempt": null,
        "number": inv.number, "on_behalf_of": null, "paid": inv.status == Status::Paid,
        "paid_out_of_band": false, "payment_intent": null,
        "payment_settings": { "default_mandate": null, "payment_method_options": null,
                              "payment_method_types": null },
        "period_end": inv.created, "period_start": inv.created,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "quote": null, "receipt_number": null, "rendering_options": null,
        "shipping_cost": null, "shipping_details": null, "starting_balance": 0,
        "statement_descriptor": null, "status": inv.status.as_str(),
        "status_transitions": {
            "finalized_at": inv.finalized_at, "marked_uncollectible_at": null,
            "paid_at": inv.paid_at, "voided_at": inv.voided_at,
        },
        "subscription": null, "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal, "tax": null, "test_clock": null,
        "total": total, "total_discount_amounts": [], "total_excluding_tax": total,
        "total_tax_amounts": [], "transfer_data": null, "webhooks_delivered_at": null,
    })
}
