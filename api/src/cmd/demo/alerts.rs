//! The demo's budget tour: a budget for one organization, a charge that
//! crosses it, the alert the ledger records, and its delivery to a webhook
//! receiver the demo runs itself — printed with how to verify it.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::OrgId;

use crate::commands::budgets::{self, BudgetRequest};
use crate::commands::entries::{self, EntryKind, MoneyEntry};
use crate::commands::fields::AmountText;
use notifications::webhooks::sealing::Keyring;

use crate::commands::webhooks::{self, NewWebhookEndpoint, WebhookEventType};
use crate::commands::{Actor, Ctx, Directory};
use crate::pipeline::{Pipeline, PipelineArgs};

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver on a free local port that records every delivery.
async fn receiver() -> anyhow::Result<(String, Received)> {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hooks/billing",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                if let Ok(mut got) = g.lock() {
                    got.push((headers, body));
                }
                "thanks"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks/billing", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, got))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn amount(text: &str) -> anyhow::Result<AmountText> {
    AmountText::parse("amount", text).map_err(|e| anyhow::anyhow!(e.message))
}

pub async fn tour(
    db: &Database,
    keys: &Keyring,
    org: &OrgId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let store = db.event_store();
    let directory = Directory::default();
    let ctx = Ctx {
        store: store.as_ref(),
        directory: &directory,
        now,
    };
    let actor = Actor {
        actor: "billing-demo".into(),
        source: "cli:demo".into(),
    };
    let (url, got) = receiver().await?;
    let (endpoint, secret) = webhooks::create(
        &ctx,
        db,
        keys,
        None,
        NewWebhookEndpoint {
            url: url.clone(),
            event_types: vec![
                WebhookEventType::AlertTriggered,
                WebhookEventType::AlertResolved,
            ],
            description: Some("the demo's own receiver".into()),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tables = projections::tables_for(db);
    let spend = tables
        .org_invoices(org)
        .await?
        .into_iter()
        .find(|i| i.period_start <= now && now < i.period_end)
        .map_or(rust_decimal::Decimal::ZERO, |i| i.total);
    let limit = format!("{:.2}", spend + rust_decimal::Decimal::TEN);
    let put = budgets::put(
        &ctx,
        &actor,
        org,
        BudgetRequest {
            amount: amount(&limit)?,
            currency: "USD".into(),
            thresholds: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("\nBudgets, alerts and webhooks");
    println!(
        "  budget for {org}: ${limit} a month (version {}), alert at 100 %; spend so far ${spend}",
        put.budget.version
    );
    println!("  webhook endpoint {} → {url}", endpoint.endpoint_id);
    entries::add(
        &ctx,
        &actor,
        org,
        EntryKind::Charge,
        MoneyEntry {
            id: "demo-burst".into(),
            description: "Burst of dedicated CPU".into(),
            amount: amount("25.00")?,
            occurred_at: Some(now),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("  a $25.00 charge crosses it; the pipeline folds it, the alerter records the alert, the dispatcher delivers it:");
    let args = PipelineArgs {
        webhook_keys: keys.clone(),
        ..PipelineArgs::default()
    };
    Pipeline::new(db, &args, None)
        .run_until_idle(now)
        .await
        .context("delivering the alert")?;
    let received = got.lock().map(|g| g.clone()).unwrap_or_default();
    let Some((headers, body)) = received.first() else {
        anyhow::bail!("the receiver got no delivery");
    };
    println!("\n  POST {url}");
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        println!("  {name}: {}", header(headers, name));
    }
    println!("  {body}");
    for (headers, body) in received.iter().skip(1) {
        let kind = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["data"]["payload"]["kind"].as_str().map(str::to_owned))
            .unwrap_or_default();
        println!("  (and {} — {kind})", header(headers, "webhook-id"));
    }
    let id = header(headers, "webhook-id");
    let ts: i64 = header(headers, "webhook-timestamp")
        .parse()
        .unwrap_or_default();
    let expected = notifications::webhooks::signing::sign(&secret, id, ts, body)?;
    let verified = header(headers, "webhook-signature")
        .split(' ')
        .any(|s| s == expected);
    println!("\n  Verify it (Standard Webhooks; docs/webhooks.md): HMAC-SHA256 over \"{{webhook-id}}.{{webhook-timestamp}}.{{body}}\"");
    println!("  keyed with the base64-decoded secret after `whsec_`, base64-encoded, compared with each `v1,` signature:");
    println!("    SECRET={secret}");
    println!("    printf '%s' \"$ID.$TS.$BODY\" | openssl dgst -sha256 -binary \\");
    println!("      -mac HMAC -macopt hexkey:$(printf '%s' \"${{SECRET#whsec_}}\" | base64 -d | xxd -p -c 256) | base64");
    println!(
        "  signature {}",
        if verified {
            "verified"
        } else {
            "DOES NOT VERIFY"
        }
    );
    println!(
        "  the delivery log: GET /v1/webhook-endpoints/{}/deliveries",
        endpoint.endpoint_id
    );
    if !verified {
        anyhow::bail!("the demo's delivery does not verify");
    }
    Ok(())
}
