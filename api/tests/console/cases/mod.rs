//! What a support agent, an operator and a developer do in the console,
//! in a browser, and what its sessions guarantee.

mod developer;
mod operations;
mod sessions;
mod support;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub use developer::*;
pub use operations::*;
pub use sessions::*;
pub use support::*;

use super::app::TestApp;

pub(super) fn ago(seconds: i64) -> String {
    (Utc::now() - Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Post usage over the JSON API; returns the event position it reached.
pub(super) async fn post_usage(app: &TestApp, org: &str, records: Vec<Value>) -> i64 {
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
pub(super) async fn folded(app: &TestApp, org: &str, position: i64) -> Value {
    let (status, body) = app
        .get(
            &format!("/v1/organizations/{org}/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Sign in with reqwest: returns the `Cookie` header to send.
pub(super) async fn sign_in_over_http(client: &reqwest::Client, base: &str, token: &str) -> String {
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

pub(super) fn cookie_pair(response: &reqwest::Response, name: &str) -> String {
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

pub(super) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}
