//! The sync projector against the Stripe fake over real HTTP: the happy
//! path, coalescing and the draft cadence, parking, and reconciliation.

mod sync_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger::event::OrganizationCreated;
use ledger::money::Currency;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use stripe_fake::FakeConfig;
use sync::reconcile::DiffKind;
use sync::status::{invoice_sync_status, list_sync_status, retry_parked, StatusFilter};
use sync::stripe::{IdempotencyKey, ItemPrice, UpdateInvoiceItem};
use sync::Outcome;
use sync_support::{env, options, Backend};

async fn published_calls(db: &ledger::db::Database) -> i64 {
    sync::status::list_sync_status(db, &StatusFilter::default())
        .await
        .unwrap()
        .len() as i64
}

async fn closed_invoices_are_published_finalized_and_match_the_ledger_to_the_cent(
    backend: Backend,
) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("org", 3, 40).await;
    let projector = env.projector(options());
    env.drain(&projector).await;

    env.assert_stripe_matches_ledger().await;
    let report = env.reconcile().await;
    assert_eq!(report.stripe_invoices, 3);
    let rows = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap();
    let finalized: Vec<_> = rows.iter().filter(|r| r.terminal_done).collect();
    assert_eq!(finalized.len(), 3);
    for row in finalized {
        assert!(row.stripe_invoice_id.as_deref().unwrap().starts_with("in_"));
        assert_eq!(row.published_version, row.target_version);
        assert_eq!(row.attempts, 0);
        let org = OrgId::new(row.org_id.clone()).unwrap();
        let audit = env
            .db
            .store()
            .read_stream(&StreamId::invoice(&org, row.period().unwrap()), 1, 100)
            .await
            .unwrap();
        let kinds: Vec<&str> = audit.iter().map(|e| e.event_type.as_str()).collect();
        assert!(kinds.contains(&"InvoicePublishedToStripe"), "{kinds:?}");
        assert!(kinds.contains(&"InvoiceFinalizedInStripe"), "{kinds:?}");
    }

    let before = env.fake.requests().len();
    assert_eq!(projector.try_process_next().await.unwrap(), Outcome::Idle);
    assert_eq!(
        env.fake.requests().len(),
        before,
        "an idle pass calls Stripe"
    );
    env.assert_conformance();
}

async fn calls_per_invoice_do_not_depend_on_the_number_of_usage_events(backend: Backend) {
    let few = env(backend, FakeConfig::default()).await;
    few.seed_closed("org", 2, 10).await;
    few.drain(&few.projector(options())).await;
    let many = env(backend, FakeConfig::default()).await;
    many.seed_closed("org", 2, 2_000).await;
    many.drain(&many.projector(options())).await;
    assert_eq!(few.fake.requests().len(), many.fake.requests().len());
    let calls: Vec<String> = few
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    // Per invoice: customer, invoice, two items, the read-back that verifies the draft
    // before finalizing, finalize.
    assert_eq!(calls.len(), 2 * 6, "{calls:#?}");
    many.assert_stripe_matches_ledger().await;
    few.assert_conformance();
    many.assert_conformance();
    let _ = published_calls(&many.db.db).await;
}

fn manual_clock(start: DateTime<Utc>) -> (Arc<Mutex<DateTime<Utc>>>, sync::projector::Clock) {
    let now = Arc::new(Mutex::new(start));
    let read = now.clone();
    (now, Arc::new(move || *read.lock().unwrap()))
}

async fn drafts_publish_at_most_once_per_cadence_and_coalesce_versions(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    let now = Utc::now();
    let anchor = now - chrono::Duration::days(2);
    testkit::seed::seed(env.db.store().as_ref(), "draft", 1, 20, anchor)
        .await
        .unwrap();
    let runner = projections::projector_for(&env.db.db);
    runner.catch_up().await.unwrap();
    let (clock, read) = manual_clock(now);
    let mut opts = options();
    opts.draft_cadence = Duration::from_secs(3600);
    let projector = env.projector(opts).with_clock(read);
    projector.run_until_idle().await.unwrap();
    let first = env.fake.requests().len();
    assert!(first > 0, "the first draft is published at once");

    // Many new versions within the hour: nothing is published.
    testkit::seed::seed(env.db.store().as_ref(), "draft", 0, 0, anchor)
        .await
        .unwrap();
    let org = OrgId::new("draft-0").unwrap();
    for i in 0..50 {
        let used = LedgerEvent::UsageRecorded(ledger::event::UsageRecorded {
            org_id: org.clone(),
            meter: "egress_gb".into(),
            quantity: format!("{}", i + 1).parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        });
        let e = NewEvent::from_domain(&used, anchor + chrono::Duration::hours(1)).unwrap();
        env.db
            .store()
            .append(&StreamId::usage(&org), ExpectedVersion::Any, vec![e])
            .await
            .unwrap();
    }
    runner.catch_up().await.unwrap();
    projector.run_until_idle().await.unwrap();
    assert_eq!(
        env.fake.requests().len(),
        first,
        "a draft was republished within the cadence"
    );

    // An hour later: one publish, one call for the one changed line.
    *clock.lock().unwrap() = now + chrono::Duration::seconds(3601);
    projector.run_until_idle().await.unwrap();
    let posts: Vec<_> = env.fake.requests()[first..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].starts_with("POST /v1/invoiceitems/ii_"),
        "{posts:?}"
    );
    env.assert_stripe_matches_ledger().await;
    env.assert_conformance();
}

async fn a_cadence_of_zero_publishes_final_snapshots_only(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    let anchor = Utc::now() - chrono::Duration::days(2);
    testkit::seed::seed(env.db.store().as_ref(), "open", 2, 5, anchor)
        .await
        .unwrap();
    projections::projector_for(&env.db.db)
        .catch_up()
        .await
        .unwrap();
    let projector = env.projector(options());
    projector.run_until_idle().await.unwrap();
    assert!(env.fake.requests().is_empty());
    assert_eq!(env.reconcile().await.differences, vec![]);
}

async fn a_permanent_error_parks_one_invoice_while_the_others_publish(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("ok", 3, 5).await;
    // An organization whose Stripe customer does not exist: Stripe answers 404.
    let bad = OrgId::new("bad-customer").unwrap();
    let anchor = testkit::seed::past_anchor(Utc::now());
    let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
        org_id: bad.clone(),
        name: "Bad".into(),
        currency: Currency::USD,
        billing_anchor: anchor,
        stripe_customer_id: Some("cus_missing".into()),
    });
    env.db
        .store()
        .append(
            &StreamId::organization(&bad),
            ExpectedVersion::Any,
            vec![NewEvent::from_domain(&created, anchor).unwrap()],
        )
        .await
        .unwrap();
    let used = LedgerEvent::UsageRecorded(ledger::event::UsageRecorded {
        org_id: bad.clone(),
        meter: "egress_gb".into(),
        quantity: "12".parse().unwrap(),
        window: None,
        source: "test".into(),
        attributes: Default::default(),
    });
    let at = anchor + chrono::Duration::hours(2);
    env.db
        .store()
        .append(
            &StreamId::usage(&bad),
            ExpectedVersion::Any,
            vec![NewEvent::from_domain(&used, at).unwrap()],
        )
        .await
        .unwrap();
    sync_support::project_and_close(&env.db.db, Utc::now()).await;

    let projector = env.projector(options());
    env.drain(&projector).await;
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
    assert_eq!(parked[0].org_id, "bad-customer");
    let error = parked[0].last_error.clone().unwrap();
    assert!(error.contains("No such customer"), "{error}");
    let ok = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap();
    assert_eq!(ok.iter().filter(|r| r.terminal_done).count(), 3);

    let period = parked[0].period().unwrap();
    let status = invoice_sync_status(&env.db.db, &bad, period)
        .await
        .unwrap()
        .unwrap();
    assert!(status.parked);
    assert!(retry_parked(&env.db.db, &bad, period).await.unwrap());
    assert!(!retry_parked(&env.db.db, &bad, period).await.unwrap());
    env.drain(&projector).await;
    let status = invoice_sync_status(&env.db.db, &bad, period)
        .await
        .unwrap()
        .unwrap();
    assert!(status.parked, "still failing, parked again");
    assert_eq!(status.attempts, 2);
    env.assert_conformance();
}

async fn reconcile_finds_a_deliberately_altered_item(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    let anchor = Utc::now() - chrono::Duration::days(2);
    testkit::seed::seed(env.db.store().as_ref(), "rec", 2, 10, anchor)
        .await
        .unwrap();
    projections::projector_for(&env.db.db)
        .catch_up()
        .await
        .unwrap();
    let mut opts = options();
    opts.draft_cadence = Duration::from_secs(3600);
    env.drain(&env.projector(opts)).await;
    env.assert_stripe_matches_ledger().await;

    let row = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.stripe_invoice_id.is_some())
        .unwrap();
    let lines = env
        .api
        .all_invoice_lines(row.stripe_invoice_id.as_deref().unwrap())
        .await
        .unwrap();
    let item = lines[0].invoice_item().unwrap().to_owned();
    let params = UpdateInvoiceItem {
        price: Some(ItemPrice::Amount {
            amount: lines[0].amount + 1,
        }),
        ..Default::default()
    };
    env.api
        .update_invoice_item(&item, &params, &IdempotencyKey::new("tamper-1").unwrap())
        .await
        .unwrap();

    let report = env.reconcile().await;
    assert_eq!(report.differences.len(), 1, "{:#?}", report.differences);
    assert_eq!(report.differences[0].kind, DiffKind::LineAmountMismatch);
    assert_eq!(
        report.differences[0].stripe_invoice_id,
        row.stripe_invoice_id
    );
    let table = sync::reconcile::render_table(&report);
    assert!(table.contains("line_amount_mismatch"), "{table}");
    env.assert_conformance();
}

async fn an_invoice_voided_in_the_ledger_after_finalization_is_voided_in_stripe(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("void", 2, 5).await;
    let projector = env.projector(options());
    env.drain(&projector).await;
    let row = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.terminal_done)
        .unwrap();
    let org = row.org().unwrap();
    let key = ledger::event::InvoiceKey {
        org_id: org.clone(),
        period_start: row.period().unwrap(),
    };
    let voided = LedgerEvent::InvoiceVoided(ledger::event::InvoiceVoided {
        invoice: key.clone(),
        reason: "goodwill".into(),
    });
    env.db
        .store()
        .append(
            &key.stream(),
            ExpectedVersion::Any,
            vec![NewEvent::from_domain(&voided, Utc::now()).unwrap()],
        )
        .await
        .unwrap();
    projections::projector_for(&env.db.db)
        .catch_up()
        .await
        .unwrap();
    env.drain(&projector).await;
    let status = invoice_sync_status(&env.db.db, &org, key.period_start)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.stripe_status.as_deref(), Some("void"), "{status:#?}");
    let stripe = env
        .api
        .retrieve_invoice(status.stripe_invoice_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(stripe.status, Some(sync::stripe::InvoiceStatus::Void));
    env.assert_stripe_matches_ledger().await;
    env.assert_conformance();
}

async fn the_change_feed_is_read_in_pages_without_losing_an_invoice(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("page", 7, 3).await;
    let projector = env.projector(options()).with_feed_page(2);
    let queued = projector.feed().await.unwrap();
    assert_eq!(
        queued, 14,
        "7 closed invoices and the 7 periods opened after them"
    );
    assert_eq!(projector.feed().await.unwrap(), 0);
    env.drain(&projector).await;
    env.assert_stripe_matches_ledger().await;
    assert_eq!(env.reconcile().await.stripe_invoices, 7);
}

sync_support::both_backends!(
    closed_invoices_are_published_finalized_and_match_the_ledger_to_the_cent,
    calls_per_invoice_do_not_depend_on_the_number_of_usage_events,
    drafts_publish_at_most_once_per_cadence_and_coalesce_versions,
    a_cadence_of_zero_publishes_final_snapshots_only,
    a_permanent_error_parks_one_invoice_while_the_others_publish,
    reconcile_finds_a_deliberately_altered_item,
    an_invoice_voided_in_the_ledger_after_finalization_is_voided_in_stripe,
    the_change_feed_is_read_in_pages_without_losing_an_invoice,
);
