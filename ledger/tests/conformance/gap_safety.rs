//! Gap safety under concurrency: a reader that tails `read_all` and
//! advances its cursor must see every committed event exactly once, and
//! `recorded_at` never decreases along the global order (so a point in
//! time names a prefix of the log).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ledger::{EventStore, ExpectedVersion};
use testkit::TestDb;
use uuid::Uuid;

use super::cases::{event, stream};

const WRITERS: u64 = 8;
const TRANSACTIONS_PER_WRITER: u64 = 1_250;
const EVENTS_PER_TRANSACTION: u64 = 5;

async fn tail(store: Arc<dyn EventStore>, writers_done: Arc<AtomicBool>) -> Vec<Uuid> {
    let mut cursor = 0;
    let mut recorded = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let mut seen = Vec::new();
    loop {
        // Read the flag before reading: if it was set, every append had
        // committed, so an empty read after it means we have everything.
        let finished = writers_done.load(Ordering::Acquire);
        let page = store.read_all(cursor, 1_000).await.unwrap();
        if page.is_empty() {
            if finished {
                return seen;
            }
            tokio::task::yield_now().await;
            continue;
        }
        for e in page {
            assert!(
                e.global_position > cursor,
                "position {} returned after cursor {cursor}",
                e.global_position
            );
            assert!(
                e.recorded_at >= recorded,
                "position {} was recorded at {}, before position {cursor} ({recorded})",
                e.global_position,
                e.recorded_at
            );
            cursor = e.global_position;
            recorded = e.recorded_at;
            seen.push(e.event_id);
        }
    }
}

/// Writers on one handle commit in shared groups; handles race each other
/// as separate processes would, so only the position lock keeps the
/// reader from skipping (remove it and this test reports thousands).
const HANDLES: u64 = 4;

pub async fn concurrent_writers_never_let_a_tailing_reader_skip_an_event(db: &TestDb) {
    let store = db.store();
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(tail(store.clone(), writers_done.clone()));
    let mut handles = Vec::new();
    for _ in 0..HANDLES {
        let handle = ledger::db::Database::connect(&db.url).await.unwrap();
        handles.push(handle.event_store());
    }

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = handles[(w % HANDLES) as usize].clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for t in 0..TRANSACTIONS_PER_WRITER {
                    // Writers share streams pairwise, so stream versions are
                    // contended too, not only global positions.
                    let s = stream(&format!("gap-{}", w / 2));
                    let events: Vec<_> = (0..EVENTS_PER_TRANSACTION)
                        .map(|i| event(t * EVENTS_PER_TRANSACTION + i))
                        .collect();
                    ids.extend(events.iter().map(|e| e.event_id));
                    store
                        .append(&s, ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                }
                ids
            })
        })
        .collect();
    let mut committed = HashSet::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    writers_done.store(true, Ordering::Release);
    let seen = reader.await.unwrap();

    let total = (WRITERS * TRANSACTIONS_PER_WRITER * EVENTS_PER_TRANSACTION) as usize;
    assert_eq!(committed.len(), total);
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "the reader saw an event twice");
    let missed = committed.difference(&unique).count();
    assert_eq!(
        missed, 0,
        "the tailing reader skipped {missed} committed events"
    );
    assert_eq!(seen.len(), total);

    // Stream versions stayed gapless under contention.
    for pair in 0..WRITERS / 2 {
        let s = stream(&format!("gap-{pair}"));
        let mut expected = 1;
        loop {
            let chunk = store.read_stream(&s, expected, 10_000).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            for e in chunk {
                assert_eq!(e.stream_version, expected);
                expected += 1;
            }
        }
        assert_eq!(
            expected - 1,
            (2 * TRANSACTIONS_PER_WRITER * EVENTS_PER_TRANSACTION) as i64
        );
    }
}
