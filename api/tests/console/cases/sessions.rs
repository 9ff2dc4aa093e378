//! Sessions: sign-out, CSRF, expiry, revocation, and what is stored.

use chrono::{Duration, Utc};
use reqwest::StatusCode;

use super::super::app::TestApp;
use super::super::browser::Browser;
use super::{cookie_pair, hidden, sign_in_over_http};

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
