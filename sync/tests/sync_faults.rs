//! Every fault kind of the Stripe fake, while the sync publishes: it
//! retries transient failures (honouring `Retry-After`), recovers from
//! answers it never got, and ends with Stripe holding exactly the ledger's
//! invoices — no duplicates, totals to the cent.

mod sync_support;

use std::time::Duration;

use stripe_fake::{FakeConfig, Fault};
use sync_support::{client, env, options, Backend};

async fn publishes_despite(
    backend: Backend,
    faults: Vec<Fault>,
    request_timeout: Duration,
    window: Duration,
) {
    let mut env = env(
        backend,
        FakeConfig {
            idempotency_window: window,
            ..FakeConfig::default()
        },
    )
    .await;
    env.api = client(&env.fake, request_timeout);
    env.seed_closed("org", 4, 12).await;
    for fault in faults {
        env.fake.inject(fault);
    }
    let projector = env.projector(options());
    env.drain(&projector).await;
    let summary = sync::status::summary(&env.db.db).await.unwrap();
    assert_eq!(summary.parked, 0, "nothing is parked: {summary:?}");
    env.assert_stripe_matches_ledger().await;
    let report = env.reconcile().await;
    assert_eq!(report.stripe_invoices, 4);
    env.assert_conformance();
}

const DAY: Duration = Duration::from_secs(86_400);

async fn rate_limits_are_waited_out_with_retry_after(backend: Backend) {
    publishes_despite(
        backend,
        vec![Fault::rate_limit(Duration::from_millis(200))
            .on("POST", "/v1/invoiceitems")
            .times(5)],
        Duration::from_secs(5),
        DAY,
    )
    .await;
}

async fn lock_timeouts_are_retried(backend: Backend) {
    publishes_despite(
        backend,
        vec![Fault::lock_timeout(Duration::from_millis(50))
            .on("POST", "/v1/invoices/*/finalize")
            .times(6)],
        Duration::from_secs(5),
        DAY,
    )
    .await;
}

async fn server_errors_are_retried_beyond_the_tries_of_one_pass(backend: Backend) {
    publishes_despite(
        backend,
        vec![Fault::server_error().on("POST", "/v1/invoices").times(9)],
        Duration::from_secs(5),
        DAY,
    )
    .await;
}

async fn timeouts_after_the_change_happened_create_nothing_twice(backend: Backend) {
    publishes_despite(
        backend,
        vec![Fault::latency(Duration::from_millis(800))
            .on("POST", "/v1/invoiceitems")
            .times(3)],
        Duration::from_millis(300),
        DAY,
    )
    .await;
}

async fn dropped_connections_after_commit_create_nothing_twice(backend: Backend) {
    publishes_despite(
        backend,
        vec![
            Fault::commit_then_drop()
                .on("POST", "/v1/invoices")
                .times(2),
            Fault::commit_then_drop()
                .on("POST", "/v1/invoiceitems")
                .times(4),
            Fault::commit_then_drop()
                .on("POST", "/v1/customers")
                .times(2),
            Fault::commit_then_drop()
                .on("POST", "/v1/invoices/*/finalize")
                .times(2),
        ],
        Duration::from_secs(5),
        DAY,
    )
    .await;
}

async fn lost_answers_create_nothing_twice_even_after_the_idempotency_window(backend: Backend) {
    publishes_despite(
        backend,
        vec![
            Fault::commit_then_drop()
                .on("POST", "/v1/invoices")
                .times(2),
            Fault::commit_then_drop()
                .on("POST", "/v1/invoiceitems")
                .times(4),
            Fault::commit_then_drop()
                .on("POST", "/v1/customers")
                .times(2),
            Fault::latency(Duration::from_millis(800))
                .on("POST", "/v1/invoiceitems")
                .times(2),
        ],
        Duration::from_millis(300),
        Duration::from_millis(1),
    )
    .await;
}

async fn an_unreadable_answer_to_a_write_sends_the_invoice_to_recovery_not_to_parked(
    backend: Backend,
) {
    publishes_despite(
        backend,
        vec![
            Fault::unreadable_body().on("POST", "/v1/invoices").times(2),
            Fault::unreadable_body()
                .on("POST", "/v1/invoiceitems")
                .times(3),
            Fault::unreadable_body()
                .on("POST", "/v1/invoices/*/finalize")
                .times(2),
        ],
        Duration::from_secs(5),
        DAY,
    )
    .await;
}

sync_support::both_backends!(
    rate_limits_are_waited_out_with_retry_after,
    lock_timeouts_are_retried,
    server_errors_are_retried_beyond_the_tries_of_one_pass,
    timeouts_after_the_change_happened_create_nothing_twice,
    dropped_connections_after_commit_create_nothing_twice,
    lost_answers_create_nothing_twice_even_after_the_idempotency_window,
    an_unreadable_answer_to_a_write_sends_the_invoice_to_recovery_not_to_parked,
);
