//! The client decodes today's Stripe: every example object of the current API version
//! (Stripe's `fixtures3.json`, read from `../shared/stripe/` beside the project) that the
//! client reads decodes, with the fields the sync relies on in their current places.

use std::path::PathBuf;

use serde_json::Value;
use sync::stripe::{Customer, Deleted, Invoice, InvoiceItem, InvoiceLine, List};

/// `../shared/stripe/fixtures3.json` relative to the project root (the workspace root's
/// parent holds `shared/`, whichever worktree the project is checked out in).
fn fixtures() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/stripe/fixtures3.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text).expect("fixtures3.json is JSON");
    all["resources"].clone()
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, value: &Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("the client cannot decode Stripe's {name}: {e}"))
}

#[test]
fn every_fixture_object_the_client_reads_decodes() {
    let r = fixtures();
    let customer: Customer = decode("customer", &r["customer"]);
    assert_eq!(customer.id, "cus_QXg1o8vcGmoR32");

    let invoice: Invoice = decode("invoice", &r["invoice"]);
    assert_eq!((invoice.total, invoice.lines.data.len()), (1000, 1));
    assert_eq!(invoice.lines.data[0].invoice_item(), Some("invoice_item"));

    let line: InvoiceLine = decode("line_item", &r["line_item"]);
    assert_eq!(line.amount, 1000);
    assert_eq!(
        line.invoice_item(),
        Some("invoice_item"),
        "the item behind a line is parent.invoice_item_details.invoice_item"
    );
    assert!(line.pricing.is_some());

    let item: InvoiceItem = decode("invoiceitem", &r["invoiceitem"]);
    assert_eq!((item.amount, item.quantity), (1000, 1));
    assert_eq!(item.unit_amount_decimal(), None);

    for name in ["deleted_invoice", "deleted_invoiceitem", "deleted_customer"] {
        let deleted: Deleted = decode(name, &r[name]);
        assert!(deleted.deleted, "{name}");
    }

    let page = serde_json::json!({
        "object": "list", "data": [r["line_item"].clone()], "has_more": false,
        "url": "/v1/invoices/in_1/lines",
    });
    let lines: List<InvoiceLine> = decode("list of line_item", &page);
    assert_eq!(lines.data.len(), 1);
}

#[test]
fn a_line_in_the_fixture_has_no_top_level_invoice_item_any_more() {
    let r = fixtures();
    assert!(r["line_item"].get("invoice_item").is_none());
    assert!(r["line_item"].get("type").is_none());
    assert_eq!(
        r["line_item"]["parent"]["type"], "invoice_item_details",
        "Stripe moved the line's origin under parent"
    );
}

#[test]
fn the_payment_intent_and_invoice_payment_the_decline_reason_comes_through_decode() {
    let r = fixtures();
    let intent: sync::stripe::PaymentIntent = decode("payment_intent", &r["payment_intent"]);
    assert!(intent.id.starts_with("pi_"));
    assert_eq!(intent.status, "requires_payment_method");
    let error = intent.last_payment_error.expect("the example has an error");
    assert_eq!(error.kind.as_deref(), Some("idempotency_error"));
    assert!(
        r["payment_intent"].get("invoice").is_none(),
        "since 2025-03-31 a PaymentIntent does not name its invoice"
    );
    assert!(
        r["invoice"].get("payment_intent").is_none()
            && r["invoice"].get("last_payment_error").is_none(),
        "nor an invoice its PaymentIntent or the decline"
    );
    let payment: sync::stripe::InvoicePayment = decode("invoice_payment", &r["invoice_payment"]);
    assert_eq!(payment.payment.kind, "payment_intent");
    assert_eq!(r["invoice_payment"]["invoice"], "invoice");
    let expanded = serde_json::json!({
        "type": "payment_intent", "payment_intent": {"id": "pi_1", "object": "payment_intent"},
    });
    let by_object: sync::stripe::InvoicePaymentRef = decode("expanded payment", &expanded);
    assert_eq!(
        by_object
            .payment_intent
            .map(|p| p.id().to_owned())
            .as_deref(),
        Some("pi_1")
    );
}
