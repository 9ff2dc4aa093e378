//! Generic test bodies.

use chrono::{Duration, SecondsFormat, Utc};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::{usage, TestApp};

/// A time `minutes` seconds ago: after the test price took effect (4 min ago).
fn recent(minutes: i64) -> String {
    (Utc::now() - Duration::seconds(minutes)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub use super::replica::a_read_only_replica_answers_every_read_and_refuses_every_write;

pub async fn health_needs_no_token_and_everything_else_does(app: &TestApp) {
    for path in ["/healthz", "/readyz"] {
        let (status, _) = app.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, body) = app.call(Method::GET, "/v1/organizations", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app.get("/v1/organizations", "blt_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.get("/nowhere", &app.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("/v1"));
}

pub async fn usage_is_accepted_deduplicated_and_visible_in_the_next_read(app: &TestApp) {
    app.platform("acme").await;
    let batch = json!({"records": [
        usage("acme", json!("1000"), "k1", &recent(30)),
        usage("acme", json!(250.5), "k2", &recent(20)),
        usage("acme", json!("1000"), "k1", &recent(30)),
    ]});
    let (status, body) = app.post("/v1/usage", &app.ingest, batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(body["results"][2]["status"], "duplicate");
    assert_eq!(
        body["results"][2]["event_id"],
        body["results"][0]["event_id"]
    );
    let position = body["position"].as_i64().unwrap();

    let (status, again) = app.post("/v1/usage", &app.ingest, batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["accepted"], 0);
    assert_eq!(again["duplicates"], 3);

    let (status, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert!(current["reflects"]["position"].as_i64().unwrap() >= position);
    let invoice = &current["invoice"];
    assert_eq!(invoice["status"], "open");
    let cpu = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["meter"] == "cpu_seconds")
        .unwrap();
    assert_eq!(cpu["quantity"], "1250.5");
    assert_eq!(
        cpu["amount"], "12.51",
        "1250.5 × 0.01 = 12.505, half away from zero"
    );
    assert_eq!(invoice["total"], "12.51");

    let (status, waited) = app
        .get(
            &format!(
                "/v1/organizations/acme/invoices/current?min_position={}",
                position + 1000
            ),
            &app.support,
        )
        .await;
    // On the primary a position beyond the newest stored was never written:
    // 422 after the wait (a replica answers 503, see the replica test).
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{waited}");
    assert_eq!(waited["error"]["field"], "min_position", "{waited}");
    assert!(waited["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no event has position"));
}

pub async fn bad_usage_items_are_rejected_one_by_one_and_store_nothing(app: &TestApp) {
    app.platform("acme").await;
    let future = (Utc::now() + Duration::days(3)).to_rfc3339();
    let cases = [
        (
            usage("acme", json!("-1"), "a", &recent(1)),
            "must not be negative",
        ),
        (
            usage("acme", json!("NaN"), "b", &recent(1)),
            "not a decimal",
        ),
        (
            usage("acme", json!("1e30"), "c", &recent(1)),
            "without an exponent",
        ),
        (
            usage("acme", json!({"v": 1}), "d", &recent(1)),
            "quantity must be",
        ),
        (usage("acme", json!("1"), "e", "yesterday"), "occurred_at"),
        (
            usage("acme", json!("1"), "f", &future),
            "after 24 hours from now",
        ),
        (
            usage("nobody", json!("1"), "g", &recent(1)),
            "organization `nobody` is not registered",
        ),
        (
            json!({"org_id": "acme", "meter": "gpu", "quantity": "1", "occurred_at": recent(1), "idempotency_key": "h"}),
            "unknown meter",
        ),
        (
            json!({"org_id": "acme", "meter": "cpu_seconds", "quantity": "1", "occurred_at": recent(1), "idempotency_key": "i", "colour": "red"}),
            "unknown field",
        ),
        (
            json!({"org_id": "acme", "meter": "cpu_seconds", "quantity": "1", "occurred_at": recent(1)}),
            "idempotency_key",
        ),
        (usage("acme", json!("1"), "", &recent(1)), "idempotency_key"),
        (
            usage("acme", json!("0.0000000000001"), "j", &recent(1)),
            "decimal places",
        ),
    ];
    let mut records: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    records.push(usage("acme", json!("5"), "good", &recent(1)));
    let (status, body) = app
        .post("/v1/usage", &app.ingest, json!({"records": records}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (i, (_, reason)) in cases.iter().enumerate() {
        let result = &body["results"][i];
        assert_eq!(result["status"], "rejected", "item {i}: {result}");
        assert!(
            result["reason"].as_str().unwrap().contains(reason),
            "item {i}: {result}"
        );
    }
    assert_eq!(body["results"][cases.len()]["status"], "accepted");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(1), Some(cases.len() as u64))
    );
    let (_, events) = app
        .get(
            "/v1/organizations/acme/events?type=UsageRecorded",
            &app.support,
        )
        .await;
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        1,
        "only the good record was stored"
    );
}

pub async fn atomic_batch_with_a_bad_item_stores_nothing(app: &TestApp) {
    app.platform("acme").await;
    let records = json!({"records": [usage("acme", json!("1"), "x1", &recent(1)), usage("acme", json!("-1"), "x2", &recent(1))]});
    let (status, body) = app
        .post("/v1/usage?atomic=true", &app.ingest, records)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["stored"], false);
    let (_, events) = app
        .get(
            "/v1/organizations/acme/events?type=UsageRecorded",
            &app.support,
        )
        .await;
    assert!(events["events"].as_array().unwrap().is_empty());
}

pub async fn bad_requests_get_json_errors_that_name_the_problem(app: &TestApp) {
    app.platform("acme").await;
    let raw = app
        .client
        .post(format!("{}/v1/usage", app.base))
        .bearer_auth(&app.ingest)
        .header("content-type", "application/json")
        .body("{\"records\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let no_type = app
        .client
        .post(format!("{}/v1/usage", app.base))
        .bearer_auth(&app.ingest)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A body that does not match the operation's schema: 400.
    let (status, body) = app
        .post("/v1/usage", &app.ingest, json!({"records": [], "extra": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{body}"
    );
    let (status, body) = app
        .post("/v1/usage", &app.ingest, json!({"records": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "records");
    let too_many: Vec<Value> = (0..5_001)
        .map(|i| usage("acme", json!("1"), &format!("k{i}"), &recent(1)))
        .collect();
    let (status, _) = app
        .post("/v1/usage", &app.ingest, json!({"records": too_many}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"org_id": "acme", "name": "Again", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"org_id": "x y", "name": "Bad", "currency": "USD"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("org_id"))
    );
    let (status, body) = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"org_id": "newco", "name": "N", "currency": "XXQ"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency"))
    );
    let (status, body) = app
        .post(
            "/v1/prices",
            &app.admin,
            json!({"price_id": "p", "meter": "m", "currency": "USD", "unit": "u",
            "description": "d", "spec": {"model": {"type": "per_unit", "unit_price": "1"}},
            "effective_from": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("effective_from"))
    );
    let (status, _) = app
        .get("/v1/organizations/acme/invoices/not-a-date", &app.support)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .get("/v1/organizations/acme/events?order=sideways", &app.support)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get("/v1/organizations/acme/events?bogus=1", &app.support)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app.get("/v1/events/not-a-uuid", &app.support).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_path", "{body}");
    let (status, _) = app
        .get("/v1/organizations/ghost/invoices", &app.support)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn roles_allow_and_forbid_each_endpoint(app: &TestApp) {
    app.platform("acme").await;
    let org = app.org_token("acme").await;
    let other = app.org_token("someone-else").await;
    let usage_body = json!({"records": [usage("acme", json!("1"), "role-k", &recent(1))]});
    let org_body = json!({"org_id": "newco", "name": "N", "currency": "USD"});
    let charge = json!({"id": "c1", "description": "setup", "amount": "10"});
    // (method, path, body, [ingest, support, admin, org(acme), org(other)] allowed?)
    let matrix: Vec<(Method, &str, Option<Value>, [bool; 5])> = vec![
        (
            Method::POST,
            "/v1/usage",
            Some(usage_body),
            [true, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/organizations",
            Some(org_body),
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/v1/organizations",
            None,
            [false, true, true, false, false],
        ),
        (
            Method::GET,
            "/v1/organizations/acme",
            None,
            [false, true, true, true, false],
        ),
        (
            Method::POST,
            "/v1/organizations/acme/charges",
            Some(charge),
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/v1/prices",
            None,
            [true, true, true, true, true],
        ),
        (
            Method::GET,
            "/v1/organizations/acme/invoices",
            None,
            [false, true, true, true, false],
        ),
        (
            Method::GET,
            "/v1/organizations/acme/invoices/current",
            None,
            [false, true, true, true, false],
        ),
        (
            Method::GET,
            "/v1/organizations/acme/events",
            None,
            [false, true, true, false, false],
        ),
        (
            Method::GET,
            "/v1/ops/projections",
            None,
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/v1/ops/rebuild",
            None,
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/v1/ops/sync",
            None,
            [false, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/organizations/acme/credits",
            Some(json!({"id": "c2", "description": "goodwill", "amount": "1"})),
            [false, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/organizations/acme/subscriptions",
            Some(
                json!({"action": "start", "subscription_id": "s", "plan": "p", "monthly_fee": "5"}),
            ),
            [false, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/prices",
            Some(
                json!({"price_id": "gpu", "meter": "gpu_seconds", "currency": "USD", "unit": "s", "description": "GPU", "spec": {"model": {"type": "per_unit", "unit_price": "0.001"}}}),
            ),
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/v1/organizations/acme/invoices/2026-01-01",
            None,
            [false, true, true, true, false],
        ),
        (
            Method::GET,
            "/v1/organizations/acme/invoices/2026-01-01/lines/x/events",
            None,
            [false, true, true, true, false],
        ),
        (
            Method::GET,
            "/v1/events/01a1fd9d-657f-7478-8d77-cdb4a162fbe2",
            None,
            [false, true, true, false, false],
        ),
        (
            Method::POST,
            "/v1/ops/sync/acme/2026-01-01/retry",
            Some(json!({})),
            [false, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/ops/rebuild",
            Some(json!({})),
            [false, false, true, false, false],
        ),
        (
            Method::GET,
            "/metrics",
            None,
            [false, false, true, false, false],
        ),
        (
            Method::POST,
            "/v1/organizations/acme/usage/01a1fd9d-657f-7478-8d77-cdb4a162fbe2/corrections",
            Some(json!({"action": "void", "reason": "test"})),
            [false, false, true, false, false],
        ),
    ];
    let tokens = [&app.ingest, &app.support, &app.admin, &org, &other];
    for (method, path, body, allowed) in matrix {
        for (token, allowed) in tokens.iter().zip(allowed) {
            let (status, response) = app
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            if allowed {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} should be allowed, got {status} {response}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {response}");
                assert_eq!(response["error"]["code"], "forbidden");
            }
        }
    }
}

pub async fn org_scoped_token_sees_only_its_organization(app: &TestApp) {
    app.platform("acme").await;
    let (status, _) = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"org_id": "globex", "name": "Globex", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let acme = app.org_token("acme").await;
    let (status, _) = app.get("/v1/organizations/acme/invoices", &acme).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/organizations/globex/invoices", &acme).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("only read organization `acme`"));
    let (status, _) = app
        .post(
            "/v1/usage",
            &acme,
            json!({"records": [usage("acme", json!("1"), "z", &recent(1))]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A support token can never write.
    let (status, _) = app
        .post(
            "/v1/organizations/acme/credits",
            &app.support,
            json!({"id": "c", "description": "d", "amount": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

pub async fn concurrent_clients_sending_the_same_batch_store_each_item_once(app: &TestApp) {
    app.platform("acme").await;
    let records: Vec<Value> = (0..200)
        .map(|i| usage("acme", json!("1"), &format!("same-{i}"), &recent(2)))
        .collect();
    let batch = json!({"records": records});
    let responses =
        join_all((0..6).map(|_| app.post("/v1/usage", &app.ingest, batch.clone()))).await;
    let mut accepted = 0;
    for (status, body) in &responses {
        assert_eq!(*status, StatusCode::OK, "{body}");
        accepted += body["accepted"].as_u64().unwrap();
        assert_eq!(
            body["accepted"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap(),
            200
        );
    }
    assert_eq!(
        accepted, 200,
        "each item stored exactly once across all clients"
    );
    let mut count = 0;
    let mut cursor = String::new();
    loop {
        let (_, page) = app
            .get(
                &format!("/v1/organizations/acme/events?type=UsageRecorded&limit=1000{cursor}"),
                &app.support,
            )
            .await;
        count += page["events"].as_array().unwrap().len();
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(count, 200);
}

pub async fn audit_pages_through_ten_thousand_events_without_loss_or_repeat(app: &TestApp) {
    app.platform("acme").await;
    for chunk in 0..2 {
        let records: Vec<Value> = (0..5_000)
            .map(|i| usage("acme", json!("1"), &format!("p-{chunk}-{i}"), &recent(5)))
            .collect();
        let (status, body) = app
            .post("/v1/usage", &app.ingest, json!({"records": records}))
            .await;
        assert_eq!(
            (status, body["accepted"].as_u64()),
            (StatusCode::OK, Some(5_000))
        );
    }
    for order in ["asc", "desc"] {
        let mut seen = std::collections::HashSet::new();
        let mut positions = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = app
                .get(&format!("/v1/organizations/acme/events?type=UsageRecorded&limit=999&order={order}{cursor}"), &app.support)
                .await;
            assert_eq!(status, StatusCode::OK);
            for event in page["events"].as_array().unwrap() {
                assert!(
                    seen.insert(event["event_id"].as_str().unwrap().to_owned()),
                    "repeat"
                );
                positions.push(event["global_position"].as_i64().unwrap());
            }
            match page["next_cursor"].as_i64() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 10_000, "{order}");
        let sorted = positions.windows(2).all(|w| {
            if order == "asc" {
                w[0] < w[1]
            } else {
                w[0] > w[1]
            }
        });
        assert!(sorted, "{order}");
    }
}

pub async fn invoice_lines_provenance_and_as_of(app: &TestApp) {
    app.platform("acme").await;
    let (_, first) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [
                usage("acme", json!("100"), "a1", &recent(50)),
                usage("acme", json!("200"), "a2", &recent(40)),
            ]}),
        )
        .await;
    let cut = first["position"].as_i64().unwrap();
    let (_, second) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("300"), "a3", &recent(30))]}),
        )
        .await;
    let position = second["position"].as_i64().unwrap();
    let (_, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    let start = current["invoice"]["period_start"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, one) = app
        .get(
            &format!("/v1/organizations/acme/invoices/{start}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["invoice"], current["invoice"]);
    let line_id = one["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["meter"] == "cpu_seconds")
        .unwrap()["line_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, prov) = app
        .get(
            &format!("/v1/organizations/acme/invoices/{start}/lines/{line_id}/events?limit=2"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prov}");
    assert_eq!(prov["events"].as_array().unwrap().len(), 2);
    let next = prov["next_cursor"].as_i64().unwrap();
    let (_, rest) = app.get(&format!("/v1/organizations/acme/invoices/{start}/lines/{line_id}/events?limit=2&cursor={next}"), &app.support).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["payload"]["quantity"], "300");
    assert!(rest["next_cursor"].is_null());

    let (status, then) = app
        .get(
            &format!("/v1/organizations/acme/invoices/{start}?as_of_position={cut}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{then}");
    assert_eq!(then["invoice"]["total"], "3.00");
    assert_eq!(one["invoice"]["total"], "6.00");
    let encoded = Utc::now()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let (status, now) = app
        .get(
            &format!("/v1/organizations/acme/invoices/{start}?as_of={encoded}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["invoice"], one["invoice"]);
    let event_id = rest["events"][0]["event_id"].as_str().unwrap();
    let (status, event) = app
        .get(&format!("/v1/events/{event_id}"), &app.support)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["event"]["metadata"]["actor"], "token:test");
    assert_eq!(event["event"]["metadata"]["source"], "api:/v1/usage");
}

pub async fn charges_credits_and_subscriptions_land_on_the_invoice(app: &TestApp) {
    app.platform("acme").await;
    let (status, body) = app
        .post(
            "/v1/organizations/acme/charges",
            &app.admin,
            json!({"id": "setup", "description": "Dedicated IPv4", "amount": "2.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, again) = app
        .post(
            "/v1/organizations/acme/charges",
            &app.admin,
            json!({"id": "setup", "description": "Dedicated IPv4", "amount": "2.00"}),
        )
        .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let (status, _) = app
        .post(
            "/v1/organizations/acme/credits",
            &app.admin,
            json!({"id": "welcome", "description": "Welcome credit", "amount": "0.50"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app.post("/v1/organizations/acme/subscriptions", &app.admin, json!({"action": "start", "subscription_id": "s1", "plan": "launch", "monthly_fee": "29"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let position = body["position"].as_i64().unwrap();
    // A retried start (no effective_at, so "now" again) stores nothing twice.
    let (status, again) = app
        .post(
            "/v1/organizations/acme/subscriptions",
            &app.admin,
            json!({"action": "start", "subscription_id": "s1", "plan": "launch", "monthly_fee": "29"}),
        )
        .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "{again}"
    );

    let (status, body) = app
        .post(
            "/v1/organizations/acme/subscriptions",
            &app.admin,
            json!({"action": "pause", "subscription_id": "s1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    let kinds: Vec<&str> = current["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    for kind in ["charge", "credit", "recurring_fee"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let (status, _) = app
        .post(
            "/v1/organizations/ghost/charges",
            &app.admin,
            json!({"id": "x", "description": "d", "amount": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(
            "/v1/organizations/acme/charges",
            &app.admin,
            json!({"id": "neg", "description": "d", "amount": "-1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount"))
    );
}

pub async fn ops_report_lag_and_rebuild_in_the_background(app: &TestApp) {
    app.platform("acme").await;
    let (_, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("7"), "o1", &recent(3))]}),
        )
        .await;
    let position = body["position"].as_i64().unwrap();
    let (_, _) = app
        .get(
            &format!("/v1/organizations/acme/invoices?min_position={position}"),
            &app.support,
        )
        .await;
    let (status, ops) = app.get("/v1/ops/projections", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    let projection = &ops["projections"][0];
    assert_eq!(projection["name"], "invoices");
    assert_eq!(projection["events_behind"], 0);
    let (status, started) = app.post("/v1/ops/rebuild", &app.admin, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, status) = app.get("/v1/ops/rebuild", &app.admin).await;
        match status["rebuild"]["state"].as_str() {
            Some("finished") => {
                assert!(status["rebuild"]["generation"].as_i64().unwrap() >= 2);
                break;
            }
            Some("running") => {}
            other => panic!("rebuild ended {other:?}: {status}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rebuild did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, invoices) = app
        .get("/v1/organizations/acme/invoices", &app.support)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(invoices["invoices"][0]["total"], "0.07");
}

pub async fn metrics_need_an_admin_token_and_count_what_happened(app: &TestApp) {
    app.platform("acme").await;
    let (_, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [
                usage("acme", json!("1"), "m1", &recent(2)),
                usage("acme", json!("-1"), "m2", &recent(2)),
            ]}),
        )
        .await;
    assert_eq!(body["accepted"], 1);
    let (status, _) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/metrics", &app.support).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for needle in [
        "billing_usage_records_total{outcome=\"accepted\"} 1",
        "billing_usage_records_total{outcome=\"rejected\"} 1",
        "billing_http_requests_total{method=\"POST\",route=\"/v1/usage\",status=\"200\"} 1",
        "billing_http_request_duration_seconds_bucket",
        "billing_projection_events_behind",
        "billing_event_store_head_position",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

pub async fn openapi_document_describes_every_route_and_only_real_ones(app: &TestApp) {
    let response = app
        .client
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post"] {
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    documented.sort();
    let mut expected = vec![
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "POST /v1/usage",
        "POST /v1/organizations",
        "GET /v1/organizations",
        "GET /v1/organizations/{org_id}",
        "POST /v1/organizations/{org_id}/charges",
        "POST /v1/organizations/{org_id}/credits",
        "POST /v1/organizations/{org_id}/subscriptions",
        "POST /v1/prices",
        "GET /v1/prices",
        "GET /v1/organizations/{org_id}/invoices",
        "GET /v1/organizations/{org_id}/invoices/current",
        "GET /v1/organizations/{org_id}/invoices/{period_start}",
        "GET /v1/organizations/{org_id}/invoices/{period_start}/lines/{line_id}/events",
        "GET /v1/organizations/{org_id}/events",
        "GET /v1/events/{event_id}",
        "GET /v1/ops/projections",
        "POST /v1/ops/rebuild",
        "GET /v1/ops/rebuild",
        "GET /v1/ops/sync",
        "POST /v1/ops/sync/{org_id}/{period_start}/retry",
        "POST /v1/organizations/{org_id}/usage/{event_id}/corrections",
        "POST /v1/webhooks/stripe",
    ];
    expected.sort();
    assert_eq!(documented, expected);
    // Every documented operation is routed: none falls through to the 404
    // fallback or answers 405.
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let concrete = path
            .replace("{org_id}", "acme")
            .replace("{period_start}", "2026-01-01")
            .replace("{line_id}", "x")
            .replace("{event_id}", "01a1fd9d-657f-7478-8d77-cdb4a162fbe2");
        // (an unrouted path answers the fallback's 404, a routed one anything else)
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = app.call(method, &concrete, None, None).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{operation}");
        assert!(
            !(status == StatusCode::NOT_FOUND
                && body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("no such endpoint")),
            "{operation} is not routed"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(
        doc["components"]["schemas"]["NewOrganization"].is_object(),
        "request schemas are collected"
    );
}

pub async fn invoice_reads_say_where_the_invoice_stands_in_stripe(app: &TestApp) {
    app.platform("acme").await;
    let (_, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("700"), "s1", &recent(2))]}),
        )
        .await;
    let position = body["position"].as_i64().unwrap();
    let path = format!("/v1/organizations/acme/invoices/current?min_position={position}");
    let (_, before) = app.get(&path, &app.support).await;
    assert_eq!(before["sync"]["state"], "not_in_stripe", "{before}");
    assert_eq!(before["sync"]["message"], "not yet in Stripe");

    // Publish drafts right away through the real sync against the fake.
    let fake = stripe_fake::spawn(
        "127.0.0.1:0".parse().unwrap(),
        stripe_fake::FakeConfig::default(),
    )
    .await
    .unwrap();
    let config = match sync::stripe::StripeConfig::from_lookup(|name| match name {
        "STRIPE_API_KEY" => Some("sk_test_api".to_owned()),
        "STRIPE_API_BASE" => Some(fake.base_url()),
        _ => None,
    })
    .unwrap()
    {
        sync::stripe::StripeSetup::Enabled(config) => config,
        sync::stripe::StripeSetup::Disabled { reason } => panic!("{reason}"),
    };
    let api = std::sync::Arc::new(sync::stripe::StripeClient::new(&config).unwrap());
    // A 1 ms draft cadence: publish the open invoice now (0 would mean
    // final snapshots only).
    let options = sync::SyncOptions {
        draft_cadence: std::time::Duration::from_millis(1),
        ..sync::SyncOptions::default()
    };
    sync::SyncProjector::new(app.db.db.clone(), api, options)
        .run_until_idle()
        .await
        .unwrap();

    let (_, after) = app.get(&path, &app.support).await;
    assert_eq!(after["sync"]["state"], "in_stripe", "{after}");
    assert_eq!(
        after["sync"]["published_version"],
        after["invoice"]["version"]
    );
    assert!(after["sync"]["message"]
        .as_str()
        .unwrap()
        .starts_with("in Stripe as of version"));
    assert!(after["sync"]["stripe_invoice_id"]
        .as_str()
        .unwrap()
        .starts_with("in_"));

    let (status, ops) = app.get("/v1/ops/sync?org=acme", &app.admin).await;
    assert_eq!(status, StatusCode::OK, "{ops}");
    assert_eq!(ops["invoices"][0]["org_id"], "acme");
    assert_eq!(ops["summary"]["parked"], 0);
    let start = after["invoice"]["period_start"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/ops/sync/acme/{start}/retry"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not parked"));
    stripe_fake::conformance::check_all(&fake.requests())
        .expect("every request we sent is valid for Stripe");
    fake.shutdown().await;
}

pub async fn usage_is_corrected_and_voided_by_later_events(app: &TestApp) {
    app.platform("acme").await;
    let (_, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [
                usage("acme", json!("100"), "c1", &recent(20)),
                usage("acme", json!("50"), "c2", &recent(10)),
            ]}),
        )
        .await;
    let first = body["results"][0]["event_id"].as_str().unwrap().to_owned();
    let second = body["results"][1]["event_id"].as_str().unwrap().to_owned();
    let path = |id: &str| format!("/v1/organizations/acme/usage/{id}/corrections");

    let (status, body) = app
        .post(
            &path(&first),
            &app.admin,
            json!({"action": "correct", "quantity": "40", "reason": "meter double-counted"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["event"]["payload"]["previous_quantity"], "100");
    let (status, body) = app
        .post(
            &path(&first),
            &app.admin,
            json!({"action": "correct", "quantity": "30", "reason": "second look"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["event"]["payload"]["previous_quantity"], "40",
        "a correction starts from the quantity in force"
    );
    let (status, body) = app
        .post(
            &path(&second),
            &app.admin,
            json!({"action": "void", "reason": "test machine"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let position = body["position"].as_i64().unwrap();

    let (_, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    let cpu = current["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["meter"] == "cpu_seconds")
        .unwrap()
        .clone();
    assert_eq!(cpu["quantity"], "30");
    assert_eq!(cpu["amount"], "0.30");
    let start = current["invoice"]["period_start"].as_str().unwrap();
    let line = cpu["line_id"].as_str().unwrap();
    let (_, prov) = app
        .get(
            &format!("/v1/organizations/acme/invoices/{start}/lines/{line}/events"),
            &app.support,
        )
        .await;
    let types: Vec<&str> = prov["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "UsageCorrected").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "UsageVoided").count(),
        1,
        "{types:?}"
    );

    let (status, _) = app
        .post(
            &path(&second),
            &app.admin,
            json!({"action": "void", "reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &path(&first),
            &app.admin,
            json!({"action": "correct", "quantity": "-1", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            &path(&first),
            &app.admin,
            json!({"action": "correct", "quantity": "1", "reason": " "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            &path("01a1fd9d-657f-7478-8d77-cdb4a162fbe2"),
            &app.admin,
            json!({"action": "void", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"org_id": "globex", "name": "Globex", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            &format!("/v1/organizations/globex/usage/{first}/corrections"),
            &app.admin,
            json!({"action": "void", "reason": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another organization's usage"
    );
    let (status, _) = app
        .post(
            &path(&first),
            &app.support,
            json!({"action": "void", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

pub async fn racing_corrections_of_one_usage_event_apply_once_each(app: &TestApp) {
    app.platform("acme").await;
    let (_, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("100"), "r1", &recent(5))]}),
        )
        .await;
    let id = body["results"][0]["event_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/organizations/acme/usage/{id}/corrections");
    let attempts = join_all((0..6).map(|n| {
        app.post(
            &path,
            &app.admin,
            json!({"action": "correct", "quantity": format!("{}", 10 + n), "reason": "race"}),
        )
    }))
    .await;
    let won: Vec<_> = attempts
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert!(!won.is_empty());
    assert!(attempts
        .iter()
        .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT));
    // Whatever won, the chain of previous quantities is unbroken, so the
    // invoice shows the last correction's quantity.
    let (_, events) = app
        .get(
            "/v1/organizations/acme/events?type=UsageCorrected",
            &app.support,
        )
        .await;
    let chain: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["payload"]["previous_quantity"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["payload"]["quantity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(chain.len(), won.len());
    assert_eq!(chain[0].0, "100");
    for pair in chain.windows(2) {
        assert_eq!(
            pair[1].0, pair[0].1,
            "each correction starts where the previous ended: {chain:?}"
        );
    }
    let position = won
        .iter()
        .map(|(_, b)| b["position"].as_i64().unwrap())
        .max()
        .unwrap();
    let (_, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    let cpu = current["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["meter"] == "cpu_seconds")
        .unwrap()
        .clone();
    assert_eq!(cpu["quantity"].as_str().unwrap(), chain.last().unwrap().1);
}

pub async fn a_price_with_an_invalid_spec_is_refused_naming_the_field_and_stores_nothing(
    app: &TestApp,
) {
    // A value the schema refuses is a 400; a tier table the schema cannot
    // judge (bounds that do not ascend, no tier) is a 422. Both name the field.
    let invalid = [
        (
            json!({"model": {"type": "per_unit", "unit_price": "1"}, "minimum_charge": "-5"}),
            "spec.minimum_charge: amount must not be negative",
        ),
        (
            json!({"model": {"type": "graduated", "tiers": [
                {"up_to": "100", "unit_price": "1"},
                {"up_to": "100", "unit_price": "0.5"},
                {"up_to": null, "unit_price": "0.1"}]}}),
            "`model.tiers[1].up_to` (100) must be greater than `model.tiers[0].up_to` (100)",
        ),
        (
            json!({"model": {"type": "volume", "tiers": []}}),
            "`model.tiers` needs at least one tier",
        ),
    ];
    for (spec, problem) in invalid {
        let (status, body) = app
            .post(
                "/v1/prices",
                &app.admin,
                json!({"price_id": "bad", "meter": "m", "currency": "USD", "unit": "u",
                       "description": "d", "spec": spec}),
            )
            .await;
        let expected = if problem.starts_with("spec.") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(status, expected, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(problem), "{message}");
    }
    let (status, prices) = app.get("/v1/prices", &app.support).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(prices["prices"], json!([]));
}

pub async fn invoice_amounts_carry_the_currencys_minor_unit_places_and_lines_name_the_price(
    app: &TestApp,
) {
    app.platform("acme").await;
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("2000"), "places-1", &recent(10))]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let position = body["position"].as_i64().unwrap();
    let (status, current) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let invoice = &current["invoice"];
    let cpu = &invoice["lines"][0];
    // 2000 × 0.01 = 20: "20.00", never "20" or "20.0".
    assert_eq!(
        (&cpu["amount"], &invoice["subtotal"], &invoice["total"]),
        (&json!("20.00"), &json!("20.00"), &json!("20.00"))
    );
    assert_eq!(invoice["credit_applied"], "0.00");
    assert_eq!(
        cpu["description"],
        "Shared CPU: 2,000 CPU-seconds × $0.01 per CPU-second = $20.00"
    );
    assert_eq!(cpu["unit"], "CPU-second");
    assert_eq!(cpu["pricing"]["model"], "per_unit");
    assert_eq!(cpu["pricing"]["price_description"], "Shared CPU");
    assert_eq!(cpu["pricing"]["billable_quantity"], "2000");
}

pub async fn every_error_from_any_layer_is_the_json_envelope(app: &TestApp) {
    let envelope = |what: &str, status: StatusCode, body: &str| {
        let value: Value = serde_json::from_str(body)
            .unwrap_or_else(|_| panic!("{what}: not JSON ({status}): {body:?}"));
        assert!(
            value["error"]["code"].is_string() && value["error"]["message"].is_string(),
            "{what}: {value}"
        );
        value
    };
    // Routing: a method the path does not take.
    let response = app
        .client
        .delete(format!("{}/v1/usage", app.base))
        .bearer_auth(&app.ingest)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let allow = response.headers().get("allow").cloned();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        envelope("405", status, &body)["error"]["code"],
        "method_not_allowed"
    );
    assert!(allow.is_some_and(|a| a.to_str().unwrap().contains("POST")));
    // An Authorization header that is not text.
    let response = app
        .client
        .get(format!("{}/v1/organizations", app.base))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    envelope("bad header", status, &body);
    // Not JSON; trailing garbage after JSON; an unknown path.
    for (content_type, payload, expected) in [
        ("text/plain", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "application/json",
            "{\"records\": []} trailing",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = app
            .client
            .post(format!("{}/v1/usage", app.base))
            .bearer_auth(&app.ingest)
            .header("content-type", content_type)
            .body(payload)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        envelope(content_type, status, &body);
    }
    let (status, body) = app.get("/v2/anything", &app.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    // An atomic batch with a rejection carries the envelope beside its results.
    let (status, body) = app
        .post(
            "/v1/usage?atomic=true",
            &app.ingest,
            json!({"records": [usage("nobody", json!("1"), "atomic-1", &recent(1))]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "batch_rejected", "{body}");
    assert_eq!(body["results"][0]["status"], "rejected");
}

pub use super::idempotency::*;
