//! `billing usage record`: append one usage fact from the command line.

use std::collections::BTreeMap;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::commands::fields::QuantityText;
use crate::commands::usage::{self, ItemStatus, QuantityValue, UsageRecord};
use crate::commands::{Actor, Ctx, Directory};

#[derive(Debug, clap::Subcommand)]
pub enum UsageCommand {
    /// Append a UsageRecorded event.
    Record(RecordArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The organization (the platform's id).
    #[arg(long)]
    pub org: String,
    /// The meter, e.g. `cpu_seconds`.
    #[arg(long)]
    pub meter: String,
    /// A non-negative decimal, e.g. `12.5`.
    #[arg(long, allow_negative_numbers = true)]
    pub quantity: String,
    /// When it happened (RFC 3339); default now.
    #[arg(long)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Makes a retry safe: a repeated key stores nothing.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Dimensions such as `app=web` (repeatable).
    #[arg(long = "attr", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
}

fn parse_attribute(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{raw}` is not KEY=VALUE"))
}

pub async fn run(url: &str, command: UsageCommand) -> anyhow::Result<()> {
    let UsageCommand::Record(args) = command;
    let quantity =
        QuantityText::parse("--quantity", &args.quantity).map_err(|e| anyhow!("{}", e.message))?;
    let record = UsageRecord {
        org_id: args.org,
        meter: args.meter,
        quantity: QuantityValue(quantity.value()),
        occurred_at: args.occurred_at.unwrap_or_else(Utc::now),
        idempotency_key: args
            .idempotency_key
            .unwrap_or_else(|| format!("cli-{}", uuid::Uuid::now_v7())),
        window: None,
        source: Some("cli".into()),
        attributes: args.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    };
    let db = super::open(url).await?;
    let store = db.event_store();
    let directory = Directory::default();
    let ctx = Ctx {
        store: store.as_ref(),
        directory: &directory,
        now: Utc::now(),
    };
    let actor = Actor {
        actor: std::env::var("USER").unwrap_or_else(|_| "cli".into()),
        source: "cli:usage-record".into(),
    };
    // The same rules as `POST /v1/usage`: a registered organization, a
    // priced meter, a time inside the organization's life.
    let recorded = usage::record(&ctx, &actor, vec![Ok(record)], false).await;
    db.close().await;
    let recorded = recorded.map_err(|e| anyhow!("{e}"))?;
    let Some(result) = recorded.results.first() else {
        return Err(anyhow!("the store reported no result"));
    };
    match (result.status, result.event_id, result.position) {
        (ItemStatus::Accepted, Some(id), Some(position)) => {
            println!("accepted: event {id} at position {position}")
        }
        (ItemStatus::Duplicate, Some(id), Some(position)) => println!(
            "duplicate: idempotency key already stored as event {id} at position {position}"
        ),
        _ => {
            let field = result.field.as_deref().unwrap_or("record");
            let reason = result.reason.as_deref().unwrap_or("rejected");
            return Err(anyhow!("rejected ({field}): {reason}"));
        }
    }
    Ok(())
}
