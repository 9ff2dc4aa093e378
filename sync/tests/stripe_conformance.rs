//! One pass over every client operation, then the conformance check over all of it:
//! every operation in the OpenAPI extract was exercised and every request conforms.

mod stripe_support;

use std::collections::BTreeSet;

use stripe_fake::conformance;
use stripe_support::{fresh_key, harness, item_params};
use sync::stripe::{
    metadata_search_query, ItemPrice, ListCustomers, ListInvoiceItems, ListInvoices, ListParams,
    SearchInvoices, UpdateInvoice, UpdateInvoiceItem,
};

#[tokio::test]
async fn every_operation_the_client_has_is_in_stripes_description_and_conforms() {
    let h = harness().await;
    let c = &h.client;
    let customer = h.customer().await;
    c.retrieve_customer(&customer.id).await.unwrap();
    c.list_customers(&ListCustomers::default()).await.unwrap();
    let draft = h.draft(&customer).await;
    c.retrieve_invoice(&draft.id).await.unwrap();
    let update = UpdateInvoice {
        description: Some("d".into()),
        ..Default::default()
    };
    c.update_invoice(&draft.id, &update, &fresh_key())
        .await
        .unwrap();
    c.list_invoices(&ListInvoices {
        customer: Some(customer.id.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let search = SearchInvoices {
        query: metadata_search_query([("a", "b")]),
        ..Default::default()
    };
    c.search_invoices(&search).await.unwrap();
    let item = c
        .create_invoice_item(
            &item_params(&draft, ItemPrice::Amount { amount: 5 }),
            &fresh_key(),
        )
        .await
        .unwrap();
    c.retrieve_invoice_item(&item.id).await.unwrap();
    let change = UpdateInvoiceItem {
        description: Some("e".into()),
        ..Default::default()
    };
    c.update_invoice_item(&item.id, &change, &fresh_key())
        .await
        .unwrap();
    c.list_invoice_items(&ListInvoiceItems::default())
        .await
        .unwrap();
    let extra = h.item(&draft, 1).await;
    c.delete_invoice_item(&extra.id).await.unwrap();
    c.list_invoice_lines(&draft.id, &ListParams::default())
        .await
        .unwrap();
    c.finalize_invoice(&draft.id, &fresh_key()).await.unwrap();
    c.void_invoice(&draft.id, &fresh_key()).await.unwrap();
    let doomed = h.draft(&customer).await;
    c.delete_invoice(&doomed.id).await.unwrap();
    // Payments (issue 12): the client lists events; paying, writing off and
    // registering endpoints are Stripe's side (the fake, tests, the demo).
    c.list_events(&sync::stripe::ListEvents {
        types: vec!["invoice.paid".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let raw = |path: String, form: &'static str| {
        let url = format!("{}{path}", h.fake.base_url());
        async move {
            let status = reqwest::Client::new()
                .post(url)
                .bearer_auth("sk_test_fake")
                .header("Stripe-Version", stripe_fake::API_VERSION)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Idempotency-Key", fresh_key().as_str().to_owned())
                .body(form)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
    };
    let mut paid = None;
    for (i, action) in ["pay", "mark_uncollectible"].into_iter().enumerate() {
        let open = h.draft(&customer).await;
        h.item(&open, i as i64 + 1).await;
        c.finalize_invoice(&open.id, &fresh_key()).await.unwrap();
        raw(format!("/v1/invoices/{}/{action}", open.id), "").await;
        paid = paid.or(Some(open.id));
    }
    // Round 3: the decline reason is read from the invoice's PaymentIntent.
    let payments = c.invoice_payments(&paid.unwrap()).await.unwrap();
    let pi = payments[0].payment.payment_intent.as_ref().unwrap().id();
    assert_eq!(
        c.retrieve_payment_intent(pi).await.unwrap().status,
        "succeeded"
    );
    raw(
        "/v1/webhook_endpoints".into(),
        "url=https%3A%2F%2Fexample.com%2Fhook&enabled_events[]=invoice.paid",
    )
    .await;

    let requests = h.fake.requests();
    let covered: BTreeSet<_> = requests
        .iter()
        .filter_map(conformance::operation_of)
        .collect();
    let all: BTreeSet<_> = conformance::operations().into_iter().collect();
    assert_eq!(all.len(), 22);
    let missed: Vec<_> = all.difference(&covered).collect();
    assert!(missed.is_empty(), "operations never exercised: {missed:?}");
    h.finish().await;
}

#[tokio::test]
async fn the_client_works_behind_the_stripe_api_trait_object() {
    let h = harness().await;
    let api: std::sync::Arc<dyn sync::stripe::StripeApi> = std::sync::Arc::new(h.client.clone());
    let customer = h.customer().await;
    let fetched = api.retrieve_customer(&customer.id).await.unwrap();
    assert_eq!(fetched.id, customer.id);
    h.finish().await;
}
