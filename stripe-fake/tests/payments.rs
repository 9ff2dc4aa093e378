//! Payments in the fake: paying, declines, writing off, the event list and signed
//! webhook deliveries with retries and injected faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post as axum_post;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use stripe_fake::{conformance, DeliveryFaultKind, FakeConfig, FakeHandle, WebhookFault};

const KEY: &str = "sk_test_fake";

/// What the receiver saw: (Stripe-Signature, body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn fake() -> FakeHandle {
    let config = FakeConfig {
        webhook_retry_base: Duration::from_millis(20),
        ..FakeConfig::default()
    };
    stripe_fake::spawn(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap()
}

async fn call(
    fake: &FakeHandle,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let url = format!("{}{path}", fake.base_url());
    let request = match method {
        "GET" => Client::new().get(format!("{url}?{body}")),
        _ => Client::new()
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .body(body),
    };
    let response = request
        .bearer_auth(KEY)
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// A receiver that answers 500 to the first `fail_first` deliveries, then 200.
async fn receiver(fail_first: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum_post(move |headers: HeaderMap, body: String| {
            let state = Arc::clone(&state);
            async move {
                let mut seen = state.lock().unwrap();
                let sig = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.push((sig, serde_json::from_str(&body).unwrap()));
                if seen.len() <= fail_first {
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// An open invoice of 5.00 USD.
async fn open_invoice(fake: &FakeHandle) -> String {
    let (_, customer) = call(fake, "POST", "/v1/customers", &[("name", "Acme")]).await;
    let customer = customer["id"].as_str().unwrap().to_owned();
    let (_, invoice) = call(
        fake,
        "POST",
        "/v1/invoices",
        &[
            ("customer", &customer),
            ("pending_invoice_items_behavior", "exclude"),
        ],
    )
    .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let (status, item) = call(
        fake,
        "POST",
        "/v1/invoiceitems",
        &[
            ("customer", &customer),
            ("invoice", &id),
            ("amount", "500"),
            ("currency", "usd"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    let (status, finalized) = call(fake, "POST", &format!("/v1/invoices/{id}/finalize"), &[]).await;
    assert_eq!(
        (status, finalized["status"].as_str()),
        (StatusCode::OK, Some("open"))
    );
    id
}

fn types(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn paying_an_invoice_delivers_signed_events_retried_until_answered_2xx() {
    let fake = fake().await;
    let (url, seen) = receiver(1).await;
    let (status, endpoint) = call(
        &fake,
        "POST",
        "/v1/webhook_endpoints",
        &[
            ("url", &url),
            ("enabled_events[]", "invoice.paid"),
            ("enabled_events[]", "invoice.finalized"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = open_invoice(&fake).await;
    let (status, paid) = call(&fake, "POST", &format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{paid}"
    );
    assert!(paid["status_transitions"]["paid_at"].is_i64());
    // finalized (refused once, then retried) and paid.
    until("three deliveries", || seen.lock().unwrap().len() >= 3).await;
    let got = types(&seen);
    assert_eq!(
        got.iter().filter(|t| *t == "invoice.finalized").count(),
        2,
        "{got:?}"
    );
    assert!(got.contains(&"invoice.paid".to_owned()), "{got:?}");
    for (header, event) in seen.lock().unwrap().iter() {
        let (t, v1) = header.split_once(",v1=").unwrap();
        let t: i64 = t.trim_start_matches("t=").parse().unwrap();
        let expected = stripe_fake::signature_header(&secret, t, &event.to_string());
        assert_eq!(header, &expected);
        assert_eq!(v1.len(), 64);
    }
    assert!(conformance::check_all(&fake.requests()).is_ok());
}

#[tokio::test]
async fn a_declined_payment_is_a_card_error_and_a_payment_failed_event() {
    let fake = fake().await;
    let id = open_invoice(&fake).await;
    fake.fail_next_payment(&id, "insufficient_funds");
    let (status, err) = call(&fake, "POST", &format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{err}");
    assert_eq!(err["error"]["type"], "card_error");
    assert_eq!(err["error"]["decline_code"], "insufficient_funds");
    let (_, events) = call(
        &fake,
        "GET",
        "/v1/events",
        &[("type", "invoice.payment_failed")],
    )
    .await;
    let failed = &events["data"][0]["data"]["object"];
    assert_eq!(failed["attempt_count"], 1);
    assert!(failed["next_payment_attempt"].is_i64());
    // Stripe's invoice has no `last_payment_error`: the decline is on the attempt's
    // PaymentIntent.
    assert!(failed.get("last_payment_error").is_none(), "{failed}");
    assert!(conformance::check_object(failed).is_empty());
    // The next attempt succeeds; paying out of band is refused once paid.
    let (status, _) = call(&fake, "POST", &format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &fake,
        "POST",
        &format!("/v1/invoices/{id}/pay"),
        &[("paid_out_of_band", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(conformance::check_all(&fake.requests()).is_ok());
}

#[tokio::test]
async fn out_of_band_payment_and_uncollectible_are_events_listed_newest_first_with_paging() {
    let fake = fake().await;
    let a = open_invoice(&fake).await;
    let b = open_invoice(&fake).await;
    let (status, paid) = call(
        &fake,
        "POST",
        &format!("/v1/invoices/{a}/pay"),
        &[("paid_out_of_band", "true")],
    )
    .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("paid"))
    );
    let (status, written_off) = call(
        &fake,
        "POST",
        &format!("/v1/invoices/{b}/mark_uncollectible"),
        &[],
    )
    .await;
    assert_eq!(written_off["status"], "uncollectible", "{written_off}");
    assert_eq!(status, StatusCode::OK);
    let (_, first) = call(&fake, "GET", "/v1/events", &[("limit", "1")]).await;
    assert_eq!(first["data"][0]["type"], "invoice.marked_uncollectible");
    assert_eq!(first["has_more"], true);
    let last = first["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, rest) = call(
        &fake,
        "GET",
        "/v1/events",
        &[("starting_after", &last), ("limit", "100")],
    )
    .await;
    let kinds: Vec<&str> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["invoice.paid", "invoice.finalized", "invoice.finalized"]
    );
    let (_, paid_only) = call(&fake, "GET", "/v1/events", &[("type", "invoice.paid")]).await;
    assert_eq!(paid_only["data"].as_array().unwrap().len(), 1);
    assert!(conformance::check_all(&fake.requests()).is_ok());
}

#[tokio::test]
async fn injected_faults_drop_duplicate_reorder_and_delay_deliveries() {
    let fake = fake().await;
    let (url, seen) = receiver(0).await;
    call(
        &fake,
        "POST",
        "/v1/webhook_endpoints",
        &[("url", &url), ("enabled_events[]", "*")],
    )
    .await;
    for kind in [
        DeliveryFaultKind::Drop,
        DeliveryFaultKind::Duplicate,
        DeliveryFaultKind::Reorder,
        DeliveryFaultKind::Delay { ms: 50 },
    ] {
        fake.inject_webhook_fault(WebhookFault {
            kind,
            event_type: None,
            times: 1,
        });
    }
    // Five invoice.finalized events: dropped, duplicated, held back, delayed, plain.
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(open_invoice(&fake).await);
    }
    until("five deliveries", || seen.lock().unwrap().len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let objects: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e["data"]["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!objects.contains(&ids[0]), "dropped: {objects:?}");
    assert_eq!(
        objects.iter().filter(|o| **o == ids[1]).count(),
        2,
        "{objects:?}"
    );
    assert_eq!(objects.len(), 5, "{objects:?}");
    let pos = |id: &String| objects.iter().position(|o| o == id).unwrap();
    // The held-back one went after a later event's delivery.
    assert!(pos(&ids[2]) > pos(&ids[3]).min(pos(&ids[4])), "{objects:?}");
    // The dropped event is still listed.
    let (_, events) = call(&fake, "GET", "/v1/events", &[("limit", "100")]).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_declined_attempt_keeps_its_error_on_the_payment_intent_the_invoice_payments_name() {
    let fake = fake().await;
    let (url, seen) = receiver(0).await;
    let (status, _) = call(
        &fake,
        "POST",
        "/v1/webhook_endpoints",
        &[
            ("url", &url),
            ("enabled_events[]", "invoice.payment_failed"),
            ("enabled_events[]", "payment_intent.payment_failed"),
            ("enabled_events[]", "payment_intent.succeeded"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = open_invoice(&fake).await;
    fake.fail_next_payment(&id, "insufficient_funds");
    let (status, _) = call(&fake, "POST", &format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // Unexpanded, the invoice names no payment (an includable field).
    let (_, plain) = call(&fake, "GET", &format!("/v1/invoices/{id}"), &[]).await;
    assert!(plain.get("payments").is_none(), "{plain}");
    let (status, invoice) = call(
        &fake,
        "GET",
        &format!("/v1/invoices/{id}"),
        &[("expand[]", "payments")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{invoice}");
    let payment = &invoice["payments"]["data"][0];
    assert_eq!(payment["object"], "invoice_payment");
    assert_eq!(payment["invoice"], id.as_str());
    assert_eq!(payment["status"], "open");
    assert_eq!(payment["payment"]["type"], "payment_intent");
    let pi = payment["payment"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pi.starts_with("pi_"), "{pi}");

    let (status, intent) = call(&fake, "GET", &format!("/v1/payment_intents/{pi}"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(intent["amount"], 500);
    assert_eq!(intent["currency"], "usd");
    assert!(
        intent.get("invoice").is_none(),
        "no invoice field since 2025-03-31"
    );
    let error = &intent["last_payment_error"];
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("card_error"), Some("card_declined"))
    );
    assert_eq!(error["decline_code"], "insufficient_funds");
    assert!(error["message"].is_string());
    for object in [&plain, &invoice, &intent] {
        let violations = conformance::check_object(object);
        assert!(violations.is_empty(), "{object}\n{violations:?}");
    }
    // The checker is not lenient: a field Stripe's error object lacks, or one the
    // payment reference has in no variant, is reported.
    let mut forged = intent.clone();
    forged["last_payment_error"]["reason"] = Value::from("made up");
    assert!(!conformance::check_object(&forged).is_empty());
    let mut forged = invoice.clone();
    forged["payments"]["data"][0]["payment"]["made_up"] = Value::from(1);
    assert!(!conformance::check_object(&forged).is_empty());
    let (status, missing) = call(&fake, "GET", "/v1/payment_intents/pi_missing", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "resource_missing");

    // The event list and the webhooks carry the PaymentIntent's event too.
    let (_, events) = call(
        &fake,
        "GET",
        "/v1/events",
        &[("type", "payment_intent.payment_failed")],
    )
    .await;
    let failed = &events["data"][0]["data"]["object"];
    assert_eq!(failed["id"], pi.as_str());
    assert_eq!(
        failed["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    until("two deliveries", || seen.lock().unwrap().len() >= 2).await;
    let got = types(&seen);
    assert!(
        got.contains(&"payment_intent.payment_failed".to_owned()),
        "{got:?}"
    );
    assert!(
        got.contains(&"invoice.payment_failed".to_owned()),
        "{got:?}"
    );

    // The retry confirms the same PaymentIntent, which succeeds and drops the error.
    let (status, _) = call(&fake, "POST", &format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, intent) = call(&fake, "GET", &format!("/v1/payment_intents/{pi}"), &[]).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_received"], 500);
    assert!(intent["last_payment_error"].is_null());
    let (_, invoice) = call(
        &fake,
        "GET",
        &format!("/v1/invoices/{id}"),
        &[("expand[]", "payments")],
    )
    .await;
    assert_eq!(
        invoice["payments"]["data"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(invoice["payments"]["data"][0]["status"], "paid");
    assert_eq!(invoice["payments"]["data"][0]["amount_paid"], 500);
    assert!(conformance::check_object(&invoice).is_empty());
    until("the success delivered", || {
        types(&seen).contains(&"payment_intent.succeeded".to_owned())
    })
    .await;
    assert!(conformance::check_all(&fake.requests()).is_ok());
}
