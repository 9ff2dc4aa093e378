//! What a support agent and a developer do in the console, in a browser.

use chrono::{Duration, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{usage, TestApp};
use super::browser::Browser;

fn ago(seconds: i64) -> String {
    (Utc::now() - Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Post usage over the JSON API; returns the event position it reached.
async fn post_usage(app: &TestApp, org: &str, records: Vec<Value>) -> i64 {
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({ "records": records.clone() }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    assert!(records.iter().all(|r| r["org_id"] == org));
    body["position"].as_i64().unwrap()
}

/// Wait until the invoice projection has folded `position`.
async fn folded(app: &TestApp, org: &str, position: i64) -> Value {
    let (status, body) = app
        .get(
            &format!("/v1/organizations/{org}/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn a_support_agent_signs_in_searches_and_follows_an_invoice_line_to_its_events(
    app: &TestApp,
    name: &str,
) {
    app.platform("acme").await;
    app.platform("globex").await;
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [
                usage("acme", json!("100"), "u1", &ago(50)),
                usage("acme", json!("250"), "u2", &ago(40)),
            ]}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let first = body["results"][0]["event_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/v1/organizations/acme/usage/{first}/corrections"),
            &app.admin,
            json!({"action": "correct", "quantity": "40", "reason": "meter double-counted"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let current = folded(app, "acme", body["position"].as_i64().unwrap()).await;
    assert_eq!(current["invoice"]["total"], "2.90");

    let mut browser = Browser::start(&app.base, name).await;
    browser.goto("/console/organizations").await;
    assert_eq!(
        browser.path().await,
        "/console/login",
        "unsigned visits go to the sign-in page"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("login").await;
    browser.sign_in(&app.support).await;
    assert_eq!(browser.path().await, "/console/organizations");

    browser.fill("#q", "acm").await;
    browser.click("#search").await;
    let listed = browser.body().await;
    assert!(
        listed.contains("acme") && !listed.contains("globex"),
        "{listed}"
    );
    browser.screenshot("search").await;

    browser.click_link("acme").await;
    assert_eq!(browser.text("#live-total").await, "2.90");
    let page = browser.body().await;
    assert!(
        page.contains("Stripe sync") && page.contains("not yet in Stripe"),
        "{page}"
    );
    assert!(
        page.contains("not available yet"),
        "placeholders for budget and payments"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("organization").await;
    browser.assert_fits_a_phone().await;
    browser.screenshot("organization-phone").await;
    browser.desktop().await;

    browser.click("#open-current").await;
    assert_eq!(browser.text("#invoice-total").await, "2.90");
    let lines = browser.text("#lines").await;
    assert!(lines.contains("Shared CPU"), "{lines}");
    browser.assert_accessible_basics().await;
    browser.screenshot("invoice").await;

    browser.click("#lines tbody a").await;
    let events = browser.text("#events").await;
    assert!(events.contains("UsageRecorded"), "{events}");
    assert!(events.contains("100") && events.contains("250"), "{events}");
    assert!(
        events.contains("token:test via api:/v1/usage"),
        "who sent them: {events}"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("line-events").await;
    browser.close().await;
}

pub async fn the_as_of_picker_shows_the_invoice_as_it_stood_earlier(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let first = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("100"), "e1", &ago(50))],
    )
    .await;
    folded(app, "acme", first).await;
    // A whole second after the first usage was recorded and before the
    // second is: the picker's resolution.
    let cut = {
        let now = Utc::now();
        let next = now.with_nanosecond(0).unwrap() + Duration::seconds(1);
        while Utc::now() <= next {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        next
    };
    let second = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("400"), "e2", &ago(40))],
    )
    .await;
    let current = folded(app, "acme", second).await;
    assert_eq!(current["invoice"]["total"], "5.00");
    let start = current["invoice"]["period_start"].as_str().unwrap()[..10].to_owned();

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser
        .goto(&format!("/console/organizations/acme/invoices/{start}"))
        .await;
    assert_eq!(browser.text("#invoice-total").await, "5.00");
    browser
        .set_value("as_of", &cut.format("%Y-%m-%dT%H:%M:%S").to_string())
        .await;
    browser.click("#show-as-of").await;
    assert_eq!(browser.text("#invoice-total").await, "1.00");
    assert!(browser
        .text("#as-of-notice")
        .await
        .contains("As it stood at"));
    browser.screenshot("as-of").await;
    browser.close().await;
}

pub async fn the_live_total_changes_as_usage_arrives_without_reloading(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let first = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("100"), "l1", &ago(50))],
    )
    .await;
    folded(app, "acme", first).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/organizations/acme").await;
    assert_eq!(browser.text("#live-total").await, "1.00");
    // A marker the page would lose on a reload.
    browser
        .client
        .execute("window.__not_reloaded = true;", vec![])
        .await
        .unwrap();
    post_usage(
        app,
        "acme",
        vec![usage("acme", json!("150"), "l2", &ago(30))],
    )
    .await;
    browser.wait_for_text("#live-total", |t| t == "2.50").await;
    let same_page = browser
        .client
        .execute("return window.__not_reloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the total changed without a reload");
    browser.screenshot("live-total").await;
    browser.close().await;
}

pub async fn an_org_token_sees_its_billing_page_and_a_403_page_for_another_organization(
    app: &TestApp,
    name: &str,
) {
    app.platform("acme").await;
    app.platform("globex").await;
    let position = post_usage(
        app,
        "acme",
        vec![
            usage("acme", json!("100"), "b1", &ago(50)),
            usage("acme", json!("300"), "b2", &ago(40)),
        ],
    )
    .await;
    folded(app, "acme", position).await;
    let token = app.org_token("acme").await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&token).await;
    assert_eq!(browser.path().await, "/console/organizations/acme/billing");
    assert_eq!(browser.text("#owed").await, "4.00");
    let svg = browser
        .client
        .execute(
            "return document.querySelectorAll('figure svg rect').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(svg.as_u64().unwrap() > 1, "a server-drawn SVG chart: {svg}");
    assert_eq!(browser.text("#forecast").await, "Not available yet.");
    browser.assert_accessible_basics().await;
    browser.screenshot("billing").await;
    browser.assert_fits_a_phone().await;
    browser.screenshot("billing-phone").await;
    browser.desktop().await;

    browser.goto("/console/organizations/globex/billing").await;
    let page = browser.body().await;
    assert!(
        page.contains("Not allowed") && page.contains("HTTP 403"),
        "{page}"
    );
    browser.goto("/console/organizations/globex").await;
    assert!(browser.body().await.contains("HTTP 403"));
    browser.screenshot("forbidden").await;
    browser.close().await;

    // The same answer over plain HTTP, with the status code.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = sign_in_over_http(&client, &app.base, &token).await;
    let response = client
        .get(format!("{}/console/organizations/globex/billing", app.base))
        .header("Cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

/// Sign in with reqwest: returns the `Cookie` header to send.
async fn sign_in_over_http(client: &reqwest::Client, base: &str, token: &str) -> String {
    let form = client
        .get(format!("{base}/console/login"))
        .send()
        .await
        .unwrap();
    let login_cookie = cookie_pair(&form, "ledger_console_login");
    let html = form.text().await.unwrap();
    let login_csrf = hidden(&html, "login_csrf");
    let response = client
        .post(format!("{base}/console/login"))
        .header("Cookie", &login_cookie)
        .form(&[("token", token), ("login_csrf", &login_csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("ledger_console="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

fn cookie_pair(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

pub async fn signing_out_ends_the_session(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    assert_eq!(browser.path().await, "/console/organizations");
    // Keep the session cookie to replay it after signing out.
    let cookie = browser
        .client
        .get_named_cookie("ledger_console")
        .await
        .unwrap();
    browser.click("#sign-out").await;
    assert_eq!(browser.path().await, "/console/login");
    browser.goto("/console/organizations").await;
    assert_eq!(browser.path().await, "/console/login");
    browser.screenshot("signed-out").await;
    browser.close().await;

    // The old cookie signs nothing in any more: the session row is ended.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/console/organizations", app.base))
        .header("Cookie", format!("ledger_console={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/console/login");
}

pub async fn forms_that_write_are_refused_without_the_sessions_csrf_token(
    app: &TestApp,
    _name: &str,
) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // No login form cookie: the sign-in is refused (login CSRF).
    let response = client
        .post(format!("{}/console/login", app.base))
        .form(&[("token", app.admin.as_str()), ("login_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A bad token is refused without a session.
    let cookie = sign_in_over_http(&client, &app.base, &app.admin).await;
    let response = client
        .post(format!("{}/console/logout", app.base))
        .header("Cookie", &cookie)
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // The session survived the forged sign-out.
    let response = client
        .get(format!("{}/console/ops", app.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Projections"), "{html}");
    let csrf = hidden(&html, "csrf");
    let response = client
        .post(format!("{}/console/logout", app.base))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Unknown tokens do not sign in.
    let form = client
        .get(format!("{}/console/login", app.base))
        .send()
        .await
        .unwrap();
    let login_cookie = cookie_pair(&form, "ledger_console_login");
    let login_csrf = hidden(&form.text().await.unwrap(), "login_csrf");
    let response = client
        .post(format!("{}/console/login", app.base))
        .header("Cookie", &login_cookie)
        .form(&[("token", "blt_nope"), ("login_csrf", login_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

pub async fn the_event_history_filters_by_type_and_pages_with_a_cursor(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let records = (0..60)
        .map(|i| usage("acme", json!("1"), &format!("h{i}"), &ago(50)))
        .collect();
    let position = post_usage(app, "acme", records).await;
    folded(app, "acme", position).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/organizations/acme").await;
    browser.click_link("Event history").await;
    browser.set_value("type", "UsageRecorded").await;
    browser.click("#filter").await;
    let rows = |browser: &Browser| {
        let client = browser.client.clone();
        async move {
            client
                .execute(
                    "return Array.from(document.querySelectorAll('#events tbody tr td:nth-child(2)')).map(td => td.textContent);",
                    vec![],
                )
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let first = rows(&browser).await;
    assert_eq!(first.len(), 50, "a page is 50 events");
    assert!(first.iter().all(|t| t == "UsageRecorded"), "{first:?}");
    browser.assert_accessible_basics().await;
    browser.screenshot("history").await;
    browser.click("#next-page").await;
    let second = rows(&browser).await;
    assert_eq!(second.len(), 10, "the rest on the next page: {second:?}");
    assert!(second.iter().all(|t| t == "UsageRecorded"));
    assert!(
        !browser.body().await.contains("Next page"),
        "the last page has no next link"
    );
    browser.close().await;
}

/// Park the sync of acme's current invoice, as the sync does after
/// repeated failures.
async fn park(app: &TestApp, period_start: chrono::DateTime<Utc>) {
    let mut tx = app.db.db.begin_write().await.unwrap();
    tx.query(
        "INSERT INTO stripe_invoice_sync (org_id, period_start, target_version, ledger_status, \
         attempts, last_error, parked, updated_at) VALUES ($1, $2, 1, 'open', 7, $3, $4, $5)",
    )
    .bind("acme")
    .bind(ledger::db::format_timestamp(period_start))
    .bind("stripe: card_declined (402)")
    .bind(true)
    .bind(Utc::now().timestamp_millis())
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub async fn an_admin_retries_a_parked_sync_from_the_operations_page(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let position = post_usage(app, "acme", vec![usage("acme", json!("5"), "p1", &ago(50))]).await;
    let current = folded(app, "acme", position).await;
    let start: chrono::DateTime<Utc> = current["invoice"]["period_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    park(app, start).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/ops").await;
    assert!(
        browser.body().await.contains("HTTP 403"),
        "operations are admin only"
    );
    browser.goto("/console/organizations/acme").await;
    let sync = browser.text("#sync-state").await;
    assert!(sync.contains("parked"), "{sync}");
    assert!(
        browser.body().await.contains("card_declined"),
        "the last error is shown"
    );
    browser.click("#sign-out").await;

    browser.sign_in(&app.admin).await;
    browser.goto("/console/ops").await;
    let page = browser.body().await;
    assert!(
        page.contains("Projections") && page.contains("card_declined"),
        "{page}"
    );
    browser.screenshot("ops-parked").await;
    browser.click("table button").await;
    let page = browser.body().await;
    assert!(page.contains("Queued again: acme"), "{page}");
    assert!(page.contains("Nothing is parked"), "{page}");
    browser.screenshot("ops-retried").await;
    browser.close().await;
}

pub async fn on_a_read_only_replica_pages_read_and_signing_in_needs_the_primary(
    app: &TestApp,
    _name: &str,
) {
    app.platform("acme").await;
    let replica_db = ledger::db::Database::connect_read_only(&app.db.url)
        .await
        .unwrap();
    let replica = api::http::Application::build(
        replica_db,
        api::http::ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..api::http::ApiConfig::default()
        },
    )
    .await
    .unwrap();
    let replica_base = format!("http://127.0.0.1:{}", replica.port());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(replica.run(stop.clone()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Signed in on the primary, the session reads on the replica.
    let cookie = sign_in_over_http(&client, &app.base, &app.support).await;
    let response = client
        .get(format!("{replica_base}/console/organizations/acme"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Current invoice"));

    // Signing in writes: the replica says to use the primary, as a page.
    let response = client
        .post(format!("{replica_base}/console/login"))
        .form(&[("token", app.support.as_str()), ("login_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("read-only replica"));
    stop.cancel();
    server.await.unwrap().unwrap();
}

pub async fn a_session_dies_when_it_expires_or_its_token_is_revoked(app: &TestApp, _name: &str) {
    app.platform("acme").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/console/organizations/acme", app.base);
        async move {
            let response = client
                .get(url)
                .header("Cookie", cookie)
                .send()
                .await
                .unwrap();
            response.status()
        }
    };

    let expiring = sign_in_over_http(&client, &app.base, &app.support).await;
    assert_eq!(page(expiring.clone()).await, StatusCode::OK);
    let mut tx = app.db.db.begin_write().await.unwrap();
    tx.query("UPDATE console_session SET expires_at = $1, created_at = $2")
        .bind(ledger::db::DbTime(Utc::now() - Duration::seconds(1)))
        .bind(ledger::db::DbTime(Utc::now() - Duration::hours(9)))
        .execute()
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(page(expiring).await, StatusCode::SEE_OTHER, "expired");

    let (token, token_id) =
        api::tokens::create(&app.db.db, "temp", api::tokens::Role::Support, None)
            .await
            .unwrap();
    let revoked = sign_in_over_http(&client, &app.base, &token).await;
    assert_eq!(page(revoked.clone()).await, StatusCode::OK);
    assert!(api::tokens::revoke(&app.db.db, token_id).await.unwrap());
    assert_eq!(
        page(revoked).await,
        StatusCode::SEE_OTHER,
        "its token was revoked"
    );

    // Only a hash of the session id is stored.
    let cookie = sign_in_over_http(&client, &app.base, &app.support).await;
    let id = cookie.trim_start_matches("ledger_console=").to_owned();
    let (found,): (i64,) = app
        .db
        .db
        .query_as("SELECT COUNT(*) FROM console_session WHERE session_hash = $1")
        .bind(id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(found, 0, "the session id itself is never stored");
}

pub async fn the_console_stays_out_of_the_openapi_document(app: &TestApp, _name: &str) {
    let (status, doc) = app.get("/v1/openapi.json", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(!paths.is_empty());
    assert!(
        paths.iter().all(|p| !p.starts_with("/console")),
        "HTML pages are not part of the JSON contract: {paths:?}"
    );
}
