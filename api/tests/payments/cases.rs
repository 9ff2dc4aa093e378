//! Each case: given a finalized invoice, when Stripe (or someone posing as
//! it) delivers events, then the invoice and organization reads say.

use chrono::Utc;
use ledger::StreamId;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sync::payments::signature::{sign, signature};

use super::app::TestApp;
use super::stripe::{
    deliver, finalized_invoice, invoice_event, invoice_now, org_now, signed, OLD_SECRET, SECRET,
};

fn amount(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

pub async fn a_signed_paid_event_makes_the_invoice_paid_and_clears_the_balance_due(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let org = org_now(app, "acme").await;
    assert_eq!(amount(&org["balance_due"]["amount"]), Decimal::ONE, "{org}");
    assert_eq!(org["balance_due"]["invoices"], 1);
    let before = invoice_now(app, "acme", start).await;
    assert_eq!(before["payment_status"], "unpaid");
    let now = Utc::now().timestamp();
    let paid = invoice_event(
        "evt_paid_1",
        "invoice.paid",
        now,
        "acme",
        start,
        json!({"status": "paid", "status_transitions": {"paid_at": now - 5}}),
    );
    let ack = signed(app, &paid).await;
    assert_eq!(ack["outcome"], "recorded", "{ack}");
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "paid", "{invoice}");
    assert_eq!(invoice["status"], "paid");
    let paid_at: chrono::DateTime<Utc> = invoice["paid_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(paid_at.timestamp(), now - 5);
    assert_eq!(
        invoice["version"].as_i64(),
        before["version"].as_i64().map(|v| v + 1)
    );
    let org = org_now(app, "acme").await;
    assert_eq!(
        amount(&org["balance_due"]["amount"]),
        Decimal::ZERO,
        "{org}"
    );
    assert_eq!(org["balance_due"]["invoices"], 0);
    let (_, list) = app
        .get("/v1/organizations/acme/invoices", &app.support)
        .await;
    assert_eq!(list["invoices"][0]["payment_status"], "paid", "{list}");
}

pub async fn unsigned_forged_tampered_and_stale_webhooks_get_400_and_store_nothing(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let head = app.db.store().head_position().await.unwrap();
    let now = Utc::now().timestamp();
    let body =
        invoice_event("evt_forged", "invoice.paid", now, "acme", start, json!({})).to_string();
    let tampered = body.replace("evt_forged", "evt_forgeD");
    let cases: Vec<(&str, &str, Option<String>)> = vec![
        ("no signature", &body, None),
        ("malformed", &body, Some("t=soon,v1=nothex".into())),
        (
            "wrong secret",
            &body,
            Some(sign("whsec_attacker", now, body.as_bytes())),
        ),
        (
            "tampered body",
            &tampered,
            Some(sign(SECRET, now, body.as_bytes())),
        ),
        (
            "stale replay",
            &body,
            Some(sign(SECRET, now - 301, body.as_bytes())),
        ),
        (
            "timestamp changed",
            &body,
            Some(format!(
                "t={},v1={}",
                now + 1,
                signature(SECRET, now, body.as_bytes())
            )),
        ),
    ];
    for (what, body, header) in cases {
        let (status, answer) = deliver(app, body, header).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_signature",
            "{what}: {answer}"
        );
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.db.store().head_position().await.unwrap(), head);
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "unpaid");
    let (_, metrics) = app
        .call(reqwest::Method::GET, "/metrics", Some(&app.admin), None)
        .await;
    let text = metrics["raw"].as_str().unwrap_or_default();
    assert!(
        text.contains("billing_stripe_webhook_signature_failures_total{reason=\"missing\"} 1"),
        "{text}"
    );
}

pub async fn a_redelivered_event_is_recorded_once(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let event = invoice_event("evt_twice", "invoice.paid", now, "acme", start, json!({}));
    assert_eq!(signed(app, &event).await["outcome"], "recorded");
    let head = app.db.store().head_position().await.unwrap();
    for _ in 0..3 {
        assert_eq!(signed(app, &event).await["outcome"], "duplicate");
    }
    assert_eq!(app.db.store().head_position().await.unwrap(), head);
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "paid");
}

pub async fn a_failure_delivered_after_paid_never_makes_the_invoice_unpaid(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    // Stripe created the failure first (attempt 1), then the payment
    // (attempt 2) — but delivers them the other way round.
    let failed = invoice_event(
        "evt_fail_1",
        "invoice.payment_failed",
        now - 60,
        "acme",
        start,
        json!({"attempt_count": 1, "next_payment_attempt": now + 3600}),
    );
    let paid = invoice_event("evt_paid_2", "invoice.paid", now, "acme", start, json!({}));
    signed(app, &paid).await;
    signed(app, &failed).await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "paid", "{invoice}");
    assert_eq!(invoice["payment_failed"], Value::Null);
    assert_eq!(invoice["next_payment_attempt"], Value::Null);
    assert_eq!(invoice["last_payment_failure"], "payment attempt 1 failed");
}

pub async fn a_failed_payment_shows_its_reason_and_next_attempt_and_stays_due(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let next = now + 3 * 86_400;
    // As Stripe sends them: the invoice says which attempt failed, not why.
    let newer = invoice_event(
        "evt_fail_2",
        "invoice.payment_failed",
        now,
        "acme",
        start,
        json!({"attempt_count": 2, "next_payment_attempt": next}),
    );
    let older = invoice_event(
        "evt_fail_1",
        "invoice.payment_failed",
        now - 86_400,
        "acme",
        start,
        json!({"attempt_count": 1, "next_payment_attempt": now}),
    );
    signed(app, &newer).await;
    signed(app, &older).await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "payment_failed", "{invoice}");
    assert_eq!(invoice["last_payment_failure"], "payment attempt 2 failed");
    // The reason from the attempt's PaymentIntent, as the catch-up records it;
    // an older attempt's decline does not stand in for the newer failure.
    declined(app, start, "evt_fail_1", "insufficient_funds").await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["last_payment_failure"], "payment attempt 2 failed");
    declined(app, start, "evt_fail_2", "card_declined").await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(
        invoice["last_payment_failure"], "card_declined",
        "{invoice}"
    );
    assert_eq!(invoice["payment_failed"], "card_declined");
    let at: chrono::DateTime<Utc> = invoice["next_payment_attempt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(at.timestamp(), next);
    let org = org_now(app, "acme").await;
    assert_eq!(amount(&org["balance_due"]["amount"]), Decimal::ONE, "{org}");
}

pub async fn a_decline_recorded_before_its_failure_arrived_shows_once_the_failure_does(
    app: &TestApp,
) {
    let start = finalized_invoice(app, "acme").await;
    declined(app, start, "evt_fail_late", "insufficient_funds").await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "unpaid", "{invoice}");
    assert!(invoice["last_payment_failure"].is_null(), "{invoice}");
    let failed = invoice_event(
        "evt_fail_late",
        "invoice.payment_failed",
        Utc::now().timestamp(),
        "acme",
        start,
        json!({"attempt_count": 1, "next_payment_attempt": Utc::now().timestamp() + 86_400}),
    );
    assert_eq!(signed(app, &failed).await["outcome"], "recorded");
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "payment_failed", "{invoice}");
    assert_eq!(invoice["last_payment_failure"], "insufficient_funds");
    // Paid later: the decline no longer matters.
    let paid = invoice_event(
        "evt_paid_after_decline",
        "invoice.paid",
        Utc::now().timestamp(),
        "acme",
        start,
        json!({}),
    );
    signed(app, &paid).await;
    assert_eq!(
        invoice_now(app, "acme", start).await["payment_status"],
        "paid"
    );
}

/// What the catch-up records for failure `event` from the PaymentIntent.
async fn declined(app: &TestApp, start: chrono::DateTime<Utc>, event: &str, code: &str) {
    use ledger::event::{InvoiceKey, InvoicePaymentDeclined};
    use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId};
    let key = InvoiceKey {
        org_id: OrgId::new("acme").unwrap(),
        period_start: start,
    };
    let fact = LedgerEvent::InvoicePaymentDeclined(InvoicePaymentDeclined {
        invoice: key.clone(),
        stripe_invoice_id: "in_acme".into(),
        stripe_event_id: event.into(),
        payment_intent_id: "pi_acme".into(),
        decline_code: Some(code.into()),
        code: Some("card_declined".into()),
        message: Some("Your card was declined.".into()),
    });
    let new = NewEvent::from_domain(&fact, Utc::now())
        .unwrap()
        .with_idempotency_key(sync::payments::decline::decline_key(event));
    app.db
        .store()
        .append(&key.stream(), ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
}

pub async fn uncollectible_and_voided_invoices_leave_the_balance_due(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let event = invoice_event(
        "evt_unc",
        "invoice.marked_uncollectible",
        now,
        "acme",
        start,
        json!({"status": "uncollectible"}),
    );
    signed(app, &event).await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "uncollectible", "{invoice}");
    let org = org_now(app, "acme").await;
    assert_eq!(org["balance_due"]["invoices"], 0, "{org}");
    let voided = invoice_event(
        "evt_void",
        "invoice.voided",
        now + 1,
        "acme",
        start,
        json!({}),
    );
    signed(app, &voided).await;
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "void", "{invoice}");
    // The ledger's own status is the ledger's: Stripe voided its copy.
    assert_eq!(invoice["status"], "finalized");
}

pub async fn an_event_for_an_unknown_invoice_is_acknowledged_and_kept_for_operators(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let mut stranger = invoice_event(
        "evt_stranger",
        "invoice.paid",
        now,
        "acme",
        start,
        json!({}),
    );
    stranger["data"]["object"]["id"] = json!("in_not_ours");
    stranger["data"]["object"]["metadata"] = json!({});
    let ack = signed(app, &stranger).await;
    assert_eq!(ack["outcome"], "unmatched", "{ack}");
    assert_eq!(signed(app, &stranger).await["outcome"], "duplicate");
    let kept = app
        .db
        .store()
        .read_stream(&StreamId::new("stripe-unmatched").unwrap(), 0, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].event_type, "StripeEventUnmatched");
    let ignored = invoice_event(
        "evt_created",
        "invoice.created",
        now,
        "acme",
        start,
        json!({}),
    );
    assert_eq!(signed(app, &ignored).await["outcome"], "ignored");
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "unpaid");
}

pub async fn a_rotated_secret_is_accepted_alongside_the_new_one(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let body = invoice_event(
        "evt_old_secret",
        "invoice.paid",
        now,
        "acme",
        start,
        json!({}),
    )
    .to_string();
    let (status, ack) = deliver(app, &body, Some(sign(OLD_SECRET, now, body.as_bytes()))).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["outcome"], "recorded");
}

/// A Stripe invoice event naming no ledger metadata: only the sync's stored
/// Stripe id can match it.
fn bare_event(id: &str, kind: &str, stripe_invoice: &str) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": Utc::now().timestamp(),
           "livemode": false, "pending_webhooks": 1,
           "data": {"object": {"id": stripe_invoice, "object": "invoice", "status": "paid",
                               "metadata": {}}}})
}

/// What the sync stores once it has published the invoice to Stripe.
async fn sync_stores_stripe_id(app: &TestApp, start: chrono::DateTime<Utc>, stripe_invoice: &str) {
    let mut tx = app.db.db.begin_write().await.unwrap();
    tx.query(
        "INSERT INTO stripe_invoice_sync \
           (org_id, period_start, target_version, ledger_status, stripe_invoice_id, updated_at) \
         VALUES ($1, $2, 1, 'finalized', $3, 0)",
    )
    .bind("acme")
    .bind(ledger::db::format_timestamp(start))
    .bind(stripe_invoice)
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn facts_named(app: &TestApp, event_type: &str) -> usize {
    app.db
        .store()
        .read_all(0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == event_type)
        .count()
}

pub async fn an_unmatched_event_redelivered_after_its_invoice_became_known_is_applied_once(
    app: &TestApp,
) {
    let start = finalized_invoice(app, "acme").await;
    let early = bare_event("evt_early_paid", "invoice.paid", "in_early");
    assert_eq!(signed(app, &early).await["outcome"], "unmatched");
    assert_eq!(signed(app, &early).await["outcome"], "duplicate");
    assert_eq!(
        invoice_now(app, "acme", start).await["payment_status"],
        "unpaid"
    );
    sync_stores_stripe_id(app, start, "in_early").await;
    assert_eq!(signed(app, &early).await["outcome"], "recorded");
    let invoice = invoice_now(app, "acme", start).await;
    assert_eq!(invoice["payment_status"], "paid", "{invoice}");
    let head = app.db.store().head_position().await.unwrap();
    assert_eq!(signed(app, &early).await["outcome"], "duplicate");
    assert_eq!(app.db.store().head_position().await.unwrap(), head);
    assert_eq!(facts_named(app, "InvoicePaid").await, 1);
    assert_eq!(facts_named(app, "StripeEventUnmatched").await, 1);
}

pub async fn the_catch_up_applies_an_unmatched_event_once_its_invoice_is_known(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let early = bare_event("evt_early_paid", "invoice.paid", "in_early");
    assert_eq!(signed(app, &early).await["outcome"], "unmatched");
    let applier = sync::payments::PaymentApplier::new(&app.db.db);
    let month_ago = Utc::now() - chrono::Duration::days(30);
    assert_eq!(applier.reexamine_unmatched(month_ago).await.unwrap(), 0);
    sync_stores_stripe_id(app, start, "in_early").await;
    assert_eq!(applier.reexamine_unmatched(month_ago).await.unwrap(), 1);
    assert_eq!(
        invoice_now(app, "acme", start).await["payment_status"],
        "paid"
    );
    let head = app.db.store().head_position().await.unwrap();
    assert_eq!(applier.reexamine_unmatched(month_ago).await.unwrap(), 0);
    assert_eq!(signed(app, &early).await["outcome"], "duplicate");
    assert_eq!(app.db.store().head_position().await.unwrap(), head);
    assert_eq!(facts_named(app, "InvoicePaid").await, 1);
}

pub async fn two_concurrent_deliveries_of_one_event_store_one_fact(app: &TestApp) {
    let start = finalized_invoice(app, "acme").await;
    let now = Utc::now().timestamp();
    let paid = invoice_event("evt_racing", "invoice.paid", now, "acme", start, json!({}));
    let (a, b) = tokio::join!(signed(app, &paid), signed(app, &paid));
    let mut outcomes = vec![a["outcome"].clone(), b["outcome"].clone()];
    outcomes.sort_by_key(|v| v.to_string());
    assert_eq!(outcomes, vec![json!("duplicate"), json!("recorded")]);
    assert_eq!(facts_named(app, "InvoicePaid").await, 1);
    // The same race while the invoice is unknown keeps one unmatched record.
    let early = bare_event("evt_racing_early", "invoice.paid", "in_racing");
    let (a, b) = tokio::join!(signed(app, &early), signed(app, &early));
    let mut outcomes = vec![a["outcome"].clone(), b["outcome"].clone()];
    outcomes.sort_by_key(|v| v.to_string());
    assert_eq!(outcomes, vec![json!("duplicate"), json!("unmatched")]);
    assert_eq!(facts_named(app, "StripeEventUnmatched").await, 1);
}
