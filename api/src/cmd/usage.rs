//! `billing usage record`: append one usage fact from the command line.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use ledger::event::{EventMetadata, UsageRecorded};
use ledger::money::Quantity;
use ledger::{AppendResult, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};

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
    let org = OrgId::new(args.org).map_err(|e| anyhow!("{e}"))?;
    let quantity: Quantity = args
        .quantity
        .parse()
        .with_context(|| format!("--quantity `{}`", args.quantity))?;
    if args.meter.trim().is_empty() {
        return Err(anyhow!("--meter must not be empty"));
    }
    let event = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: args.meter,
        quantity,
        window: None,
        source: "cli".into(),
        attributes: args.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    });
    let mut new = NewEvent::from_domain(&event, args.occurred_at.unwrap_or_else(Utc::now))?
        .with_metadata(EventMetadata {
            actor: std::env::var("USER").ok(),
            source: Some("cli:usage-record".into()),
            ..EventMetadata::default()
        });
    if let Some(key) = args.idempotency_key {
        new = new.with_idempotency_key(key);
    }
    let db = super::open(url).await?;
    let outcome = db
        .event_store()
        .append(&StreamId::usage(&org), ExpectedVersion::Any, vec![new])
        .await?;
    match outcome.results.first() {
        Some(AppendResult::Appended {
            event_id,
            global_position,
            ..
        }) => println!("accepted: event {event_id} at position {global_position}"),
        Some(AppendResult::Duplicate {
            event_id,
            global_position,
            ..
        }) => println!(
            "duplicate: idempotency key already stored as event {event_id} at position {global_position}"
        ),
        None => return Err(anyhow!("the store reported no result")),
    }
    db.close().await;
    Ok(())
}
