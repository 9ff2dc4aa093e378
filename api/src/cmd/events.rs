//! `billing events`: the store in global order, or one org's history.

use ledger::store::{AuditQuery, Direction};
use ledger::RecordedEvent;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only events after this global position.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only this organization's events.
    #[arg(long)]
    pub org: Option<String>,
    /// Only events of this type (repeatable); needs --org.
    #[arg(long = "type", requires = "org")]
    pub event_types: Vec<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(url: &str, args: EventsArgs) -> anyhow::Result<()> {
    let db = super::open(url).await?;
    let store = db.event_store();
    let events = match &args.org {
        None => store.read_all(args.after, args.limit).await?,
        Some(org) => {
            let query = AuditQuery {
                org_id: org.clone(),
                event_types: args.event_types.clone(),
                cursor: Some(args.after),
                direction: Direction::Forward,
                limit: args.limit,
                ..AuditQuery::default()
            };
            store.read_audit(&query).await?.items
        }
    };
    if args.json {
        for event in &events {
            println!("{}", serde_json::to_string(event)?);
        }
    } else {
        print_table(&events);
    }
    db.close().await;
    Ok(())
}

fn print_table(events: &[RecordedEvent]) {
    println!(
        "{:>9}  {:<24}  {:<28}  {:>7}  {:<22}  payload",
        "position", "occurred_at", "stream", "version", "type"
    );
    for e in events {
        let mut payload = e.payload.to_string();
        if payload.len() > 80 {
            let cut = (0..=77)
                .rev()
                .find(|&i| payload.is_char_boundary(i))
                .unwrap_or(0);
            payload.truncate(cut);
            payload.push('…');
        }
        println!(
            "{:>9}  {:<24}  {:<28}  {:>7}  {:<22}  {}",
            e.global_position,
            e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            e.stream_id,
            e.stream_version,
            e.event_type,
            payload
        );
    }
    if events.is_empty() {
        println!("(no events)");
    }
}
