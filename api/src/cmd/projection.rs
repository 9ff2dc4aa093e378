//! `billing project`, `billing rebuild`, `billing close-periods`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use chrono::Utc;
use projections::closer::{close_periods, DEFAULT_GRACE};
use projections::rebuild::{rebuild_within, verify};
use projections::{projector_for, tables_for};

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// The projection to rebuild (only `invoices` exists).
    #[arg(default_value = projections::tables::INVOICES)]
    pub name: String,
    /// Rebuild aside and compare with the live projection instead of
    /// swapping; exits non-zero and names the invoices that differ.
    #[arg(long)]
    pub verify: bool,
    /// Organizations whose fold state a rebuild holds in memory at once;
    /// beyond it, the least recently touched are written to the new
    /// generation and read back when needed (memory stays bounded however
    /// many organizations there are).
    #[arg(long, env = "REBUILD_MAX_BOOKS", default_value_t = projections::rebuild::Budget::default().max_books)]
    pub max_books: usize,
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// Minutes after a period's end before it is finalized.
    #[arg(long, env = "BILLING_CLOSE_GRACE_MINUTES", default_value_t = DEFAULT_GRACE.num_minutes())]
    pub grace_minutes: i64,
}

/// A progress bar fed by replay progress (position reached of head).
fn replay_bar() -> indicatif::ProgressBar {
    super::bench::progress(0, "replaying events")
}

pub async fn project(url: &str) -> anyhow::Result<()> {
    let db = super::open(url).await?;
    let folded = projector_for(&db).catch_up().await?;
    println!("invoice projection caught up: {folded} events folded");
    db.close().await;
    Ok(())
}

pub async fn run_rebuild(url: &str, args: RebuildArgs) -> anyhow::Result<ExitCode> {
    if args.name != projections::tables::INVOICES {
        bail!("unknown projection `{}` (known: invoices)", args.name);
    }
    let db = super::open(url).await?;
    let store = db.event_store();
    let tables = tables_for(&db);
    let bar = Arc::new(replay_bar());
    let progress = {
        let bar = bar.clone();
        move |position: i64, head: i64| {
            bar.set_length(head.max(0) as u64);
            bar.set_position(position.max(0) as u64);
        }
    };
    let started = Instant::now();
    let code = if args.verify {
        let result = verify(store.as_ref(), tables.as_ref(), &progress).await?;
        bar.finish_and_clear();
        println!(
            "verified at position {}: live {} / rebuilt {}",
            result.position, result.live_checksum, result.rebuilt_checksum
        );
        if result.matches() {
            println!("the live projection matches a rebuild");
            ExitCode::SUCCESS
        } else {
            println!("{} invoice(s) differ:", result.differing.len());
            for (org, period_start) in result.differing.iter().take(20) {
                println!("  {org} {}", period_start.format("%Y-%m-%d"));
            }
            ExitCode::FAILURE
        }
    } else {
        let budget = projections::rebuild::Budget {
            max_books: args.max_books,
            ..projections::rebuild::Budget::default()
        };
        let report = rebuild_within(store, tables, budget, &progress).await?;
        bar.finish_and_clear();
        println!(
            "rebuilt `invoices` generation {} (was {}): {} events, {} invoices, position {}, checksum {}, {:.1}s ({:.0} events/s)",
            report.generation,
            report.previous_generation,
            report.events,
            report.invoices,
            report.position,
            report.checksum,
            started.elapsed().as_secs_f64(),
            report.events as f64 / started.elapsed().as_secs_f64().max(1e-9)
        );
        println!("  {}", report.phases);
        ExitCode::SUCCESS
    };
    db.close().await;
    Ok(code)
}

pub async fn close(url: &str, args: CloseArgs) -> anyhow::Result<()> {
    if args.grace_minutes < 0 {
        bail!("--grace-minutes must not be negative");
    }
    let db = super::open(url).await?;
    let projector = projector_for(&db);
    projector.catch_up().await?;
    let report = close_periods(
        db.event_store().as_ref(),
        tables_for(&db).as_ref(),
        Utc::now(),
        chrono::Duration::minutes(args.grace_minutes),
    )
    .await?;
    projector.catch_up().await?;
    println!(
        "finalized {} invoice(s); {} were already closed",
        report.finalized.len(),
        report.already_closed
    );
    for key in &report.finalized {
        println!("  {} {}", key.org_id, key.period_start.format("%Y-%m-%d"));
    }
    db.close().await;
    if !report.failed.is_empty() {
        for failed in &report.failed {
            eprintln!(
                "  not finalized: {} {}: {}",
                failed.org_id, failed.period_start, failed.error
            );
        }
        bail!(
            "{} invoice(s) could not be finalized (every other invoice was); \
             they are listed under `unclosed_invoices` in GET /v1/ops/projections",
            report.failed.len()
        );
    }
    Ok(())
}
