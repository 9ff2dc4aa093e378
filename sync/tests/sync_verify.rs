//! Finalize only what was verified: a Stripe draft that drifted from the ledger
//! (duplicate, changed, deleted or stale items) is corrected before it is finalized,
//! and one holding a line that is not ours is parked with the difference named, never
//! finalized. On both backends.

mod sync_support;

use std::time::Duration;

use chrono::Utc;
use stripe_fake::FakeConfig;
use sync::snapshot::META_LINE;
use sync::status::{list_sync_status, StatusFilter};
use sync::stripe::{
    CreateInvoiceItem, IdempotencyKey, InvoiceLine, InvoiceStatus, ItemPrice, Period,
    UpdateInvoiceItem,
};
use sync_support::{env, options, Backend, Env};

/// An open invoice per organization published as a Stripe draft; returns the env and
/// the first draft's id and lines.
async fn drafted(backend: Backend) -> (Env, String, Vec<InvoiceLine>) {
    let env = env(backend, FakeConfig::default()).await;
    let anchor = Utc::now() - chrono::Duration::days(2);
    testkit::seed::seed(env.db.store().as_ref(), "ver", 1, 10, anchor)
        .await
        .unwrap();
    projections::projector_for(&env.db.db)
        .catch_up()
        .await
        .unwrap();
    let mut opts = options();
    opts.draft_cadence = Duration::from_secs(3600);
    env.drain(&env.projector(opts)).await;
    let row = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.stripe_invoice_id.is_some())
        .expect("a published draft");
    let id = row.stripe_invoice_id.unwrap();
    let lines = env.api.all_invoice_lines(&id).await.unwrap();
    assert!(lines.len() >= 2, "{lines:?}");
    (env, id, lines)
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(format!("tamper-{k}-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

async fn add_item(env: &Env, invoice: &str, like: &InvoiceLine, amount: i64, ours: bool) {
    let inv = env.api.retrieve_invoice(invoice).await.unwrap();
    let params = CreateInvoiceItem {
        customer: inv.customer.clone(),
        invoice: Some(invoice.to_owned()),
        currency: Some(inv.currency.clone()),
        description: like.description.clone(),
        period: Some(Period {
            start: like.period.start,
            end: like.period.end,
        }),
        metadata: if ours {
            like.metadata.clone()
        } else {
            Default::default()
        },
        price: ItemPrice::Amount { amount },
    };
    env.api
        .create_invoice_item(&params, &key("add"))
        .await
        .unwrap();
}

/// Close the period (the ledger finalizes the invoice) and let the sync publish it.
async fn close_and_sync(env: &Env) {
    sync_support::project_and_close(&env.db.db, Utc::now() + chrono::Duration::days(40)).await;
    env.drain(&env.projector(options())).await;
}

async fn a_drifted_draft_is_corrected_then_finalized(backend: Backend) {
    let (env, id, lines) = drafted(backend).await;
    // A duplicate of the first line, another amount on the second, a stale item of ours.
    add_item(&env, &id, &lines[0], lines[0].amount, true).await;
    let change = UpdateInvoiceItem {
        price: Some(ItemPrice::Amount {
            amount: lines[1].amount + 7,
        }),
        ..Default::default()
    };
    env.api
        .update_invoice_item(lines[1].invoice_item().unwrap(), &change, &key("upd"))
        .await
        .unwrap();
    let mut stale = lines[0].clone();
    stale
        .metadata
        .insert(META_LINE.to_owned(), "usage:gone".to_owned());
    add_item(&env, &id, &stale, 999, true).await;

    close_and_sync(&env).await;
    let stripe = env.api.retrieve_invoice(&id).await.unwrap();
    assert_eq!(stripe.status, Some(InvoiceStatus::Open), "finalized");
    env.assert_stripe_matches_ledger().await;
    let summary = sync::status::summary(&env.db.db).await.unwrap();
    assert_eq!(summary.parked, 0, "{summary:?}");
    env.assert_conformance();
}

async fn a_deleted_line_is_created_again_before_finalizing(backend: Backend) {
    let (env, id, lines) = drafted(backend).await;
    env.api
        .delete_invoice_item(lines[0].invoice_item().unwrap())
        .await
        .unwrap();
    close_and_sync(&env).await;
    let stripe = env.api.retrieve_invoice(&id).await.unwrap();
    assert_eq!(stripe.status, Some(InvoiceStatus::Open), "finalized");
    env.assert_stripe_matches_ledger().await;
    env.assert_conformance();
}

async fn a_line_that_is_not_ours_parks_the_invoice_unfinalized(backend: Backend) {
    let (env, id, lines) = drafted(backend).await;
    add_item(&env, &id, &lines[0], 500, false).await;
    close_and_sync(&env).await;
    let stripe = env.api.retrieve_invoice(&id).await.unwrap();
    assert_eq!(stripe.status, Some(InvoiceStatus::Draft), "never finalized");
    let parked = list_sync_status(
        &env.db.db,
        &StatusFilter {
            parked_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(parked.len(), 1, "{parked:#?}");
    let error = parked[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("not finalized"), "{error}");
    assert!(error.contains("(difference 500)"), "{error}");
    assert!(error.contains("lines not from the ledger: il_"), "{error}");
    env.assert_conformance();
}

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::Sqlite).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::Postgres).await; })*
        }
    };
}

both_backends!(
    a_drifted_draft_is_corrected_then_finalized,
    a_deleted_line_is_created_again_before_finalizing,
    a_line_that_is_not_ours_parks_the_invoice_unfinalized,
);
