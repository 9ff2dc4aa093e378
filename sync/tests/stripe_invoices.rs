//! Customers and invoices against the Stripe fake over real HTTP.

mod stripe_support;

use rust_decimal_macros::dec;
use stripe_support::{fresh_key, harness, item_params};
use sync::stripe::{
    CollectionMethod, CreateInvoice, ErrorClass, InvoiceStatus, ItemPrice, ListCustomers,
    ListInvoices, ListParams, PendingInvoiceItemsBehavior, UpdateInvoice,
};

#[tokio::test]
async fn customers_are_created_retrieved_and_listed() {
    let h = harness().await;
    let created = h.customer().await;
    assert!(created.id.starts_with("cus_"));
    assert_eq!(
        created.metadata.get("customer_id").map(String::as_str),
        Some("c-1")
    );
    let fetched = h.client.retrieve_customer(&created.id).await.unwrap();
    assert_eq!(fetched.email.as_deref(), Some("ada@example.com"));
    let list = h
        .client
        .list_customers(&ListCustomers {
            email: Some("ada@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.data.len(), 1);
    assert!(!list.has_more);
    assert_eq!(list.url, "/v1/customers");
    h.finish().await;
}

#[tokio::test]
async fn a_missing_customer_is_a_permanent_not_found() {
    let h = harness().await;
    let err = h.client.retrieve_customer("cus_missing").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("resource_missing"));
    assert_eq!(err.class(), ErrorClass::Permanent);
    h.finish().await;
}

#[tokio::test]
async fn a_one_off_draft_takes_every_create_parameter() {
    let h = harness().await;
    let customer = h.customer().await;
    let params = CreateInvoice {
        customer: customer.id.clone(),
        auto_advance: Some(false),
        collection_method: Some(CollectionMethod::SendInvoice),
        currency: Some("eur".into()),
        description: Some("March usage".into()),
        metadata: [("invoice_id".to_owned(), "inv-7".to_owned())].into(),
        pending_invoice_items_behavior: Some(PendingInvoiceItemsBehavior::Exclude),
        days_until_due: Some(30),
    };
    let invoice = h
        .client
        .create_invoice(&params, &fresh_key())
        .await
        .unwrap();
    assert!(invoice.id.starts_with("in_"));
    assert_eq!(invoice.status, Some(InvoiceStatus::Draft));
    assert_eq!(invoice.collection_method, CollectionMethod::SendInvoice);
    assert_eq!(invoice.currency, "eur");
    assert_eq!(invoice.auto_advance, Some(false));
    assert_eq!(invoice.due_date, Some(invoice.created + 30 * 86_400));
    assert_eq!(
        invoice.metadata.get("invoice_id").map(String::as_str),
        Some("inv-7")
    );
    assert_eq!(
        (
            invoice.total,
            invoice.lines.data.len(),
            invoice.number.clone()
        ),
        (0, 0, None)
    );
    h.finish().await;
}

#[tokio::test]
async fn invoices_are_updated_and_listed_by_customer_and_status() {
    let h = harness().await;
    let (a, b) = (h.customer().await, h.customer().await);
    let first = h.draft(&a).await;
    let second = h.draft(&a).await;
    h.draft(&b).await;
    h.item(&second, 500).await;
    h.client
        .finalize_invoice(&second.id, &fresh_key())
        .await
        .unwrap();
    let update = UpdateInvoice {
        description: Some("renamed".into()),
        metadata: [("version".to_owned(), "2".to_owned())].into(),
        ..Default::default()
    };
    let updated = h
        .client
        .update_invoice(&first.id, &update, &fresh_key())
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("renamed"));
    assert_eq!(
        updated.metadata.get("version").map(String::as_str),
        Some("2")
    );
    let of_a = h
        .client
        .list_invoices(&ListInvoices {
            customer: Some(a.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = of_a.data.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![second.id.as_str(), first.id.as_str()],
        "newest first"
    );
    let drafts = h
        .client
        .list_invoices(&ListInvoices {
            customer: Some(a.id.clone()),
            status: Some(InvoiceStatus::Draft),
            page: ListParams::default(),
        })
        .await
        .unwrap();
    assert_eq!(drafts.data.len(), 1);
    assert_eq!(drafts.data[0].id, first.id);
    h.finish().await;
}

#[tokio::test]
async fn finalize_turns_a_draft_open_with_totals_and_a_number() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    h.item(&draft, 1000).await;
    let decimal = ItemPrice::UnitAmountDecimal {
        unit_amount_decimal: dec!(0.5),
        quantity: 3,
    };
    h.client
        .create_invoice_item(&item_params(&draft, decimal), &fresh_key())
        .await
        .unwrap();
    let open = h
        .client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    assert_eq!(open.status, Some(InvoiceStatus::Open));
    assert!(open.number.is_some());
    // 1000 + round(0.5 × 3) = 1000 + 2
    assert_eq!(
        (open.subtotal, open.total, open.amount_due),
        (1002, 1002, 1002)
    );
    assert_eq!((open.amount_paid, open.amount_remaining), (0, 1002));
    let again = h
        .client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap_err();
    assert_eq!(
        (again.status(), again.class()),
        (Some(400), ErrorClass::Permanent)
    );
    h.finish().await;
}

#[tokio::test]
async fn an_invoice_with_nothing_due_is_paid_on_finalization() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let finalized = h
        .client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    assert_eq!(finalized.status, Some(InvoiceStatus::Paid));
    h.finish().await;
}

#[tokio::test]
async fn only_open_invoices_can_be_voided_and_only_drafts_deleted() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let not_open = h
        .client
        .void_invoice(&draft.id, &fresh_key())
        .await
        .unwrap_err();
    assert_eq!(not_open.class(), ErrorClass::Permanent);
    h.item(&draft, 100).await;
    h.client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    let not_draft = h.client.delete_invoice(&draft.id).await.unwrap_err();
    assert_eq!(
        (not_draft.status(), not_draft.class()),
        (Some(400), ErrorClass::Permanent)
    );
    let voided = h
        .client
        .void_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    assert_eq!(voided.status, Some(InvoiceStatus::Void));

    let other = h.draft(&customer).await;
    let deleted = h.client.delete_invoice(&other.id).await.unwrap();
    assert!(deleted.deleted);
    let gone = h.client.retrieve_invoice(&other.id).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
    h.finish().await;
}

#[tokio::test]
async fn send_invoice_without_days_until_due_is_refused_like_stripe() {
    let h = harness().await;
    let customer = h.customer().await;
    let mut params = CreateInvoice::for_customer(&customer.id);
    params.collection_method = Some(CollectionMethod::SendInvoice);
    let err = h
        .client
        .create_invoice(&params, &fresh_key())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("parameter_missing"));
    assert_eq!(
        err.api_error().and_then(|e| e.param.as_deref()),
        Some("days_until_due")
    );
    h.finish().await;
}
