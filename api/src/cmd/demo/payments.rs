//! The demo's payments: the Stripe fake collects the closed invoices — one
//! card is declined, one invoice written off, the rest paid — and its signed
//! webhooks reach the real `POST /v1/webhooks/stripe` of an API started here.

use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use ledger::db::Database;
use secrecy::SecretString;
use serde_json::Value;
use sync::payments::signature::{Verifier, DEFAULT_TOLERANCE};
use sync::status::{list_sync_status, StatusFilter};
use tokio_util::sync::CancellationToken;

use crate::http::{ApiConfig, Application};
use crate::pipeline::{Pipeline, PipelineArgs};

/// The decline the demo's one failed card gets.
pub const DECLINE: &str = "insufficient_funds";

async fn stripe(
    fake: &stripe_fake::FakeHandle,
    path: &str,
    form: &str,
) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth("sk_test_demo")
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Idempotency-Key", format!("demo:{path}"))
        .body(form.to_owned())
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

pub async fn collect(
    db: &Database,
    fake: &stripe_fake::FakeHandle,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http%3A%2F%2F127.0.0.1%3A{port}%2Fv1%2Fwebhooks%2Fstripe");
    let (_, endpoint) = stripe(
        fake,
        "/v1/webhook_endpoints",
        &format!(
            "url={url}&enabled_events[]=invoice.paid&enabled_events[]=invoice.payment_failed&enabled_events[]=invoice.marked_uncollectible"
        ),
    )
    .await?;
    let secret = endpoint["secret"]
        .as_str()
        .context("the fake returned no webhook secret")?;
    let config = ApiConfig {
        bind: format!("127.0.0.1:{port}").parse()?,
        stripe_webhook: Verifier::from_list(
            &SecretString::from(secret.to_owned()),
            DEFAULT_TOLERANCE,
        ),
        ..ApiConfig::default()
    };
    let app = Application::build(db.clone(), config).await?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));

    let open: Vec<String> = list_sync_status(db, &StatusFilter::default())
        .await?
        .into_iter()
        .filter(|r| r.stripe_status.as_deref() == Some("open"))
        .filter_map(|r| r.stripe_invoice_id)
        .collect();
    let (mut paid, mut declined, mut written_off) = (0, 0, 0);
    for (i, id) in open.iter().enumerate() {
        match i {
            0 => {
                fake.fail_next_payment(id, DECLINE);
                let (status, _) = stripe(fake, &format!("/v1/invoices/{id}/pay"), "").await?;
                if status != 402 {
                    bail!("the declined payment of {id} answered {status}");
                }
                declined += 1;
            }
            1 => {
                stripe(fake, &format!("/v1/invoices/{id}/mark_uncollectible"), "").await?;
                written_off += 1;
            }
            _ => {
                stripe(fake, &format!("/v1/invoices/{id}/pay"), "").await?;
                paid += 1;
            }
        }
    }
    let expected = (paid + declined + written_off) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.webhooks_delivered() < expected {
        if tokio::time::Instant::now() > deadline {
            bail!(
                "only {} of {expected} webhooks were delivered",
                fake.webhooks_delivered()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The decline reason is on the attempt's PaymentIntent, which the sync's
    // catch-up reads (docs/payments.md): one pass, as the daemon would run.
    decline_reasons(db, fake).await?;
    let fold = PipelineArgs {
        no_closer: true,
        no_sync: true,
        ..PipelineArgs::default()
    };
    Pipeline::new(db, &fold, None).run_until_idle(now).await?;
    shutdown.cancel();
    let _ = server.await;
    println!(
        "payments through the fake's signed webhooks: {paid} paid, {declined} card declined ({DECLINE}), {written_off} marked uncollectible"
    );
    Ok(())
}

/// One catch-up pass over the fake's events: applies nothing the webhooks
/// already brought, and records the declined card's reason.
async fn decline_reasons(db: &Database, fake: &stripe_fake::FakeHandle) -> anyhow::Result<()> {
    use sync::stripe::{StripeClient, StripeConfig, StripeSetup};
    let config = match StripeConfig::from_lookup(|name| match name {
        "STRIPE_API_KEY" => Some("sk_test_demo".to_owned()),
        "STRIPE_API_BASE" => Some(fake.base_url()),
        _ => None,
    })? {
        StripeSetup::Enabled(config) => config,
        StripeSetup::Disabled { reason } => bail!(reason),
    };
    let api: std::sync::Arc<dyn sync::stripe::StripeApi> =
        std::sync::Arc::new(StripeClient::new(&config)?);
    let catch_up = sync::payments::catchup::CatchUp::new(db, api);
    for _ in 0..1_000 {
        if catch_up.try_process_next().await? == sync::Outcome::Idle {
            return Ok(());
        }
    }
    bail!("the payments catch-up did not finish")
}
