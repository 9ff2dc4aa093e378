//! Invoice items and invoice lines against the Stripe fake over real HTTP.

mod stripe_support;

use rust_decimal_macros::dec;
use stripe_support::{fresh_key, harness, item_params};
use sync::stripe::{
    CreateInvoice, CreateInvoiceItem, ErrorClass, ItemPrice, ListInvoiceItems, ListParams,
    PendingInvoiceItemsBehavior, Period, StripeError, UpdateInvoiceItem,
};

#[tokio::test]
async fn items_carry_period_metadata_and_decimal_unit_amounts() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let mut params = item_params(
        &draft,
        ItemPrice::UnitAmountDecimal {
            unit_amount_decimal: dec!(0.000123456789),
            quantity: 1_000_000,
        },
    );
    params.period = Some(Period {
        start: 1_700_000_000,
        end: 1_702_592_000,
    });
    params.metadata = [("line_id".to_owned(), "L-1".to_owned())].into();
    let item = h
        .client
        .create_invoice_item(&params, &fresh_key())
        .await
        .unwrap();
    assert!(item.id.starts_with("ii_"));
    assert_eq!(item.invoice.as_deref(), Some(draft.id.as_str()));
    assert_eq!(item.amount, 123); // 123.456789 rounded
    assert_eq!(item.quantity, 1_000_000);
    assert_eq!(item.unit_amount_decimal(), Some(dec!(0.000123456789)));
    assert_eq!(
        item.period,
        Period {
            start: 1_700_000_000,
            end: 1_702_592_000
        }
    );
    assert_eq!(
        item.metadata.get("line_id").map(String::as_str),
        Some("L-1")
    );
    let fetched = h.client.retrieve_invoice_item(&item.id).await.unwrap();
    assert_eq!(fetched.amount, 123);
    h.finish().await;
}

#[tokio::test]
async fn more_than_twelve_decimal_places_are_refused_before_sending() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let price = ItemPrice::UnitAmountDecimal {
        unit_amount_decimal: dec!(0.0000000000001),
        quantity: 1,
    };
    let err = h
        .client
        .create_invoice_item(&item_params(&draft, price), &fresh_key())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::InvalidRequest(_)), "{err:?}");
    h.finish().await;
}

#[tokio::test]
async fn items_are_updated_deleted_and_listed() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let a = h.item(&draft, 100).await;
    let b = h.item(&draft, 200).await;
    let update = UpdateInvoiceItem {
        price: Some(ItemPrice::Amount { amount: 250 }),
        description: Some("corrected".into()),
        metadata: [("version".to_owned(), "2".to_owned())].into(),
        ..Default::default()
    };
    let updated = h
        .client
        .update_invoice_item(&b.id, &update, &fresh_key())
        .await
        .unwrap();
    assert_eq!(
        (updated.amount, updated.description.as_deref()),
        (250, Some("corrected"))
    );
    assert!(h.client.delete_invoice_item(&a.id).await.unwrap().deleted);
    let listed = h
        .client
        .list_invoice_items(&ListInvoiceItems {
            invoice: Some(draft.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = listed.data.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec![b.id.as_str()]);
    let invoice = h.client.retrieve_invoice(&draft.id).await.unwrap();
    assert_eq!(invoice.total, 250);
    h.finish().await;
}

#[tokio::test]
async fn items_cannot_be_added_changed_or_deleted_once_the_invoice_is_finalized() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let item = h.item(&draft, 100).await;
    h.client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    let add = h
        .client
        .create_invoice_item(
            &item_params(&draft, ItemPrice::Amount { amount: 1 }),
            &fresh_key(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (add.status(), add.code()),
        (Some(400), Some("invoice_not_editable"))
    );
    assert_eq!(add.class(), ErrorClass::Permanent);
    let change = UpdateInvoiceItem {
        description: Some("x".into()),
        ..Default::default()
    };
    let update = h
        .client
        .update_invoice_item(&item.id, &change, &fresh_key())
        .await
        .unwrap_err();
    assert_eq!(update.code(), Some("invoice_not_editable"));
    let delete = h.client.delete_invoice_item(&item.id).await.unwrap_err();
    assert_eq!(delete.code(), Some("invoice_not_editable"));
    h.finish().await;
}

#[tokio::test]
async fn an_invoice_takes_at_most_250_items() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    for _ in 0..250 {
        h.item(&draft, 1).await;
    }
    let err = h
        .client
        .create_invoice_item(
            &item_params(&draft, ItemPrice::Amount { amount: 1 }),
            &fresh_key(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.class()),
        (Some(400), ErrorClass::Permanent)
    );
    assert_eq!(
        err.api_error().and_then(|e| e.param.as_deref()),
        Some("invoice")
    );
    let finalized = h
        .client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap();
    assert_eq!(finalized.total, 250);
    h.finish().await;
}

#[tokio::test]
async fn an_invoice_embeds_its_first_ten_lines_and_the_rest_are_paged() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    let mut created = Vec::new();
    for n in 1..=130 {
        created.push(h.item(&draft, n).await.id);
    }
    let invoice = h.client.retrieve_invoice(&draft.id).await.unwrap();
    assert_eq!(invoice.lines.data.len(), 10);
    assert!(invoice.lines.has_more);
    assert_eq!(invoice.total, (1..=130).sum::<i64>());
    let first_page = h
        .client
        .list_invoice_lines(
            &draft.id,
            &ListParams {
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((first_page.data.len(), first_page.has_more), (100, true));
    let lines = h.client.all_invoice_lines(&draft.id).await.unwrap();
    let items: Vec<String> = lines
        .iter()
        .filter_map(|l| l.invoice_item().map(str::to_owned))
        .collect();
    assert_eq!(items, created, "every line once, in the order added");
    assert!(lines.iter().all(|l| l.id.starts_with("il_")
        && l.parent.as_ref().map(|p| p.kind.as_str()) == Some("invoice_item_details")));
    h.finish().await;
}

#[tokio::test]
async fn pending_items_join_a_new_invoice_only_when_asked_to() {
    let h = harness().await;
    let customer = h.customer().await;
    let pending = CreateInvoiceItem {
        customer: customer.id.clone(),
        invoice: None,
        currency: Some("eur".into()),
        description: None,
        period: None,
        metadata: Default::default(),
        price: ItemPrice::Amount { amount: 700 },
    };
    let item = h
        .client
        .create_invoice_item(&pending, &fresh_key())
        .await
        .unwrap();
    assert_eq!(item.invoice, None);
    let mut params = CreateInvoice::for_customer(&customer.id);
    params.currency = Some("eur".into());
    params.pending_invoice_items_behavior = Some(PendingInvoiceItemsBehavior::Exclude);
    let excluded = h
        .client
        .create_invoice(&params, &fresh_key())
        .await
        .unwrap();
    assert_eq!(excluded.total, 0);
    params.pending_invoice_items_behavior = Some(PendingInvoiceItemsBehavior::Include);
    let included = h
        .client
        .create_invoice(&params, &fresh_key())
        .await
        .unwrap();
    assert_eq!(included.total, 700);
    let pending_left = h
        .client
        .list_invoice_items(&ListInvoiceItems {
            pending: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(pending_left.data.is_empty());
    h.finish().await;
}
