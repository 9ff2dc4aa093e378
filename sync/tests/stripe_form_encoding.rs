//! The client's parameters encode to Stripe's form conventions.

use rust_decimal_macros::dec;
use sync::stripe::{
    metadata_search_query, CollectionMethod, CreateInvoice, CreateInvoiceItem, ItemPrice,
    ListInvoices, ListParams, Period,
};

fn decoded(form: &str) -> Vec<(String, String)> {
    form.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("%5B", "[")
        .replace("%5D", "]")
        .replace("%20", " ")
        .replace('+', " ")
}

#[test]
fn invoice_items_encode_metadata_and_period_as_nested_keys() {
    let item = CreateInvoiceItem {
        customer: "cus_1".into(),
        invoice: Some("in_1".into()),
        currency: Some("eur".into()),
        description: Some("API calls".into()),
        period: Some(Period { start: 10, end: 20 }),
        metadata: [("line_id".to_owned(), "l-1".to_owned())].into(),
        price: ItemPrice::UnitAmountDecimal {
            unit_amount_decimal: dec!(0.123456789012),
            quantity: 3,
        },
    };
    let form = serde_qs::to_string(&item).unwrap();
    let pairs = decoded(&form);
    for expected in [
        ("customer", "cus_1"),
        ("invoice", "in_1"),
        ("period[start]", "10"),
        ("period[end]", "20"),
        ("metadata[line_id]", "l-1"),
        ("unit_amount_decimal", "0.123456789012"),
        ("quantity", "3"),
    ] {
        assert!(
            pairs.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {form}"
        );
    }
}

#[test]
fn amounts_are_integer_minor_units_and_enums_are_snake_case() {
    let item = CreateInvoiceItem {
        customer: "cus_1".into(),
        invoice: None,
        currency: None,
        description: None,
        period: None,
        metadata: Default::default(),
        price: ItemPrice::Amount { amount: -1250 },
    };
    assert_eq!(
        serde_qs::to_string(&item).unwrap(),
        "customer=cus_1&amount=-1250"
    );
    let mut invoice = CreateInvoice::for_customer("cus_1");
    invoice.collection_method = Some(CollectionMethod::SendInvoice);
    invoice.auto_advance = Some(false);
    let form = serde_qs::to_string(&invoice).unwrap();
    assert_eq!(
        form,
        "customer=cus_1&auto_advance=false&collection_method=send_invoice"
    );
    let list = ListInvoices {
        customer: Some("cus_1".into()),
        status: None,
        page: ListParams {
            limit: Some(100),
            starting_after: Some("in_9".into()),
            ending_before: None,
        },
    };
    assert_eq!(
        serde_qs::to_string(&list).unwrap(),
        "customer=cus_1&limit=100&starting_after=in_9"
    );
}

#[test]
fn metadata_search_queries_quote_and_escape_values() {
    assert_eq!(
        metadata_search_query([("invoice_id", "a'b"), ("k", "v")]),
        r"metadata['invoice_id']:'a\'b' AND metadata['k']:'v'"
    );
}

#[test]
fn empty_list_parameters_encode_to_nothing() {
    // serde_qs renders an empty flattened struct as "="; the client must send nothing.
    assert_eq!(
        sync::stripe::StripeClient::encode(&ListInvoices::default()).unwrap(),
        ""
    );
}
