//! The payments catch-up against the Stripe fake: payments whose webhooks
//! never arrived are applied from `GET /v1/events`, once, also when the
//! poller dies mid-pass.

mod sync_support;

use projections::PaymentStatus;
use reqwest::StatusCode;
use stripe_fake::{FakeConfig, Fault, FaultKind};
use sync::payments::catchup::{cursor, CatchUp};
use sync::payments::{Applied, PaymentApplier};
use sync::status::{list_sync_status, StatusFilter};
use sync::Outcome;
use sync_support::{env, options, Backend, Env};

/// Two finalized invoices in the fake (published by the sync); their
/// Stripe ids and ledger keys.
async fn finalized(env: &Env) -> Vec<(String, ledger::OrgId, chrono::DateTime<chrono::Utc>)> {
    env.seed_closed("org", 3, 5).await;
    let projector = env.projector(options());
    env.drain(&projector).await;
    let rows = list_sync_status(&env.db.db, &StatusFilter::default())
        .await
        .unwrap();
    let open: Vec<_> = rows
        .iter()
        .filter(|r| r.stripe_status.as_deref() == Some("open"))
        .take(3)
        .map(|r| {
            (
                r.stripe_invoice_id.clone().unwrap(),
                r.org().unwrap(),
                r.period().unwrap(),
            )
        })
        .collect();
    assert_eq!(open.len(), 3, "{rows:?}");
    open
}

async fn stripe_post(env: &Env, path: &str, form: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}{path}", env.fake.base_url()))
        .bearer_auth("sk_test_sync")
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

async fn payment_status(
    env: &Env,
    org: &ledger::OrgId,
    start: chrono::DateTime<chrono::Utc>,
) -> PaymentStatus {
    let runner = projections::projector_for(&env.db.db);
    runner.catch_up().await.unwrap();
    runner
        .tables()
        .invoice(org, start)
        .await
        .unwrap()
        .unwrap()
        .payment_status
}

async fn drain(catch_up: &CatchUp) {
    for _ in 0..100 {
        if catch_up.try_process_next().await.unwrap() == Outcome::Idle {
            return;
        }
    }
    panic!("the catch-up never became idle");
}

async fn webhooks_lost_are_recovered_by_the_catch_up_poller_once(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    let invoices = finalized(&env).await;
    let (paid, failed, written_off) = (&invoices[0], &invoices[1], &invoices[2]);
    // No webhook endpoint is registered: every delivery is lost.
    assert_eq!(
        stripe_post(&env, &format!("/v1/invoices/{}/pay", paid.0), "").await,
        StatusCode::OK
    );
    env.fake.fail_next_payment(&failed.0, "card_declined");
    assert_eq!(
        stripe_post(&env, &format!("/v1/invoices/{}/pay", failed.0), "").await,
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        stripe_post(
            &env,
            &format!("/v1/invoices/{}/mark_uncollectible", written_off.0),
            ""
        )
        .await,
        StatusCode::OK
    );
    let catch_up = CatchUp::new(&env.db.db, env.api.clone()).with_page_size(2);
    drain(&catch_up).await;
    assert_eq!(
        payment_status(&env, &paid.1, paid.2).await,
        PaymentStatus::Paid
    );
    assert_eq!(
        payment_status(&env, &failed.1, failed.2).await,
        PaymentStatus::PaymentFailed
    );
    assert_eq!(
        payment_status(&env, &written_off.1, written_off.2).await,
        PaymentStatus::Uncollectible
    );
    let runner = projections::projector_for(&env.db.db);
    let invoice = runner
        .tables()
        .invoice(&failed.1, failed.2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        invoice.last_payment_failure.as_deref(),
        Some("card_declined")
    );
    assert!(invoice.next_payment_attempt.is_some());
    let row = cursor(&env.db.db).await.unwrap();
    assert!(
        row.last_event_id.is_some() && row.caught_up_at > 0,
        "{row:?}"
    );

    // A later payment is found from the cursor; nothing is applied twice.
    assert_eq!(
        stripe_post(&env, &format!("/v1/invoices/{}/pay", failed.0), "").await,
        StatusCode::OK
    );
    let head = env.db.store().head_position().await.unwrap();
    drain(&catch_up).await;
    assert_eq!(
        payment_status(&env, &failed.1, failed.2).await,
        PaymentStatus::Paid
    );
    assert_eq!(env.db.store().head_position().await.unwrap(), head + 1);
    drain(&catch_up).await;
    assert_eq!(env.db.store().head_position().await.unwrap(), head + 1);
    env.assert_conformance();
}

async fn a_catch_up_killed_mid_pass_resumes_without_loss_or_repeat(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    let invoices = finalized(&env).await;
    for (id, _, _) in &invoices {
        assert_eq!(
            stripe_post(&env, &format!("/v1/invoices/{id}/pay"), "").await,
            StatusCode::OK
        );
    }
    // The first pass dies on a page request (before it applies anything).
    env.fake.inject(Fault {
        kind: FaultKind::ServerError,
        method: Some("GET".into()),
        path: Some("/v1/events".into()),
        times: 1,
        should_retry: None,
    });
    let small = || CatchUp::new(&env.db.db, env.api.clone()).with_page_size(2);
    let first = small();
    let mut died = false;
    for _ in 0..3 {
        if first.try_process_next().await.is_err() {
            died = true;
            break;
        }
    }
    assert!(died, "the injected failure should have stopped a pass");
    // A webhook brought one event meanwhile (applied, cursor not moved).
    let events: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/events?type=invoice.paid&limit=1",
            env.fake.base_url()
        ))
        .bearer_auth("sk_test_sync")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event: sync::payments::StripeEvent =
        serde_json::from_value(events["data"][0].clone()).unwrap();
    let applier = PaymentApplier::new(&env.db.db);
    let once = applier.apply(&event, "webhook").await.unwrap();
    assert!(matches!(once, Applied::Recorded | Applied::Duplicate));
    // A new process resumes from the stored cursor.
    drain(&small()).await;
    for (_, org, start) in &invoices {
        assert_eq!(payment_status(&env, org, *start).await, PaymentStatus::Paid);
    }
    let paid_facts = env
        .db
        .store()
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "InvoicePaid")
        .count();
    assert_eq!(
        paid_facts,
        invoices.len(),
        "each payment recorded exactly once"
    );
}

async fn last_failure(
    env: &Env,
    org: &ledger::OrgId,
    start: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let runner = projections::projector_for(&env.db.db);
    runner.catch_up().await.unwrap();
    runner
        .tables()
        .invoice(org, start)
        .await
        .unwrap()
        .unwrap()
        .last_payment_failure
}

async fn facts_named(env: &Env, event_type: &str) -> usize {
    env.db
        .store()
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == event_type)
        .count()
}

async fn a_failure_the_webhook_brought_gets_its_decline_reason_from_the_payment_intent(
    backend: Backend,
) {
    let env = env(backend, FakeConfig::default()).await;
    let invoices = finalized(&env).await;
    let (stripe_id, org, start) = &invoices[0];
    env.fake.fail_next_payment(stripe_id, "insufficient_funds");
    assert_eq!(
        stripe_post(&env, &format!("/v1/invoices/{stripe_id}/pay"), "").await,
        StatusCode::PAYMENT_REQUIRED
    );
    // The webhook brings the failure: Stripe's invoice says only which attempt.
    let events: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/events?type=invoice.payment_failed&limit=1",
            env.fake.base_url()
        ))
        .bearer_auth("sk_test_sync")
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event: sync::payments::StripeEvent =
        serde_json::from_value(events["data"][0].clone()).unwrap();
    let applier = PaymentApplier::new(&env.db.db);
    assert_eq!(
        applier.apply(&event, "webhook").await.unwrap(),
        Applied::Recorded
    );
    assert_eq!(
        last_failure(&env, org, *start).await.as_deref(),
        Some("payment attempt 1 failed")
    );
    // The catch-up reads the attempt's PaymentIntent through the invoice's payments.
    let catch_up = CatchUp::new(&env.db.db, env.api.clone()).with_page_size(2);
    drain(&catch_up).await;
    assert_eq!(
        last_failure(&env, org, *start).await.as_deref(),
        Some("insufficient_funds")
    );
    assert_eq!(facts_named(&env, "InvoicePaymentDeclined").await, 1);
    assert_eq!(facts_named(&env, "InvoicePaymentFailed").await, 1);
    // Seen again (a new first pass over the same events): nothing twice.
    let fresh = CatchUp::new(&env.db.db, env.api.clone());
    let mut tx = env.db.db.begin_write().await.unwrap();
    tx.query("DELETE FROM stripe_event_cursor")
        .execute()
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drain(&fresh).await;
    assert_eq!(facts_named(&env, "InvoicePaymentDeclined").await, 1);
    assert_eq!(facts_named(&env, "InvoicePaymentFailed").await, 1);
    // The retry succeeds: paid, and the PaymentIntent's error is gone.
    assert_eq!(
        stripe_post(&env, &format!("/v1/invoices/{stripe_id}/pay"), "").await,
        StatusCode::OK
    );
    drain(&catch_up).await;
    assert_eq!(payment_status(&env, org, *start).await, PaymentStatus::Paid);
    env.assert_conformance();
}

async fn an_unmatched_event_is_applied_by_the_next_catch_up_pass_once_its_invoice_is_known(
    backend: Backend,
) {
    let env = env(backend, FakeConfig::default()).await;
    let invoices = finalized(&env).await;
    let (_, org, start) = &invoices[0];
    // A paid event naming a Stripe invoice the ledger cannot place yet (no
    // metadata, no stored id): acknowledged and kept.
    let event: sync::payments::StripeEvent = serde_json::from_value(serde_json::json!({
        "id": "evt_before_the_sync", "object": "event", "type": "invoice.paid",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": "in_not_stored_yet", "object": "invoice", "metadata": {}}},
    }))
    .unwrap();
    let applier = PaymentApplier::new(&env.db.db);
    assert_eq!(
        applier.apply(&event, "webhook").await.unwrap(),
        Applied::Unmatched
    );
    let catch_up = CatchUp::new(&env.db.db, env.api.clone());
    drain(&catch_up).await;
    assert_eq!(
        payment_status(&env, org, *start).await,
        PaymentStatus::Unpaid
    );
    // The sync now names that Stripe invoice as this one's.
    let mut tx = env.db.db.begin_write().await.unwrap();
    tx.query(
        "UPDATE stripe_invoice_sync SET stripe_invoice_id = $1 \
         WHERE org_id = $2 AND period_start = $3",
    )
    .bind("in_not_stored_yet")
    .bind(org.as_str())
    .bind(ledger::db::format_timestamp(*start))
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();
    drain(&catch_up).await;
    assert_eq!(payment_status(&env, org, *start).await, PaymentStatus::Paid);
    let head = env.db.store().head_position().await.unwrap();
    drain(&catch_up).await;
    assert_eq!(
        applier.apply(&event, "webhook").await.unwrap(),
        Applied::Duplicate
    );
    assert_eq!(env.db.store().head_position().await.unwrap(), head);
    assert_eq!(facts_named(&env, "InvoicePaid").await, 1);
}

sync_support::both_backends!(
    webhooks_lost_are_recovered_by_the_catch_up_poller_once,
    a_catch_up_killed_mid_pass_resumes_without_loss_or_repeat,
    a_failure_the_webhook_brought_gets_its_decline_reason_from_the_payment_intent,
    an_unmatched_event_is_applied_by_the_next_catch_up_pass_once_its_invoice_is_known,
);
