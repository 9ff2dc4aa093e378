//! Generic bodies; each gets a fresh, migrated database.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use futures::future::join_all;
use ledger::store::AuditQuery;
use ledger::EventStore;
use projections::closer::close_periods;
use projections::fold::{Books, InvoiceStatus, LineKind};
use projections::rebuild::{checksum, rebuild, replay, verify};
use projections::tables::{InvoiceRow, INVOICES};
use projections::views::{invoices_as_of, line_events, AsOf};
use projections::{projector_for, tables_for, InvoiceProjector, Outcome};
use testkit::TestDb;

use super::seed::{self, anchor, org};

fn quiet(_: i64, _: i64) {}

async fn replayed(store: &dyn EventStore) -> Books {
    replay(store, None, &quiet).await.unwrap().0
}

async fn live_checksum(db: &TestDb) -> String {
    let tables = tables_for(&db.db);
    let generation = tables.active_generation(INVOICES).await.unwrap();
    checksum(&tables.invoices(generation).await.unwrap()).unwrap()
}

pub async fn runner_projects_invoices_equal_to_a_full_replay(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let projector = projector_for(&db.db);
    let folded = projector.catch_up().await.unwrap();
    assert_eq!(folded, store.head_position().await.unwrap());

    let books = replayed(store.as_ref()).await;
    let expected = books.invoices().unwrap();
    assert_eq!(expected.len(), 6, "3 orgs × 2 months");
    assert_eq!(live_checksum(&db).await, checksum(&expected).unwrap());
    let tables = tables_for(&db.db);
    for invoice in &expected {
        let stored = tables
            .invoice(&invoice.org_id, invoice.period_start)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored, invoice);
    }
    let org0 = tables.org_invoices(&org(0)).await.unwrap();
    assert_eq!(org0.len(), 2);
    assert!(org0[0].period_start > org0[1].period_start, "newest first");
    assert!(org0.iter().all(|i| i.total > rust_decimal::Decimal::ZERO));
    let generation = tables.active_generation(INVOICES).await.unwrap();
    let checkpoint = tables.checkpoint(INVOICES, generation).await.unwrap();
    assert_eq!(checkpoint.position, store.head_position().await.unwrap());
    assert_eq!(projector.try_process_next().await.unwrap(), Outcome::Idle);
}

pub async fn restarting_after_every_small_batch_gives_the_same_invoices(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    // A new projector per step models a crash and restart between batches.
    let mut steps = 0;
    loop {
        let projector = projector_for(&db.db).with_batch_size(7);
        match projector.try_process_next().await.unwrap() {
            Outcome::Worked { .. } => steps += 1,
            Outcome::Idle => break,
        }
    }
    assert!(steps > 10);
    let books = replayed(store.as_ref()).await;
    assert_eq!(
        live_checksum(&db).await,
        checksum(&books.invoices().unwrap()).unwrap()
    );
}

pub async fn two_runners_at_once_fold_each_event_once(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let runners: Vec<InvoiceProjector> = (0..3)
        .map(|_| projector_for(&db.db).with_batch_size(13))
        .collect();
    let results = join_all(runners.iter().map(|r| r.catch_up())).await;
    let folded: i64 = results.into_iter().map(Result::unwrap).sum();
    let head = store.head_position().await.unwrap();
    assert_eq!(folded, head, "every event folded by exactly one runner");
    let books = replayed(store.as_ref()).await;
    assert_eq!(
        live_checksum(&db).await,
        checksum(&books.invoices().unwrap()).unwrap()
    );
}

pub async fn runner_follows_live_appends(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let projector = projector_for(&db.db).with_batch_size(50);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = {
        let projector = projector.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            projector
                .run(std::time::Duration::from_millis(5), shutdown)
                .await
        })
    };
    let at = anchor() + Duration::days(20);
    let position = seed::usage(store.as_ref(), &org(1), "cpu_seconds", "1000000", at).await;
    let tables = tables_for(&db.db);
    let generation = tables.active_generation(INVOICES).await.unwrap();
    // Bounded wait for the runner to reach the new event.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tables
        .checkpoint(INVOICES, generation)
        .await
        .unwrap()
        .position
        < position
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "runner did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    let invoice = tables.invoice(&org(1), anchor()).await.unwrap().unwrap();
    assert_eq!(invoice.position, position);
}

pub async fn rebuild_swaps_in_a_fresh_generation_with_the_same_checksum(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    projector_for(&db.db).catch_up().await.unwrap();
    let before = live_checksum(&db).await;
    let old_generation = tables.active_generation(INVOICES).await.unwrap();
    let report = rebuild(store.clone(), tables.clone(), &quiet)
        .await
        .unwrap();
    assert_eq!(report.previous_generation, old_generation);
    assert!(report.generation > old_generation);
    assert_eq!(
        tables.active_generation(INVOICES).await.unwrap(),
        report.generation
    );
    assert_eq!(report.checksum, before);
    assert_eq!(live_checksum(&db).await, before);
    assert!(
        tables.invoices(old_generation).await.unwrap().is_empty(),
        "old generation dropped"
    );
    assert_eq!(report.position, store.head_position().await.unwrap());
    // The live runner carries on from the new generation's checkpoint.
    seed::usage(
        store.as_ref(),
        &org(2),
        "cpu_seconds",
        "5",
        anchor() + Duration::days(2),
    )
    .await;
    projector_for(&db.db).catch_up().await.unwrap();
    let books = replayed(store.as_ref()).await;
    assert_eq!(
        live_checksum(&db).await,
        checksum(&books.invoices().unwrap()).unwrap()
    );
}

async fn tamper(db: &TestDb) {
    // An operator "fixes" a total by hand: exactly the drift verify exists for.
    let sql_pg = "UPDATE invoice SET document = jsonb_set(document, '{total}', '\"1.00\"') \
                  WHERE org_id = 'org-1' AND period_start = '2026-01-01T00:00:00Z'";
    let sql_lite = "UPDATE invoice SET document = json_set(document, '$.total', '1.00') \
                    WHERE org_id = 'org-1' AND period_start = '2026-01-01T00:00:00.000000Z'";
    let sql = match db.db.backend() {
        ledger::db::Backend::Postgres => sql_pg,
        ledger::db::Backend::Sqlite => sql_lite,
    };
    let affected = db.db.query(sql).execute().await.unwrap();
    assert_eq!(affected, 1);
}

pub async fn verify_names_the_invoice_that_drifted(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    projector_for(&db.db).catch_up().await.unwrap();
    let clean = verify(store.as_ref(), tables.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(clean.matches(), "{clean:?}");
    tamper(&db).await;
    let drifted = verify(store.as_ref(), tables.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(!drifted.matches());
    assert_eq!(drifted.differing, vec![("org-1".to_owned(), anchor())]);
    assert_ne!(drifted.live_checksum, drifted.rebuilt_checksum);
}

pub async fn as_of_shows_an_invoice_as_it_stood(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let head = store.head_position().await.unwrap();
    let cut = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    seed::usage(
        store.as_ref(),
        &org(0),
        "cpu_seconds",
        "999999",
        anchor() + Duration::days(5),
    )
    .await;
    projector_for(&db.db).catch_up().await.unwrap();
    let now = tables_for(&db.db)
        .invoice(&org(0), anchor())
        .await
        .unwrap()
        .unwrap();

    let by_position = invoices_as_of(store.as_ref(), &org(0), AsOf::Position(head))
        .await
        .unwrap();
    let by_time = invoices_as_of(store.as_ref(), &org(0), AsOf::Time(cut))
        .await
        .unwrap();
    assert_eq!(by_position, by_time);
    let then = by_position
        .iter()
        .find(|i| i.period_start == anchor())
        .unwrap();
    assert!(
        then.total < now.total,
        "the later usage is not in the past view"
    );
    assert!(then.version < now.version);
    let latest = invoices_as_of(store.as_ref(), &org(0), AsOf::Time(Utc::now()))
        .await
        .unwrap();
    assert!(
        latest.contains(&now),
        "as-of now equals the live projection"
    );
    let before_anything = invoices_as_of(store.as_ref(), &org(0), AsOf::Position(0))
        .await
        .unwrap();
    assert!(before_anything.is_empty());
}

pub async fn line_provenance_pages_through_the_events_behind_a_line(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    projector_for(&db.db).catch_up().await.unwrap();
    let invoice = tables_for(&db.db)
        .invoice(&org(2), anchor())
        .await
        .unwrap()
        .unwrap();
    let line = invoice
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Usage && l.meter.as_deref() == Some("cpu_seconds"))
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = line_events(store.as_ref(), &org(2), &line.source, cursor, 4)
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // January: 31 days of cpu usage for org-2, nothing else.
    assert_eq!(seen.len(), 31);
    let total: rust_decimal::Decimal = seen
        .iter()
        .map(|e| {
            e.payload["quantity"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, line.quantity);
    assert!(seen
        .iter()
        .all(|e| e.event_type == "UsageRecorded" && e.payload["meter"] == "cpu_seconds"));
    let positions: Vec<i64> = seen.iter().map(|e| e.global_position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    let charge_line = invoice
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Charge)
        .unwrap();
    let charge_events = line_events(store.as_ref(), &org(2), &charge_line.source, None, 10)
        .await
        .unwrap();
    assert_eq!(charge_events.items.len(), 1);
    assert_eq!(charge_events.items[0].payload["charge_id"], "ch-2");
}

pub async fn racing_closers_finalize_each_period_exactly_once(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    projector_for(&db.db).catch_up().await.unwrap();
    let now = anchor() + Duration::days(31) + Duration::hours(2);
    let reports = join_all((0..4).map(|_| {
        let store = store.clone();
        let tables = tables.clone();
        async move {
            close_periods(store.as_ref(), tables.as_ref(), now, Duration::hours(1))
                .await
                .unwrap()
        }
    }))
    .await;
    let finalized: usize = reports.iter().map(|r| r.finalized.len()).sum();
    assert_eq!(
        finalized, 3,
        "one January invoice per org, finalized once: {reports:?}"
    );
    let finalize_events = count_type(store.as_ref(), "InvoiceFinalized").await;
    assert_eq!(finalize_events, 3);

    projector_for(&db.db).catch_up().await.unwrap();
    for i in 0..3 {
        let jan = tables.invoice(&org(i), anchor()).await.unwrap().unwrap();
        assert_eq!(jan.status, InvoiceStatus::Finalized);
        let feb = tables
            .invoice(&org(i), anchor() + Duration::days(31))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(feb.status, InvoiceStatus::Open);
    }
    // Within the grace period nothing more is closed; a later pass is a no-op.
    let again = close_periods(store.as_ref(), tables.as_ref(), now, Duration::hours(1))
        .await
        .unwrap();
    assert!(again.finalized.is_empty());
    assert_eq!(count_type(store.as_ref(), "InvoiceFinalized").await, 3);
}

async fn count_type(store: &dyn EventStore, event_type: &str) -> usize {
    let mut orgs = BTreeSet::new();
    let mut total = 0;
    for i in 0..3 {
        orgs.insert(org(i));
    }
    for o in orgs {
        let page = store
            .read_audit(&AuditQuery {
                org_id: o.as_str().to_owned(),
                event_types: vec![event_type.to_owned()],
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        total += page.items.len();
    }
    total
}

pub async fn finalized_invoice_never_changes_and_late_usage_moves_on(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);
    projector.catch_up().await.unwrap();
    let now = anchor() + Duration::days(31) + Duration::hours(2);
    close_periods(store.as_ref(), tables.as_ref(), now, Duration::hours(1))
        .await
        .unwrap();
    projector.catch_up().await.unwrap();
    let january = tables.invoice(&org(0), anchor()).await.unwrap().unwrap();

    seed::usage(
        store.as_ref(),
        &org(0),
        "cpu_seconds",
        "3600000",
        anchor() + Duration::days(3),
    )
    .await;
    projector.catch_up().await.unwrap();
    assert_eq!(
        tables.invoice(&org(0), anchor()).await.unwrap().unwrap(),
        january
    );
    let february = tables
        .invoice(&org(0), anchor() + Duration::days(31))
        .await
        .unwrap()
        .unwrap();
    let late = february
        .lines
        .iter()
        .find(|l| l.kind == LineKind::LateUsageAdjustment)
        .expect("late usage lands on the next open invoice");
    assert_eq!(
        late.amount,
        "7.92".parse().unwrap(),
        "3,600,000 s × 0.0000022"
    );
    let tables_arc: Arc<dyn projections::ProjectionTables> = tables.clone();
    let clean = verify(store.as_ref(), tables_arc.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(clean.matches());
}

pub async fn changed_invoices_feed_pages_by_position_up_to_the_checkpoint(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);
    projector.catch_up().await.unwrap();
    let (all, checkpoint) = tables.changed_invoices(0, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(checkpoint, store.head_position().await.unwrap());
    assert!(all.windows(2).all(|w| w[0].position <= w[1].position));
    let (page, _) = tables.changed_invoices(0, 2).await.unwrap();
    assert_eq!(page, all[..2].to_vec());
    // New usage not yet folded is invisible; once folded, only that
    // invoice comes after the old checkpoint.
    let position = seed::usage(store.as_ref(), &org(1), "cpu_seconds", "9", anchor()).await;
    let (none, same) = tables.changed_invoices(checkpoint, 100).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(same, checkpoint);
    projector.catch_up().await.unwrap();
    let (changed, moved) = tables.changed_invoices(checkpoint, 100).await.unwrap();
    assert_eq!(moved, position);
    assert_eq!(changed.len(), 1);
    assert_eq!(
        (changed[0].org_id.clone(), changed[0].position),
        (org(1), position)
    );
}

/// A time names a prefix of the log: the invoices as of any event's
/// `recorded_at` are the invoices as of the last position recorded by then,
/// while concurrent writers append (on PostgreSQL `recorded_at` used to be
/// the transaction start, taken before the append lock).
pub async fn as_of_a_time_is_as_of_the_last_position_recorded_by_then(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..15 {
                    let at = anchor() + Duration::days(1 + (w + i) % 20);
                    seed::usage(store.as_ref(), &org(0), "cpu_seconds", "3", at).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let events = store.read_all(0, 10_000).await.unwrap();
    assert!(
        events
            .windows(2)
            .all(|w| w[0].recorded_at <= w[1].recorded_at),
        "recorded_at decreased along the global order"
    );
    for event in events.iter().step_by(7) {
        let t = event.recorded_at;
        let last = events
            .iter()
            .filter(|e| e.recorded_at <= t)
            .map(|e| e.global_position)
            .max()
            .unwrap();
        let by_time = invoices_as_of(store.as_ref(), &org(0), AsOf::Time(t))
            .await
            .unwrap();
        let by_position = invoices_as_of(store.as_ref(), &org(0), AsOf::Position(last))
            .await
            .unwrap();
        assert_eq!(by_time, by_position, "as of {t} (position {last})");
    }
}

/// The periods an organization's state holds, and the ones compacted out.
async fn stored_book(db: &TestDb, org: &ledger::OrgId) -> (usize, usize) {
    let tables = tables_for(&db.db);
    let generation = tables.active_generation(INVOICES).await.unwrap();
    let states = tables
        .load_states(generation, &[projections::runner::org_key(org.as_str())])
        .await
        .unwrap();
    let book: serde_json::Value = serde_json::from_str(states[0].1.get()).unwrap();
    let count = |field: &str| book[field].as_object().map_or(0, |m| m.len());
    (count("periods"), count("archived"))
}

/// The platform with March usage for org 0, closed through February and
/// folded after the close (so January and February are compacted out of
/// org 0's state). Returns the start of March.
async fn closed_through_february(db: &TestDb) -> chrono::DateTime<Utc> {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let march = anchor() + Duration::days(59);
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);
    seed::usage(
        store.as_ref(),
        &org(0),
        "cpu_seconds",
        "3600",
        march + Duration::days(3),
    )
    .await;
    projector.catch_up().await.unwrap();
    close_periods(
        store.as_ref(),
        tables.as_ref(),
        march + Duration::hours(2),
        Duration::hours(1),
    )
    .await
    .unwrap();
    projector.catch_up().await.unwrap();
    seed::usage(
        store.as_ref(),
        &org(0),
        "cpu_seconds",
        "3600",
        march + Duration::days(4),
    )
    .await;
    projector.catch_up().await.unwrap();
    march
}

pub async fn closed_periods_leave_the_state_and_come_back_for_late_usage_and_payments(db: TestDb) {
    let march = closed_through_february(&db).await;
    let store = db.store();
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);

    // January and February are finalized: the state keeps only March.
    assert_eq!(stored_book(&db, &org(0)).await, (1, 2));
    let generation = tables.active_generation(INVOICES).await.unwrap();
    let keys: Vec<String> = [anchor(), anchor() + Duration::days(31)]
        .into_iter()
        .map(|start| projections::runner::closed_period_key(org(0).as_str(), start))
        .collect();
    assert_eq!(
        tables.load_states(generation, &keys).await.unwrap().len(),
        2
    );

    // Late usage for January is priced against January's own totals.
    let january = tables.invoice(&org(0), anchor()).await.unwrap().unwrap();
    seed::usage(
        store.as_ref(),
        &org(0),
        "cpu_seconds",
        "3600000",
        anchor() + Duration::days(3),
    )
    .await;
    projector.catch_up().await.unwrap();
    assert_eq!(
        tables.invoice(&org(0), anchor()).await.unwrap().unwrap(),
        january
    );
    let current = tables.invoice(&org(0), march).await.unwrap().unwrap();
    let late = current
        .lines
        .iter()
        .find(|l| l.kind == LineKind::LateUsageAdjustment)
        .expect("late usage for January lands on March");
    assert_eq!(
        late.amount,
        "7.92".parse().unwrap(),
        "3,600,000 s × 0.0000022"
    );

    // January is paid long after it left the state.
    seed::paid(store.as_ref(), &org(0), anchor(), march + Duration::days(5)).await;
    projector.catch_up().await.unwrap();
    let january = tables.invoice(&org(0), anchor()).await.unwrap().unwrap();
    assert_eq!(january.status, InvoiceStatus::Paid);
    assert_eq!(stored_book(&db, &org(0)).await, (1, 2), "compacted again");

    // Live (folded from compacted states) equals a replay from scratch.
    let clean = verify(store.as_ref(), tables.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(clean.matches(), "{:?}", clean.differing);
    let report = rebuild(store.clone(), tables.clone(), &quiet)
        .await
        .unwrap();
    assert_eq!(report.checksum, live_checksum(&db).await);
    assert_eq!(
        stored_book(&db, &org(0)).await,
        (1, 2),
        "a rebuild compacts too"
    );
}

/// A rebuild that may hold only one organization's book at a time writes
/// the others out and reads them back (with their compacted periods) when
/// their events come: the invoices are the same as an unbounded rebuild's.
pub async fn a_rebuild_within_a_one_book_budget_gives_the_same_invoices(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let march = anchor() + Duration::days(59);
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);
    projector.catch_up().await.unwrap();
    close_periods(
        store.as_ref(),
        tables.as_ref(),
        march + Duration::hours(2),
        Duration::hours(1),
    )
    .await
    .unwrap();
    // After the close: usage for March, late usage for January, January paid.
    for (i, at) in [march + Duration::days(1), anchor() + Duration::days(2)]
        .into_iter()
        .enumerate()
    {
        for o in 0..3 {
            seed::usage(
                store.as_ref(),
                &org(o),
                "egress_gb",
                &format!("{}.5", i + 1),
                at,
            )
            .await;
        }
    }
    seed::paid(store.as_ref(), &org(1), anchor(), march + Duration::days(2)).await;

    let unbounded = rebuild(store.clone(), tables.clone(), &quiet)
        .await
        .unwrap();
    let budget = projections::rebuild::Budget {
        max_books: 1,
        page_events: 5,
    };
    let bounded =
        projections::rebuild::rebuild_within(store.clone(), tables.clone(), budget, &quiet)
            .await
            .unwrap();
    assert_eq!(bounded.checksum, unbounded.checksum);
    assert_eq!(bounded.invoices, unbounded.invoices);
    assert_eq!(bounded.position, store.head_position().await.unwrap());
    let january = tables.invoice(&org(1), anchor()).await.unwrap().unwrap();
    assert_eq!(january.status, InvoiceStatus::Paid);
    let clean = verify(store.as_ref(), tables.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(clean.matches(), "{:?}", clean.differing);
}

/// Make the next append's position about 10^12 past the head: a hole as
/// PostgreSQL leaves for positions drawn by appends that were then
/// refused, and as a restored sequence can leave. SQLite assigns the rowid
/// after the highest, so there an event is put at the far side by hand (a
/// copy of a usage event under a stream of its own).
async fn leave_a_wide_hole(db: &TestDb) {
    const FAR: i64 = 1_000_000_000_000;
    let sql = match db.db.backend() {
        ledger::db::Backend::Postgres => {
            format!("SELECT setval('event_global_position_seq', {FAR})")
        }
        ledger::db::Backend::Sqlite => format!(
            "INSERT INTO event (global_position, event_id, stream_id, stream_version, event_type, \
             schema_version, org_id, payload, metadata, occurred_at, recorded_at) \
             SELECT {FAR}, '{}', 'usage-hole', 1, event_type, schema_version, org_id, payload, \
             metadata, occurred_at, recorded_at FROM event \
             WHERE event_type = 'UsageRecorded' ORDER BY global_position DESC LIMIT 1",
            uuid::Uuid::now_v7()
        ),
    };
    db.db.query(&sql).execute().await.unwrap();
}

/// Positions may have holes, however wide: a replay reads pages of a
/// range of positions, and across a hole goes on from the next stored
/// event instead of reading every empty range in between (here about 10^11
/// of them, so a replay that did would never end).
pub async fn a_rebuild_reads_across_a_wide_hole_in_the_positions(db: TestDb) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let before_hole = store.head_position().await.unwrap();
    leave_a_wide_hole(&db).await;
    for o in 0..3 {
        seed::usage(
            store.as_ref(),
            &org(o),
            "egress_gb",
            "2.5",
            anchor() + Duration::days(3),
        )
        .await;
    }
    let head = store.head_position().await.unwrap();
    assert!(head > before_hole + 1_000_000_000, "a hole was left");
    let stored = store.read_all(0, 10_000).await.unwrap();
    let tables = tables_for(&db.db);
    projector_for(&db.db).catch_up().await.unwrap();
    let live = live_checksum(&db).await;
    for page_events in [3, 10_000] {
        let budget = projections::rebuild::Budget {
            max_books: 10,
            page_events,
        };
        let rebuilt = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            projections::rebuild::rebuild_within(store.clone(), tables.clone(), budget, &quiet),
        )
        .await
        .expect("a replay across the hole ends")
        .unwrap();
        assert_eq!(
            rebuilt.events,
            stored.len() as u64,
            "pages of {page_events}"
        );
        assert_eq!(rebuilt.position, head);
        assert_eq!(rebuilt.checksum, live, "pages of {page_events}");
    }
}

pub async fn a_decline_for_an_invoice_compacted_out_of_the_state_shows_on_it(db: TestDb) {
    let march = closed_through_february(&db).await;
    let store = db.store();
    let tables = tables_for(&db.db);
    let projector = projector_for(&db.db);
    assert_eq!(stored_book(&db, &org(0)).await, (1, 2));

    // January's payment fails; its decline reason comes in a fact of its own,
    // here before the failure it explains.
    let key = ledger::event::InvoiceKey {
        org_id: org(0),
        period_start: anchor(),
    };
    let at = march + Duration::days(5);
    let declined =
        ledger::LedgerEvent::InvoicePaymentDeclined(ledger::event::InvoicePaymentDeclined {
            invoice: key.clone(),
            stripe_invoice_id: "in_january".into(),
            stripe_event_id: "evt_january_failed".into(),
            payment_intent_id: "pi_january".into(),
            decline_code: Some("insufficient_funds".into()),
            code: Some("card_declined".into()),
            message: None,
        });
    seed::append(store.as_ref(), key.stream(), declined, at).await;
    projector.catch_up().await.unwrap();
    let failed = ledger::LedgerEvent::InvoicePaymentFailed(ledger::event::InvoicePaymentFailed {
        invoice: key.clone(),
        stripe_invoice_id: "in_january".into(),
        reason: "payment attempt 1 failed".into(),
        stripe_event_id: Some("evt_january_failed".into()),
        failed_at: Some(at),
        attempt_count: Some(1),
        next_payment_attempt: Some(at + Duration::days(3)),
    });
    seed::append(store.as_ref(), key.stream(), failed, at).await;
    projector.catch_up().await.unwrap();
    let january = tables.invoice(&org(0), anchor()).await.unwrap().unwrap();
    assert_eq!(
        january.last_payment_failure.as_deref(),
        Some("insufficient_funds")
    );
    assert_eq!(stored_book(&db, &org(0)).await, (1, 2), "compacted again");
    let clean = verify(store.as_ref(), tables.as_ref(), &quiet)
        .await
        .unwrap();
    assert!(clean.matches(), "{:?}", clean.differing);
}

/// More organizations than one multi-row insert of states and invoices
/// holds (500 rows): the rebuild's final commit writes them all in several
/// statements, and every organization's invoice must come out with its own
/// total, none shifted onto a neighbour's parameters.
pub async fn commits_larger_than_one_insert_statement_keep_every_invoice(db: TestDb) {
    const ORGS: usize = 1_234;
    let store = db.store();
    seed::set_price(store.as_ref(), "cpu_seconds", seed::per_unit("1"), anchor()).await;
    let mut appends = Vec::with_capacity(2 * ORGS);
    for n in 0..ORGS {
        let org = org(n);
        let created = seed::org_created(&org);
        let used = seed::usage_event(&org, "cpu_seconds", &(n + 1).to_string());
        for (stream, event) in [
            (ledger::StreamId::organization(&org), created),
            (ledger::StreamId::usage(&org), used),
        ] {
            appends.push(ledger::StreamAppend {
                stream_id: stream,
                expected: ledger::ExpectedVersion::Any,
                events: vec![ledger::NewEvent::from_domain(&event, anchor()).unwrap()],
            });
        }
    }
    store.append_batch(appends).await.unwrap();
    let tables = tables_for(&db.db);
    let check = |invoices: Vec<projections::fold::Invoice>| {
        assert_eq!(invoices.len(), ORGS, "one invoice per organization");
        for invoice in invoices {
            let n: usize = invoice.org_id.as_str()["org-".len()..].parse().unwrap();
            assert_eq!(
                invoice.total,
                rust_decimal::Decimal::from(n + 1),
                "{}'s total",
                invoice.org_id
            );
        }
    };
    projector_for(&db.db).catch_up().await.unwrap();
    let live = tables.active_generation(INVOICES).await.unwrap();
    check(tables.invoices(live).await.unwrap());
    let report = rebuild(store.clone(), tables.clone(), &quiet)
        .await
        .unwrap();
    assert_eq!(report.invoices, ORGS);
    check(tables.invoices(report.generation).await.unwrap());
    // The rebuild writes its generation in parts; the checksum it reports
    // (of what it wrote) is that of what is stored.
    assert_eq!(report.checksum, live_checksum(&db).await);
    // Every part's states were written: organizations from first to last
    // fold on from their rebuilt state.
    let later: Vec<usize> = (0..ORGS).step_by(97).chain([ORGS - 1]).collect();
    let appends = later
        .iter()
        .map(|&n| ledger::StreamAppend {
            stream_id: ledger::StreamId::usage(&org(n)),
            expected: ledger::ExpectedVersion::Any,
            events: vec![ledger::NewEvent::from_domain(
                &seed::usage_event(&org(n), "cpu_seconds", "1000"),
                anchor(),
            )
            .unwrap()],
        })
        .collect();
    store.append_batch(appends).await.unwrap();
    projector_for(&db.db).catch_up().await.unwrap();
    for n in later {
        let invoice = tables.invoice(&org(n), anchor()).await.unwrap().unwrap();
        assert_eq!(
            invoice.total,
            rust_decimal::Decimal::from(n + 1 + 1000),
            "{}'s total after the rebuild",
            invoice.org_id
        );
    }
}

pub async fn fill_writes_only_a_generation_being_built_and_a_crash_after_it_is_abandoned(
    db: TestDb,
) {
    let store = db.store();
    seed::platform(store.as_ref()).await;
    let tables = tables_for(&db.db);
    projector_for(&db.db).catch_up().await.unwrap();
    let live = tables.active_generation(INVOICES).await.unwrap();
    let invoices = tables.invoices(live).await.unwrap();
    assert!(!invoices.is_empty());
    let before = live_checksum(&db).await;

    // The live generation is never filled behind its checkpoint's back.
    let mut altered = invoices[0].clone();
    altered.total += rust_decimal::Decimal::ONE;
    let refused = tables
        .fill(INVOICES, live, &[], &[InvoiceRow::new(altered).unwrap()])
        .await;
    assert!(refused.is_err(), "filling the live generation must fail");
    assert_eq!(live_checksum(&db).await, before, "nothing written");

    // A generation being built takes the rows and keeps its checkpoint.
    let building = tables.new_generation(INVOICES).await.unwrap();
    let rows: Vec<InvoiceRow> = invoices
        .iter()
        .cloned()
        .map(|invoice| InvoiceRow::new(invoice).unwrap())
        .collect();
    tables.fill(INVOICES, building, &[], &rows).await.unwrap();
    assert_eq!(tables.invoices(building).await.unwrap(), invoices);
    assert_eq!(
        tables
            .checkpoint(INVOICES, building)
            .await
            .unwrap()
            .position,
        0
    );

    // The rebuild that crashed after filling never moved the checkpoint:
    // the next rebuild starts that generation over and ends equal to live.
    let report = rebuild(store.clone(), tables.clone(), &quiet)
        .await
        .unwrap();
    assert_eq!(report.checksum, before);
    assert_eq!(report.invoices, invoices.len());
    assert_eq!(live_checksum(&db).await, before);
}
