//! List pagination and eventually consistent search against the Stripe fake.

mod stripe_support;

use std::collections::HashSet;
use std::time::Duration;

use stripe_fake::FakeConfig;
use stripe_support::{fresh_key, harness, harness_with};
use sync::stripe::{
    metadata_search_query, CreateCustomer, CreateInvoice, InvoiceStatus, ListCustomers,
    ListInvoices, ListParams, SearchInvoices, UpdateInvoice,
};

#[tokio::test]
async fn walking_more_than_a_hundred_customers_loses_and_repeats_none() {
    let h = harness().await;
    let mut created = Vec::new();
    for n in 0..130 {
        let params = CreateCustomer {
            name: Some(format!("c{n}")),
            ..Default::default()
        };
        created.push(
            h.client
                .create_customer(&params, &fresh_key())
                .await
                .unwrap()
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut page = ListParams {
        limit: Some(100),
        ..Default::default()
    };
    loop {
        let list = h
            .client
            .list_customers(&ListCustomers {
                email: None,
                page: page.clone(),
            })
            .await
            .unwrap();
        seen.extend(list.data.iter().map(|c| c.id.clone()));
        match list.data.last() {
            Some(last) if list.has_more => page.starting_after = Some(last.id.clone()),
            _ => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 130);

    // And backwards from the oldest with ending_before.
    let oldest = created.last().cloned();
    let back = h
        .client
        .list_customers(&ListCustomers {
            email: None,
            page: ListParams {
                limit: Some(5),
                starting_after: None,
                ending_before: oldest,
            },
        })
        .await
        .unwrap();
    let expected: Vec<String> = created[124..129].to_vec();
    assert_eq!(
        back.data.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(back.has_more);
    h.finish().await;
}

fn tagged(customer: &str, tag: &str) -> CreateInvoice {
    let mut params = CreateInvoice::for_customer(customer);
    params.metadata = [("invoice_id".to_owned(), tag.to_owned())].into();
    params
}

#[tokio::test]
async fn search_finds_invoices_by_metadata_only_after_the_indexing_delay() {
    let delay = Duration::from_secs(1);
    let config = FakeConfig {
        search_index_delay: delay,
        ..FakeConfig::default()
    };
    let h = harness_with(config, Duration::from_secs(5)).await;
    let customer = h.customer().await;
    let wanted = h
        .client
        .create_invoice(&tagged(&customer.id, "inv-1"), &fresh_key())
        .await
        .unwrap();
    h.client
        .create_invoice(&tagged(&customer.id, "inv-2"), &fresh_key())
        .await
        .unwrap();
    let search = SearchInvoices {
        query: metadata_search_query([("invoice_id", "inv-1")]),
        ..Default::default()
    };
    let at_once = h.client.search_invoices(&search).await.unwrap();
    assert!(at_once.data.is_empty(), "search is not read-after-write");
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    let later = h.client.search_invoices(&search).await.unwrap();
    assert_eq!(later.data.len(), 1);
    assert_eq!(later.data[0].id, wanted.id);
    h.finish().await;
}

#[tokio::test]
async fn search_pages_through_every_match_and_follows_metadata_changes() {
    let config = FakeConfig {
        search_index_delay: Duration::ZERO,
        ..FakeConfig::default()
    };
    let h = harness_with(config, Duration::from_secs(5)).await;
    let customer = h.customer().await;
    for _ in 0..5 {
        h.client
            .create_invoice(&tagged(&customer.id, "batch"), &fresh_key())
            .await
            .unwrap();
    }
    let mut search = SearchInvoices {
        query: metadata_search_query([("invoice_id", "batch")]),
        limit: Some(2),
        page: None,
    };
    let mut found = HashSet::new();
    loop {
        let result = h.client.search_invoices(&search).await.unwrap();
        found.extend(result.data.iter().map(|i| i.id.clone()));
        match result.next_page {
            Some(next) if result.has_more => search.page = Some(next),
            _ => break,
        }
    }
    assert_eq!(found.len(), 5);
    let moved = found.iter().next().cloned().unwrap_or_default();
    let update = UpdateInvoice {
        metadata: [("invoice_id".to_owned(), "moved".to_owned())].into(),
        ..Default::default()
    };
    h.client
        .update_invoice(&moved, &update, &fresh_key())
        .await
        .unwrap();
    let query = SearchInvoices {
        query: metadata_search_query([("invoice_id", "moved")]),
        ..Default::default()
    };
    let result = h.client.search_invoices(&query).await.unwrap();
    assert_eq!(
        result.data.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        vec![moved]
    );
    h.finish().await;
}

#[tokio::test]
async fn a_cursor_that_left_the_filter_between_pages_still_continues_the_walk() {
    let h = harness().await;
    let customer = h.customer().await;
    let older = h.draft(&customer).await;
    let newer = h.draft(&customer).await;
    h.item(&newer, 100).await;
    let drafts = |after: Option<String>| ListInvoices {
        customer: Some(customer.id.clone()),
        status: Some(InvoiceStatus::Draft),
        page: ListParams {
            limit: Some(1),
            starting_after: after,
            ending_before: None,
        },
    };
    let first = h.client.list_invoices(&drafts(None)).await.unwrap();
    assert_eq!(
        (first.data[0].id.as_str(), first.has_more),
        (newer.id.as_str(), true)
    );
    // The page's last invoice is finalized before the next page is asked for.
    h.client
        .finalize_invoice(&newer.id, &fresh_key())
        .await
        .unwrap();
    let second = h
        .client
        .list_invoices(&drafts(Some(newer.id.clone())))
        .await
        .unwrap();
    assert_eq!(second.data.len(), 1);
    assert_eq!(
        (second.data[0].id.as_str(), second.has_more),
        (older.id.as_str(), false)
    );
    h.finish().await;
}
