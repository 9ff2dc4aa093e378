//! `billing bench rebuild`: a full rebuild of the invoice projection against
//! a raw ordered scan of the same events table, in the same run.

use std::time::Instant;

use anyhow::bail;
use futures::TryStreamExt;
use ledger::db::Database;
use projections::rebuild::rebuild_within;
use serde_json::json;

use super::workload::{bench_start, setup, usage_batches};
use super::{progress, rate, BenchBackend, Scratch};

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    #[arg(long, value_enum, default_value_t = BenchBackend::Sqlite)]
    pub backend: BenchBackend,
    /// Usage events to seed.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Organizations the usage is spread over.
    #[arg(long, default_value_t = 1_000)]
    pub orgs: usize,
    /// Organizations' books the rebuild may hold in memory at once.
    #[arg(long, default_value_t = projections::rebuild::Budget::default().max_books)]
    pub max_books: usize,
    /// Positions the replay reads and folds per page (at most 10,000).
    #[arg(long, default_value_t = projections::rebuild::Budget::default().page_events)]
    pub page_events: u32,
    /// Interleaved rounds of scan and rebuild; each figure is the fastest
    /// round's.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also seed a second database with the same usage over this many
    /// organizations and rebuild it in the same rounds: the rate at
    /// `--orgs` against the rate at this many, measured side by side.
    #[arg(long)]
    pub versus_orgs: Option<usize>,
    /// PostgreSQL server for `--backend postgres` (scratch database).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub postgres_url: Option<String>,
}

/// One timed run: its wall time, this process's CPU time and the
/// machine's busy CPU time.
#[derive(Debug, Clone, Copy)]
struct Run {
    took: std::time::Duration,
    cpu: Option<f64>,
    busy: Option<f64>,
}

impl Run {
    async fn of<T>(
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<(T, Self)> {
        let (cpu, busy) = (cpu_time(), machine_busy());
        let started = Instant::now();
        let out = work.await?;
        let took = started.elapsed();
        let run = Self {
            took,
            cpu: cpu.zip(cpu_time()).map(|(a, b)| b - a),
            busy: busy.zip(machine_busy()).map(|((a, _), (b, _))| b - a),
        };
        Ok((out, run))
    }

    fn fastest(runs: &[Self]) -> Option<Self> {
        runs.iter().copied().min_by_key(|r| r.took)
    }
}

/// Reset the process's peak resident set (Linux: `5` to
/// `/proc/self/clear_refs`), so the next reading covers what follows only.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A field of `/proc/self/status` in bytes (Linux: `VmHWM` is the peak
/// resident set since the last reset, `VmRSS` the current one); `None`
/// where that is not available.
fn memory(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time this process has used so far, all threads (Linux: `utime`
/// and `stime` of `/proc/self/stat`, in the fixed 100 Hz `USER_HZ`);
/// `None` where that is not available.
fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is parenthesised and may hold spaces.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU time the whole machine has spent busy so far, and its number of
/// CPUs (Linux: the `cpu` line of `/proc/stat`, all but `idle` and
/// `iowait`, in `USER_HZ`); `None` where that is not available. With the
/// database on the same machine it counts the database's work too.
fn machine_busy() -> Option<(f64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let idle = ticks.get(3)? + ticks.get(4)?;
    let total: f64 = ticks.iter().take(8).sum();
    Some(((total - idle) / 100.0, cpus.max(1)))
}

async fn seed(db: &Database, events: usize, orgs: usize) -> anyhow::Result<()> {
    let store = db.event_store();
    let start = bench_start();
    let spec = json!({
        "model": {"type": "graduated", "tiers": [
            {"up_to": "1000", "unit_price": "0.000004"},
            {"up_to": null, "unit_price": "0.000002"}
        ]},
        "free_allowance": "100"
    });
    let setup = setup(orgs, start, &spec)?;
    store.append_batch(setup).await?;
    let bar = progress(events as u64, "seeding usage");
    for batch in usage_batches(events, 5_000, orgs, 7, start)? {
        let n: usize = batch.iter().map(|a| a.events.len()).sum();
        store.append_batch(batch).await?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Read every event in position order, decoding each column, and count
/// rows and payload bytes (so nothing can be optimised away).
async fn raw_scan(db: &Database) -> anyhow::Result<(u64, u64)> {
    let (mut rows, mut bytes) = (0u64, 0u64);
    if let Some(pool) = db.postgres_pool() {
        {
            let mut stream = sqlx::query_as::<_, (i64, uuid::Uuid, String, i64, String, String)>(
                "SELECT global_position, event_id, stream_id, stream_version, event_type, payload::text \
                 FROM event ORDER BY global_position",
            )
            .fetch(pool);
            while let Some(row) = stream.try_next().await? {
                rows += 1;
                bytes += row.5.len() as u64;
            }
        }
    } else if let Some(pool) = db.sqlite_pool() {
        {
            let mut stream = sqlx::query_as::<_, (i64, String, String, i64, String, String)>(
                "SELECT global_position, event_id, stream_id, stream_version, event_type, payload \
                 FROM event ORDER BY global_position",
            )
            .fetch(pool);
            while let Some(row) = stream.try_next().await? {
                rows += 1;
                bytes += row.5.len() as u64;
            }
        }
    }
    Ok((rows, bytes))
}

/// Read every event in position order by binary COPY, counting bytes.
async fn raw_copy_scan(pool: &sqlx::PgPool) -> anyhow::Result<u64> {
    use sqlx::postgres::PgPoolCopyExt;
    let mut data = pool
        .copy_out_raw(
            "COPY (SELECT global_position, event_id, stream_id, stream_version, event_type, \
             payload::text FROM event ORDER BY global_position) TO STDOUT (FORMAT binary)",
        )
        .await?;
    let mut bytes = 0u64;
    while let Some(chunk) = data.try_next().await? {
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}

pub async fn run(args: RebuildArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.orgs == 0 || args.versus_orgs == Some(0) {
        bail!("--events, --orgs and --versus-orgs must be positive");
    }
    let scratch = Scratch::create(args.backend, args.postgres_url.as_deref()).await?;
    let versus = match args.versus_orgs {
        None => None,
        Some(orgs) => match Scratch::create(args.backend, args.postgres_url.as_deref()).await {
            Ok(versus) => Some((versus, orgs)),
            Err(e) => {
                scratch.remove().await?;
                return Err(e);
            }
        },
    };
    let result = measure(&scratch, versus.as_ref().map(|(v, orgs)| (v, *orgs)), &args).await;
    let cleanup = scratch.remove().await;
    let versus_cleanup = match versus {
        Some((versus, _)) => versus.remove().await,
        None => Ok(()),
    };
    result?;
    cleanup?;
    versus_cleanup
}

/// Seed `db` with `events` usage events over `orgs` organizations, and on
/// PostgreSQL settle the table: the first read of freshly inserted rows
/// sets their hint bits (and dirties every page), unless autovacuum got
/// there first, so the scan and the rebuild read the same table whenever
/// autovacuum runs.
async fn prepare(db: &Database, events: usize, orgs: usize) -> anyhow::Result<()> {
    eprintln!("seeding {events} usage events over {orgs} organizations…");
    seed(db, events, orgs).await?;
    if let Some(pool) = db.postgres_pool() {
        sqlx::query("VACUUM (ANALYZE) event").execute(pool).await?;
    }
    Ok(())
}

/// One timed rebuild of `db`'s invoice projection: its report, its run,
/// and the resident memory it added at its peak (the seeded workload is
/// still resident before it starts).
async fn timed_rebuild(
    db: &Database,
    budget: projections::rebuild::Budget,
    feed: projections::rebuild::Progress<'_>,
) -> anyhow::Result<(projections::rebuild::RebuildReport, Run, Option<u64>)> {
    let (store, tables) = (db.event_store(), projections::tables_for(db));
    let before = memory("VmRSS:").filter(|_| reset_peak_memory());
    let (report, run) =
        Run::of(async { Ok(rebuild_within(store, tables, budget, feed).await?) }).await?;
    let added = before.and_then(|b| Some(memory("VmHWM:")?.saturating_sub(b)));
    Ok((report, run, added))
}

async fn measure(
    scratch: &Scratch,
    versus: Option<(&Scratch, usize)>,
    args: &RebuildArgs,
) -> anyhow::Result<()> {
    prepare(&scratch.db, args.events, args.orgs).await?;
    if let Some((versus, orgs)) = versus {
        prepare(&versus.db, args.events, orgs).await?;
    }
    let bar = std::sync::Arc::new(progress(0, "rebuilding"));
    let feed = {
        let bar = bar.clone();
        move |position: i64, head: i64| {
            bar.set_length(head.max(0) as u64);
            bar.set_position(position.max(0) as u64);
        }
    };
    let budget = projections::rebuild::Budget {
        max_books: args.max_books,
        page_events: args.page_events,
    };
    // Rounds of (COPY, scan, rebuild, the other database's rebuild),
    // interleaved, so that whatever else the machine is doing meanwhile
    // falls on every path alike; each figure is its fastest round's.
    let (mut copies, mut scans, mut rebuilds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rows, mut peak, mut best) = (0, None, None);
    let (mut versus_rebuilds, mut versus_events, mut versus_peak) = (Vec::new(), 0, None);
    for _ in 0..args.rounds.max(1) {
        // On PostgreSQL, the limit of reading at all: the same rows by
        // binary COPY, decoded not at all (a replay reads by COPY too).
        if let Some(pool) = scratch.db.postgres_pool() {
            copies.push(Run::of(raw_copy_scan(pool)).await?.1);
        }
        let ((scanned, _), scan) = Run::of(raw_scan(&scratch.db)).await?;
        rows = scanned;
        scans.push(scan);
        let (report, run, added) = timed_rebuild(&scratch.db, budget, &feed).await?;
        peak = peak.max(added);
        if report.events != rows {
            bail!(
                "rebuild folded {} events but the table holds {rows}",
                report.events
            );
        }
        if Run::fastest(&rebuilds).is_none_or(|f| run.took < f.took) {
            best = Some(report);
        }
        rebuilds.push(run);
        if let Some((versus, _)) = versus {
            let (report, run, added) = timed_rebuild(&versus.db, budget, &feed).await?;
            versus_events = report.events;
            versus_peak = versus_peak.max(added);
            versus_rebuilds.push(run);
        }
    }
    bar.finish_and_clear();
    let (Some(report), Some(rebuild), Some(scan)) =
        (best, Run::fastest(&rebuilds), Run::fastest(&scans))
    else {
        bail!("no round ran");
    };
    let (took, rebuild_cpu, rebuild_busy) = (rebuild.took, rebuild.cpu, rebuild.busy);
    let (scan_cpu, scan_busy) = (scan.cpu, scan.busy);
    let scan = scan.took;
    let copy_scan = Run::fastest(&copies).map(|c| c.took);
    let cpus = machine_busy().map_or(1, |(_, n)| n);
    let events_per_s = rate(rows as usize, took);
    let baseline_per_s = rate(rows as usize, scan);
    let ratio = events_per_s / baseline_per_s;
    // Each path's fastest round, and its slowest for the spread.
    let line_of = |path: &str, events: u64, runs: &[Run]| {
        let (Some(fastest), Some(slowest)) =
            (Run::fastest(runs), runs.iter().map(|r| r.took).max())
        else {
            return;
        };
        println!(
            "{path:<36} {:>12.0} {:>10.2} {:>14.0}",
            rate(events as usize, fastest.took),
            fastest.took.as_secs_f64(),
            rate(events as usize, slowest)
        );
    };
    let line = |path: &str, runs: &[Run]| line_of(path, rows, runs);
    println!(
        "rebuild benchmark: {} ({}), {} events ({} usage) over {} orgs, {} invoices, fastest of {} interleaved rounds",
        args.backend.name(),
        scratch.name(),
        rows,
        args.events,
        args.orgs,
        report.invoices,
        rebuilds.len()
    );
    println!(
        "{:<36} {:>12} {:>10} {:>14}",
        "path", "events/s", "seconds", "slowest round"
    );
    line("rebuild (replay, fold, write, swap)", &rebuilds);
    line("raw ordered scan (baseline)", &scans);
    println!("{:<36} {:>12.2}", "ratio", ratio);
    let copy_per_s = copy_scan.map(|took| rate(rows as usize, took));
    if let Some(copy_per_s) = copy_per_s {
        line("binary COPY of the rows, no decode", &copies);
        println!(
            "{:<36} {:>12.2}",
            "ratio against the COPY",
            events_per_s / copy_per_s
        );
    }
    let phases = report.phases;
    println!("rebuild phases: {phases}");
    if let Some((rebuild_cpu, scan_cpu)) = rebuild_cpu.zip(scan_cpu) {
        println!(
            "CPU time of this process (SQLite's work included, a PostgreSQL server's not): rebuild {rebuild_cpu:.2}s, scan {scan_cpu:.2}s"
        );
    }
    if let Some((rebuild_busy, scan_busy)) = rebuild_busy.zip(scan_busy) {
        // However well its work overlapped, a rebuild that keeps the CPUs
        // this busy cannot take less than its CPU time over their number.
        let floor = rebuild_busy / cpus as f64;
        println!(
            "machine CPU busy ({cpus} CPUs, database included): rebuild {rebuild_busy:.2}s of {:.2}s, scan {scan_busy:.2}s of {:.2}s; \
             the rebuild's CPU work alone needs {floor:.2}s, so its ratio cannot pass {:.2} here",
            took.as_secs_f64() * cpus as f64,
            scan.as_secs_f64() * cpus as f64,
            scan.as_secs_f64() / floor.max(1e-9)
        );
    }
    let peak_mb = peak.map(|b| (b as f64 / 1e6).round());
    match peak_mb {
        Some(mb) => println!(
            "resident memory the rebuild added at its peak: {mb} MB (at most {} books held)",
            args.max_books
        ),
        None => println!("peak resident memory: not measurable on this system"),
    }
    // The same usage over another number of organizations, rebuilt in the
    // same rounds: how the rate holds up as organizations grow.
    let versus = versus
        .zip(Run::fastest(&versus_rebuilds))
        .map(|((_, orgs), run)| {
            let per_s = rate(versus_events as usize, run.took);
            let peak_mb = versus_peak.map(|b| (b as f64 / 1e6).round());
            (orgs, per_s, events_per_s / per_s, peak_mb)
        });
    if let Some((orgs, _, versus_ratio, versus_mb)) = versus {
        line_of(
            &format!("rebuild, same usage over {orgs} orgs"),
            versus_events,
            &versus_rebuilds,
        );
        println!(
            "{:<36} {:>12.2}",
            format!("rate at {} orgs vs at {orgs}", args.orgs),
            versus_ratio
        );
        if let Some(mb) = versus_mb {
            println!("resident memory the rebuild over {orgs} orgs added at its peak: {mb} MB");
        }
    }
    println!(
        "{}",
        json!({
            "bench": "rebuild",
            "backend": args.backend.name(),
            "orgs": args.orgs,
            "max_books": args.max_books,
            "peak_memory_mb": peak_mb,
            "events": rows,
            "events_per_s": events_per_s.round(),
            "baseline_per_s": baseline_per_s.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "copy_scan_per_s": copy_per_s.map(f64::round),
            "ratio_vs_copy": copy_per_s.map(|c| (events_per_s / c * 1000.0).round() / 1000.0),
            "rounds": rebuilds.len(),
            "client_cpu_s": {"rebuild": rebuild_cpu, "scan": scan_cpu},
            "machine_busy_s": {"rebuild": rebuild_busy, "scan": scan_busy, "cpus": cpus},
            "phases_s": {
                "replay": phases.replay.as_secs_f64(),
                "render": phases.render.as_secs_f64(),
                "write": phases.write.as_secs_f64(),
                "catch_up": phases.catch_up.as_secs_f64(),
                "swap": phases.swap.as_secs_f64(),
            },
            "versus": versus.map(|(orgs, per_s, ratio, peak_mb)| json!({
                "orgs": orgs,
                "events": versus_events,
                "events_per_s": per_s.round(),
                "ratio": (ratio * 1000.0).round() / 1000.0,
                "peak_memory_mb": peak_mb,
            })),
        })
    );
    Ok(())
}
