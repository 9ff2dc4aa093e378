//! Generic bodies of the conformance cases; each takes a fresh database.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use ledger::db::Database;
use ledger::event::{EventMetadata, LedgerEvent, OrgId, UsageRecorded};
use ledger::store::Direction;
use ledger::{
    AppendResult, AuditQuery, EventStore, ExpectedVersion, NewEvent, StoreError, StreamAppend,
    StreamId,
};
use serde_json::json;
use testkit::TestDb;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

pub fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "Tested",
        1,
        json!({"n": n, "note": "a test event"}),
        t0() + Duration::seconds(n as i64),
    )
}

pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

fn positions(results: &[AppendResult]) -> Vec<i64> {
    results.iter().map(AppendResult::global_position).collect()
}

/// The versions stored in a stream, in order (up to 10,000).
async fn stored_versions(store: &Arc<dyn EventStore>, stream: &StreamId) -> Vec<i64> {
    store
        .read_stream(stream, 1, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect()
}

async fn count(store: &Arc<dyn EventStore>) -> usize {
    store.read_all(0, 10_000).await.unwrap().len()
}

pub async fn appends_and_reads_back_a_stream(db: &TestDb) {
    let store = db.store();
    let s = stream("orders-1");
    let metadata = EventMetadata {
        actor: Some("support:alice".into()),
        source: Some("test".into()),
        correlation_id: Some("req-1".into()),
        causation_id: None,
    };
    let events: Vec<NewEvent> = (1..=3)
        .map(|n| {
            event(n)
                .with_idempotency_key(format!("key-{n}"))
                .with_metadata(metadata.clone())
                .with_org("org-a")
        })
        .collect();
    let outcome = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(outcome.stream_version, 3);
    let pos = positions(&outcome.results);
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "positions ascend: {pos:?}"
    );

    let read = store.read_stream(&s, 1, 100).await.unwrap();
    assert_eq!(read.len(), 3);
    for ((stored, sent), position) in read.iter().zip(&events).zip(&pos) {
        assert_eq!(stored.event_id, sent.event_id);
        assert_eq!(stored.stream_id, s);
        assert_eq!(stored.global_position, *position);
        assert_eq!(stored.event_type, "Tested");
        assert_eq!(stored.schema_version, 1);
        assert_eq!(stored.payload, sent.payload.to_value().unwrap());
        assert_eq!(stored.metadata, metadata);
        assert_eq!(stored.occurred_at, sent.occurred_at);
        assert_eq!(stored.idempotency_key, sent.idempotency_key);
        assert_eq!(stored.org_id.as_deref(), Some("org-a"));
        assert!((Utc::now() - stored.recorded_at).num_seconds().abs() < 60);
    }
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(store.stream_version(&s).await.unwrap(), 3);
    assert_eq!(store.stream_version(&stream("nothing")).await.unwrap(), 0);
}

pub async fn stale_expected_version_is_a_conflict_and_writes_nothing(db: &TestDb) {
    let store = db.store();
    let s = stream("account-1");
    store
        .append(&s, ExpectedVersion::NoStream, vec![event(1), event(2)])
        .await
        .unwrap();
    let err = store
        .append(&s, ExpectedVersion::Exact(1), vec![event(3)])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            stream_id,
            expected,
            actual,
        } => {
            assert_eq!(stream_id, s);
            assert_eq!(expected, ExpectedVersion::Exact(1));
            assert_eq!(actual, 2);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(count(&store).await, 2);
    store
        .append(&s, ExpectedVersion::Exact(2), vec![event(3)])
        .await
        .unwrap();
    assert_eq!(store.stream_version(&s).await.unwrap(), 3);
}

pub async fn no_stream_expectation_refuses_an_existing_stream(db: &TestDb) {
    let store = db.store();
    let s = stream("account-2");
    store
        .append(&s, ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    let err = store
        .append(&s, ExpectedVersion::NoStream, vec![event(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: 1, .. }),
        "{err:?}"
    );
    let err = store
        .append(&stream("fresh"), ExpectedVersion::Exact(3), vec![event(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: 0, .. }),
        "{err:?}"
    );
    assert_eq!(count(&store).await, 1);
}

pub async fn any_version_appends_without_a_check(db: &TestDb) {
    let store = db.store();
    let s = stream("usage-org-a");
    for n in 0..3 {
        let outcome = store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![event(2 * n), event(2 * n + 1)],
            )
            .await
            .unwrap();
        assert_eq!(outcome.stream_version, 2 * n as i64 + 2);
    }
    assert_eq!(
        stored_versions(&store, &s).await,
        (1..=6).collect::<Vec<_>>()
    );
}

pub async fn duplicate_idempotency_key_stores_nothing_and_names_the_original(db: &TestDb) {
    let store = db.store();
    let s = stream("usage-org-b");
    let first = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![event(1).with_idempotency_key("k-1")],
        )
        .await
        .unwrap();
    let AppendResult::Appended {
        event_id,
        global_position,
        ..
    } = first.results[0]
    else {
        panic!("first append must store");
    };
    // The same key again, even on another stream and with another body.
    let again = store
        .append(
            &stream("elsewhere"),
            ExpectedVersion::Any,
            vec![event(99).with_idempotency_key("k-1"), event(2)],
        )
        .await
        .unwrap();
    assert_eq!(
        again.results[0],
        AppendResult::Duplicate {
            event_id,
            stream_id: s.clone(),
            stream_version: 1,
            global_position,
        }
    );
    assert!(matches!(
        again.results[1],
        AppendResult::Appended {
            stream_version: 1,
            ..
        }
    ));
    assert_eq!(again.stream_version, 1);
    assert_eq!(count(&store).await, 2);
}

pub async fn duplicate_keys_within_one_batch_store_the_first_only(db: &TestDb) {
    let store = db.store();
    let outcome = store
        .append(
            &stream("usage-org-c"),
            ExpectedVersion::Any,
            vec![
                event(1).with_idempotency_key("same"),
                event(2).with_idempotency_key("same"),
                event(3),
            ],
        )
        .await
        .unwrap();
    let AppendResult::Appended { event_id, .. } = outcome.results[0] else {
        panic!("first of the batch is stored");
    };
    match &outcome.results[1] {
        AppendResult::Duplicate {
            event_id: original, ..
        } => assert_eq!(*original, event_id),
        other => panic!("second is a duplicate of the first, got {other:?}"),
    }
    assert!(matches!(
        outcome.results[2],
        AppendResult::Appended {
            stream_version: 2,
            ..
        }
    ));
    assert_eq!(count(&store).await, 2);
}

pub async fn retried_append_with_only_duplicates_succeeds_despite_a_stale_version(db: &TestDb) {
    let store = db.store();
    let s = stream("invoice-x");
    let events = vec![
        event(1).with_idempotency_key("close-x"),
        event(2).with_idempotency_key("close-x-2"),
    ];
    let first = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    let retry = store
        .append(&s, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    assert!(retry.results.iter().all(AppendResult::is_duplicate));
    assert_eq!(positions(&retry.results), positions(&first.results));
    assert_eq!(count(&store).await, 2);
}

pub async fn racing_duplicates_store_the_key_once(db: &TestDb) {
    let store = db.store();
    let attempts = join_all((0..16).map(|n| {
        let store = store.clone();
        async move {
            store
                .append(
                    &stream(&format!("racer-{}", n % 4)),
                    ExpectedVersion::Any,
                    vec![event(n).with_idempotency_key("only-once")],
                )
                .await
                .unwrap()
        }
    }))
    .await;
    let appended: Vec<_> = attempts
        .iter()
        .filter(|o| !o.results[0].is_duplicate())
        .collect();
    assert_eq!(appended.len(), 1, "exactly one racer stores the key");
    let winner = appended[0].results[0].global_position();
    for outcome in &attempts {
        assert_eq!(outcome.results[0].global_position(), winner);
    }
    assert_eq!(count(&store).await, 1);
}

pub async fn racing_expected_version_appends_let_exactly_one_win(db: &TestDb) {
    let store = db.store();
    let s = stream("invoice-race");
    store
        .append(&s, ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    let attempts = join_all((1..=8).map(|n| {
        let store = store.clone();
        let s = s.clone();
        async move {
            store
                .append(&s, ExpectedVersion::Exact(1), vec![event(n)])
                .await
        }
    }))
    .await;
    let wins = attempts.iter().filter(|r| r.is_ok()).count();
    let conflicts = attempts
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict { actual: 2, .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 7));
    assert_eq!(store.stream_version(&s).await.unwrap(), 2);
}

pub async fn read_all_returns_every_event_in_global_order_in_pages(db: &TestDb) {
    let store = db.store();
    let mut expected = Vec::new();
    for round in 0..5u64 {
        for name in ["a", "b", "c"] {
            let outcome = store
                .append(
                    &stream(name),
                    ExpectedVersion::Any,
                    vec![event(round * 10), event(round * 10 + 1)],
                )
                .await
                .unwrap();
            expected.extend(positions(&outcome.results));
        }
    }
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.read_all(cursor, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        cursor = page.last().unwrap().global_position;
        seen.extend(page.iter().map(|e| e.global_position));
    }
    assert_eq!(seen, expected);
    assert_eq!(
        store.head_position().await.unwrap(),
        *expected.last().unwrap()
    );
}

pub async fn read_stream_starts_at_the_requested_version(db: &TestDb) {
    let store = db.store();
    let s = stream("long");
    store
        .append(&s, ExpectedVersion::Any, (0..10).map(event).collect())
        .await
        .unwrap();
    let tail = store.read_stream(&s, 8, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    let limited = store.read_stream(&s, 2, 3).await.unwrap();
    assert_eq!(
        limited.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(store.read_stream(&s, 11, 100).await.unwrap().is_empty());
}

/// Raw SQL against the events table, bypassing the store.
async fn raw(db: &Database, sql: &str) -> Result<u64, sqlx::Error> {
    db.query(sql).execute().await
}

pub async fn events_cannot_be_updated_or_deleted(db: &TestDb) {
    let store = db.store();
    store
        .append(&stream("immutable"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    for sql in [
        "UPDATE event SET event_type = 'Forged'",
        "UPDATE event SET payload = '{}'",
        "DELETE FROM event",
    ] {
        let err = raw(&db.db, sql)
            .await
            .expect_err(&format!("`{sql}` must be refused"));
        assert!(
            err.to_string().contains("events are immutable"),
            "`{sql}` refused for the wrong reason: {err}"
        );
    }
    if db.db.backend() == ledger::db::Backend::Postgres {
        let err = raw(&db.db, "TRUNCATE event").await.unwrap_err();
        assert!(err.to_string().contains("events are immutable"), "{err}");
    }
    let stored = store.read_all(0, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event_type, "Tested");
}

pub async fn one_mebibyte_payload_round_trips(db: &TestDb) {
    let store = db.store();
    let blob: String = (0..1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let big = NewEvent::new("Big", 1, json!({ "blob": blob }), t0());
    store
        .append(&stream("big"), ExpectedVersion::Any, vec![big.clone()])
        .await
        .unwrap();
    let read = store.event_by_id(big.event_id).await.unwrap().unwrap();
    assert_eq!(read.payload, big.payload.to_value().unwrap());
}

pub async fn unicode_round_trips(db: &TestDb) {
    let store = db.store();
    let s = stream("org-ünïcødé-日本-🚀");
    let payload = json!({
        "name": "Zoë's Café ☕ — 東京 / القاهرة / עברית",
        "emoji": "👩‍👩‍👧‍👦🏳️‍🌈",
        "combining": "e\u{301} vs é",
        "escapes": "tab\tnewline\nquote\"backslash\\",
        "ключ": "значение",
    });
    let e = NewEvent::new("Ünicode", 1, payload.clone(), t0())
        .with_idempotency_key("ключ-🔑")
        .with_org("org-ünïcødé-日本-🚀");
    store
        .append(&s, ExpectedVersion::Any, vec![e.clone()])
        .await
        .unwrap();
    let read = store.read_stream(&s, 1, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].payload, payload);
    assert_eq!(read[0].event_type, "Ünicode");
    assert_eq!(read[0].idempotency_key.as_deref(), Some("ключ-🔑"));
    let page = store
        .read_audit(&AuditQuery {
            org_id: "org-ünïcødé-日本-🚀".into(),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

pub async fn empty_batch_stores_nothing(db: &TestDb) {
    let store = db.store();
    let s = stream("quiet");
    store
        .append(&s, ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let outcome = store
        .append(&s, ExpectedVersion::Any, vec![])
        .await
        .unwrap();
    assert!(outcome.results.is_empty());
    assert_eq!(outcome.stream_version, 1);
    assert!(store.append_batch(vec![]).await.unwrap().is_empty());
    assert_eq!(count(&store).await, 1);
}

pub async fn batch_with_one_invalid_event_stores_nothing(db: &TestDb) {
    let store = db.store();
    let bad_payload = NewEvent::new("Tested", 1, json!(["not", "an", "object"]), t0());
    let too_long_key = event(5).with_idempotency_key("k".repeat(256));
    let no_type = NewEvent::new("", 1, json!({}), t0());
    for (bad, index) in [(bad_payload, 2), (too_long_key, 2), (no_type, 2)] {
        let err = store
            .append(
                &stream("mixed"),
                ExpectedVersion::Any,
                vec![event(1), event(2), bad, event(3)],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidEvent { index: i, .. } if i == index),
            "{err:?}"
        );
    }
    assert_eq!(count(&store).await, 0);
}

pub async fn batch_failing_in_the_database_stores_nothing(db: &TestDb) {
    let store = db.store();
    let stored = event(1);
    store
        .append(&stream("first"), ExpectedVersion::Any, vec![stored.clone()])
        .await
        .unwrap();
    // Reusing a stored event id passes validation but breaks a unique
    // constraint inside the insert: the whole batch must roll back.
    let mut reused = event(9);
    reused.event_id = stored.event_id;
    let err = store
        .append_batch(vec![
            StreamAppend {
                stream_id: stream("second"),
                expected: ExpectedVersion::Any,
                events: vec![event(2), event(3)],
            },
            StreamAppend {
                stream_id: stream("third"),
                expected: ExpectedVersion::Any,
                events: vec![event(4), reused],
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UniqueViolation { .. }), "{err:?}");
    assert_eq!(count(&store).await, 1);
    assert_eq!(store.stream_version(&stream("second")).await.unwrap(), 0);
}

pub async fn multi_stream_batch_with_one_conflict_stores_nothing(db: &TestDb) {
    let store = db.store();
    store
        .append(&stream("inv"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let err = store
        .append_batch(vec![
            StreamAppend {
                stream_id: stream("usage"),
                expected: ExpectedVersion::Any,
                events: vec![event(2).with_idempotency_key("u-2")],
            },
            StreamAppend {
                stream_id: stream("inv"),
                expected: ExpectedVersion::NoStream,
                events: vec![event(3)],
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(count(&store).await, 1);
    // The key of the rolled-back event is still free.
    let outcome = store
        .append(
            &stream("usage"),
            ExpectedVersion::Any,
            vec![event(2).with_idempotency_key("u-2")],
        )
        .await
        .unwrap();
    assert!(!outcome.results[0].is_duplicate());
}

pub async fn nul_characters_are_refused_on_every_backend(db: &TestDb) {
    let store = db.store();
    let nul_payload = NewEvent::new("Tested", 1, json!({"s": "a\u{0}b"}), t0());
    let nul_metadata = event(1).with_metadata(EventMetadata {
        actor: Some("x\u{0}".into()),
        ..EventMetadata::default()
    });
    for bad in [nul_payload, nul_metadata] {
        let err = store
            .append(&stream("nul"), ExpectedVersion::Any, vec![bad])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidEvent { index: 0, .. }),
            "{err:?}"
        );
    }
    assert_eq!(count(&store).await, 0);
}

pub async fn audit_reads_filter_by_org_type_and_time_and_paginate_both_ways(db: &TestDb) {
    let store = db.store();
    // 30 events for org-a (alternating types, one per hour), 5 for org-b.
    let mut a_events = Vec::new();
    for n in 0..30u64 {
        let kind = if n % 3 == 0 {
            "ChargeAdded"
        } else {
            "UsageRecorded"
        };
        a_events.push(
            NewEvent::new(
                kind,
                1,
                json!({"n": n, "parity": if n % 2 == 0 { "even" } else { "odd" }}),
                t0() + Duration::hours(n as i64),
            )
            .with_org("org-a"),
        );
    }
    let b_events = (0..5)
        .map(|n| NewEvent::new("UsageRecorded", 1, json!({"n": n}), t0()).with_org("org-b"))
        .collect();
    let outcomes = store
        .append_batch(vec![
            StreamAppend {
                stream_id: stream("usage-org-a"),
                expected: ExpectedVersion::Any,
                events: a_events,
            },
            StreamAppend {
                stream_id: stream("usage-org-b"),
                expected: ExpectedVersion::Any,
                events: b_events,
            },
        ])
        .await
        .unwrap();
    let first_a = outcomes[0].results[0].global_position();

    let walk = |query: AuditQuery| {
        let store = store.clone();
        async move {
            let mut query = query;
            let mut seen = Vec::new();
            loop {
                let page = store.read_audit(&query).await.unwrap();
                assert!(page.items.len() <= query.limit as usize);
                seen.extend(page.items.iter().map(|e| e.payload["n"].as_u64().unwrap()));
                match page.next_cursor {
                    Some(c) => query.cursor = Some(c),
                    None => break seen,
                }
            }
        }
    };
    let all = walk(AuditQuery {
        org_id: "org-a".into(),
        limit: 7,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(all, (0..30).collect::<Vec<_>>());

    let newest_first = walk(AuditQuery {
        org_id: "org-a".into(),
        limit: 4,
        direction: Direction::Backward,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(newest_first, (0..30).rev().collect::<Vec<_>>());

    let charges_in_window = walk(AuditQuery {
        org_id: "org-a".into(),
        event_types: vec!["ChargeAdded".into()],
        occurred_from: Some(t0() + Duration::hours(3)),
        occurred_to: Some(t0() + Duration::hours(12)),
        limit: 2,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(charges_in_window, vec![3, 6, 9]);

    let window = walk(AuditQuery {
        org_id: "org-a".into(),
        min_position: Some(first_a + 4),
        max_position: Some(first_a + 10),
        limit: 3,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(window, (5..=10).collect::<Vec<_>>());

    let by_payload = walk(AuditQuery {
        org_id: "org-a".into(),
        payload_equals: vec![("n".into(), vec!["4".into(), "7".into()])],
        limit: 10,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(by_payload, vec![4, 7], "fields compare by their text form");
    let by_parity = walk(AuditQuery {
        org_id: "org-a".into(),
        payload_equals: vec![("parity".into(), vec!["odd".into()])],
        event_types: vec!["UsageRecorded".into()],
        limit: 4,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(by_parity, vec![1, 5, 7, 11, 13, 17, 19, 23, 25, 29]);

    let bad_field = store
        .read_audit(&AuditQuery {
            org_id: "org-a".into(),
            payload_equals: vec![("n') OR 1=1 --".into(), vec![])],
            limit: 1,
            ..AuditQuery::default()
        })
        .await;
    assert!(matches!(bad_field, Err(StoreError::InvalidQuery(_))));

    let nobody = store
        .read_audit(&AuditQuery {
            org_id: "org-z".into(),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.next_cursor.is_none());
}

pub async fn event_by_id_and_head_position(db: &TestDb) {
    let store = db.store();
    assert_eq!(store.head_position().await.unwrap(), 0);
    let e = event(7);
    let outcome = store
        .append(
            &stream("one"),
            ExpectedVersion::Any,
            vec![e.clone(), event(8)],
        )
        .await
        .unwrap();
    let found = store.event_by_id(e.event_id).await.unwrap().unwrap();
    assert_eq!(found.global_position, outcome.results[0].global_position());
    assert_eq!(
        store.head_position().await.unwrap(),
        outcome.results[1].global_position()
    );
    assert!(store
        .event_by_id(uuid::Uuid::now_v7())
        .await
        .unwrap()
        .is_none());
}

pub async fn typed_domain_events_round_trip_through_the_store(db: &TestDb) {
    let store = db.store();
    let org = OrgId::new("org-typed").unwrap();
    let usage = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: "cpu_seconds".into(),
        quantity: "12.000000000001".parse().unwrap(),
        window: None,
        source: "flyd".into(),
        attributes: [("app".to_owned(), "web".to_owned())].into(),
    });
    let new = NewEvent::from_domain(&usage, t0()).unwrap();
    assert_eq!(new.org_id.as_deref(), Some("org-typed"));
    store
        .append(&StreamId::usage(&org), ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
    let read = store
        .read_stream(&StreamId::usage(&org), 1, 1)
        .await
        .unwrap();
    assert_eq!(read[0].event_type, "UsageRecorded");
    assert_eq!(read[0].decode().unwrap(), usage);
    let seen: HashSet<_> = read.iter().map(|e| e.event_id).collect();
    assert_eq!(seen.len(), 1);
}

pub async fn replay_page_returns_typed_events_in_order_and_refuses_unknown_types(db: &TestDb) {
    let store = db.store();
    let org = OrgId::new("org-replay").unwrap();
    let usage = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: "cpu_seconds".into(),
        quantity: "1.5".parse().unwrap(),
        window: None,
        source: "test".into(),
        attributes: Default::default(),
    });
    let events: Vec<NewEvent> = (0..5)
        .map(|n| NewEvent::from_domain(&usage, t0() + Duration::seconds(n)).unwrap())
        .collect();
    let outcome = store
        .append(&StreamId::usage(&org), ExpectedVersion::Any, events.clone())
        .await
        .unwrap();
    let page = store.replay_page(0, i64::MAX, 3).await.unwrap();
    assert_eq!(page.len(), 3);
    let rest = store
        .replay_page(page[2].global_position, i64::MAX, 100)
        .await
        .unwrap();
    fn read<'a>(events: impl IntoIterator<Item = &'a ledger::ReplayedEvent>) -> Vec<i64> {
        events.into_iter().map(|e| e.global_position).collect()
    }
    let all: Vec<_> = page.iter().chain(&rest).collect();
    let stored = positions(&outcome.results);
    assert_eq!(read(all.iter().copied()), stored);
    // Bounded on both sides: `through` is inclusive, and the limit still
    // applies within the range.
    let bounded = store.replay_page(stored[0], stored[3], 100).await.unwrap();
    assert_eq!(read(&bounded), stored[1..=3]);
    let limited = store.replay_page(stored[0], stored[4], 2).await.unwrap();
    assert_eq!(read(&limited), stored[1..=2]);
    assert!(store
        .replay_page(stored[4], stored[4], 100)
        .await
        .unwrap()
        .is_empty());
    for (replayed, sent) in all.iter().zip(&events) {
        assert_eq!(replayed.event, usage);
        assert_eq!(replayed.occurred_at, sent.occurred_at);
        assert_eq!(replayed.org_id.as_deref(), Some("org-replay"));
    }
    store
        .append(&stream("other"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let err = store.replay_page(0, i64::MAX, 100).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("unknown event type `Tested`")),
        "{err:?}"
    );
}

pub async fn read_only_handle_reads_everything_and_writes_nothing(db: &TestDb) {
    let store = db.store();
    store
        .append(&stream("replica"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let replica = Database::connect_read_only(&db.url).await.unwrap();
    replica.check_schema().await.unwrap();
    let read = replica.event_store();
    assert_eq!(read.read_all(0, 10).await.unwrap().len(), 1);
    assert_eq!(read.head_position().await.unwrap(), 1);
    let refused = read
        .append(&stream("replica"), ExpectedVersion::Any, vec![event(2)])
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly), "{refused}");
    // The server refuses writes that bypass the store as well.
    let bypass = replica
        .query("INSERT INTO projection_checkpoint (projection_name, generation, position, updated_at) VALUES ('x', 1, 1, '2026-01-01T00:00:00.000000Z')")
        .execute()
        .await;
    assert!(bypass.is_err(), "a read-only handle wrote a row");
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

pub async fn schema_check_names_both_versions_when_they_differ(db: &TestDb) {
    db.db.check_schema().await.unwrap();
    let expected = db.db.expected_schema_version();
    db.db
        .query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(expected)
        .execute()
        .await
        .unwrap();
    let err = db.db.check_schema().await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, StoreError::SchemaMismatch { found: Some(found), expected: e } if found < e && e == expected),
        "{message}"
    );
    assert!(message.contains(&expected.to_string()), "{message}");
}

/// Concurrent appends commit together (a group commit); appends to one
/// stream racing each other still get consecutive, distinct versions, and
/// each caller's own events keep their order.
pub async fn racing_appends_to_one_stream_get_consecutive_versions(db: &TestDb) {
    let store = db.store();
    let s = stream("usage-race");
    let outcomes = join_all((0..16u64).map(|n| {
        let store = store.clone();
        let s = s.clone();
        async move {
            let events = (0..3).map(|i| event(n * 10 + i)).collect();
            store
                .append(&s, ExpectedVersion::Any, events)
                .await
                .unwrap()
        }
    }))
    .await;
    let mut versions = Vec::new();
    for outcome in &outcomes {
        let own: Vec<i64> = outcome
            .results
            .iter()
            .map(|r| match r {
                AppendResult::Appended { stream_version, .. } => *stream_version,
                other => panic!("nothing here is a duplicate: {other:?}"),
            })
            .collect();
        assert_eq!(own, vec![own[0], own[0] + 1, own[0] + 2]);
        assert_eq!(outcome.stream_version, own[2]);
        versions.extend(own);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=48).collect::<Vec<i64>>());
    assert_eq!(store.stream_version(&s).await.unwrap(), 48);
}

/// When racing appends share a commit and the database refuses one of
/// them (an event id already stored), that one fails alone and the others
/// are stored.
pub async fn a_racing_append_the_database_refuses_fails_alone(db: &TestDb) {
    let store = db.store();
    let stored = event(0);
    store
        .append(&stream("first"), ExpectedVersion::Any, vec![stored.clone()])
        .await
        .unwrap();
    for round in 0..5u64 {
        let attempts = join_all((0..8u64).map(|n| {
            let store = store.clone();
            let mut fresh = event(round * 100 + n + 1);
            if n == 3 {
                fresh.event_id = stored.event_id;
            }
            async move {
                let s = stream(&format!("racer-{round}-{n}"));
                (n, store.append(&s, ExpectedVersion::Any, vec![fresh]).await)
            }
        }))
        .await;
        for (n, result) in attempts {
            match (n, result) {
                (3, Err(StoreError::UniqueViolation { .. })) => {}
                (3, other) => panic!("the reused event id must be refused: {other:?}"),
                (_, Ok(outcome)) => assert!(!outcome.results[0].is_duplicate()),
                (n, Err(e)) => panic!("racer {n} must not suffer for another's fault: {e}"),
            }
        }
    }
    assert_eq!(count(&store).await, 1 + 5 * 7);
}

/// A writer that gives up while its transaction begins (a request its
/// client dropped, an aborted task) leaves no transaction open behind it:
/// each next append gets in at once. sqlx's SQLite `begin_with` has a
/// moment, after `BEGIN IMMEDIATE` ran and before its `Transaction`
/// exists, where a dropped future leaves the connection inside the
/// transaction and returns it to the pool holding the write lock.
pub async fn a_write_abandoned_while_it_begins_leaves_no_transaction_open(db: &TestDb) {
    let store = db.store();
    const TRIES: u64 = 1_000;
    for i in 0..TRIES {
        // Give up after a varying moment, before, during and after BEGIN:
        // after `i % 200` turns of the scheduler (timers are too coarse).
        tokio::select! {
            biased;
            _ = db.db.begin_write() => {}
            () = async {
                for _ in 0..i % 200 {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
        let appended = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.append(&stream("abandoned"), ExpectedVersion::Any, vec![event(i)]),
        )
        .await;
        assert!(
            matches!(appended, Ok(Ok(_))),
            "append after abandoned begin {i}: {appended:?}"
        );
    }
    assert_eq!(count(&store).await, TRIES as usize);
}

/// A batch larger than one insert statement (SQLite inserts in chunks)
/// keeps its order: positions follow the batch, each stream's versions
/// run on without a gap, and every event reads back as written.
pub async fn a_batch_larger_than_one_insert_statement_keeps_its_order(db: &TestDb) {
    let store = db.store();
    const EVENTS: u64 = 1_234;
    let streams = ["big-a", "big-b", "big-c"];
    let appends = streams
        .iter()
        .enumerate()
        .map(|(s, name)| StreamAppend {
            stream_id: stream(name),
            expected: ExpectedVersion::NoStream,
            events: (0..EVENTS)
                .filter(|n| n % 3 == s as u64)
                .map(|n| event(n).with_idempotency_key(format!("big-{n}")))
                .collect(),
        })
        .collect();
    let outcomes = store.append_batch(appends).await.unwrap();
    let positions: Vec<i64> = outcomes
        .iter()
        .flat_map(|o| positions(&o.results))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions follow the batch"
    );
    let all = store.read_all(0, 10_000).await.unwrap();
    assert_eq!(all.len(), EVENTS as usize);
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        positions
    );
    for (s, name) in streams.iter().enumerate() {
        let read = store.read_stream(&stream(name), 1, 10_000).await.unwrap();
        let expected: Vec<u64> = (0..EVENTS).filter(|n| n % 3 == s as u64).collect();
        assert_eq!(
            read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
            (1..=expected.len() as i64).collect::<Vec<_>>()
        );
        for (e, n) in read.iter().zip(&expected) {
            assert_eq!(e.payload, event(*n).payload.to_value().unwrap());
            assert_eq!(
                e.idempotency_key.as_deref(),
                Some(format!("big-{n}").as_str())
            );
            assert_eq!(e.occurred_at, event(*n).occurred_at);
        }
    }
}

/// Keyed events per batch in the cases below: a client's bulk upload, the
/// shape where looking keys up costs the most (and where a store tempted
/// to skip the lookup, inserting first, must still get these right).
const LARGE: u64 = 150;

fn large_batch(prefix: &str) -> Vec<NewEvent> {
    (0..LARGE)
        .map(|n| event(n).with_idempotency_key(format!("{prefix}-{n}")))
        .collect()
}

/// A large batch holding one key that is already stored: that event is
/// reported as the stored one's duplicate, the rest are stored with
/// gapless versions after it.
pub async fn a_large_batch_with_one_stored_key_stores_the_rest(db: &TestDb) {
    let store = db.store();
    let s = stream("large");
    let stored = store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![event(10_000).with_idempotency_key("large-17")],
        )
        .await
        .unwrap();
    let outcome = store
        .append(&s, ExpectedVersion::Exact(1), large_batch("large"))
        .await
        .unwrap();
    for (n, result) in outcome.results.iter().enumerate() {
        assert_eq!(result.is_duplicate(), n == 17, "event {n}: {result:?}");
    }
    assert_eq!(
        outcome.results[17].global_position(),
        stored.results[0].global_position()
    );
    assert_eq!(outcome.stream_version, LARGE as i64);
    let read = store.read_stream(&s, 1, 1_000).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=LARGE as i64).collect::<Vec<_>>()
    );
    assert_eq!(count(&store).await, LARGE as usize);
}

/// A large batch retried whole (the same event ids and keys) stores
/// nothing and reports every event as the first attempt's duplicate:
/// with an expectation that no longer holds, and with none at all.
pub async fn a_large_retried_batch_is_all_duplicates_whatever_its_expectation(db: &TestDb) {
    let store = db.store();
    let s = stream("large-retry");
    let events = large_batch("retry");
    let first = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Any] {
        let retry = store.append(&s, expected, events.clone()).await.unwrap();
        assert!(
            retry.results.iter().all(AppendResult::is_duplicate),
            "{expected:?}"
        );
        assert_eq!(positions(&retry.results), positions(&first.results));
        assert_eq!(retry.stream_version, LARGE as i64);
    }
    assert_eq!(count(&store).await, LARGE as usize);
}

/// Eight callers racing the same large batch, each with its own event ids
/// and stream, store it once between them: one caller stores all of it,
/// the others (in its group commit or after it) get its positions back.
pub async fn racing_large_batches_with_the_same_keys_store_them_once(db: &TestDb) {
    let store = db.store();
    let attempts = join_all((0..8).map(|caller| {
        let store = store.clone();
        async move {
            store
                .append(
                    &stream(&format!("large-racer-{caller}")),
                    ExpectedVersion::Any,
                    large_batch("race"),
                )
                .await
                .unwrap()
        }
    }))
    .await;
    let storers: Vec<_> = attempts
        .iter()
        .filter(|o| o.results.iter().any(|r| !r.is_duplicate()))
        .collect();
    assert_eq!(storers.len(), 1, "exactly one caller stores the batch");
    assert!(storers[0].results.iter().all(|r| !r.is_duplicate()));
    let winner = positions(&storers[0].results);
    for outcome in &attempts {
        assert_eq!(positions(&outcome.results), winner);
    }
    assert_eq!(count(&store).await, LARGE as usize);
}

/// `JsonText` is a stored document's text, unparsed: JSONB's binary form
/// on PostgreSQL (a version byte and the text), plain `json` there (the
/// text alone), and SQLite's text column — escapes and non-ASCII intact.
pub async fn json_text_reads_a_stored_document_as_its_text(db: &TestDb) {
    let store = db.store();
    let payload =
        json!({"note": "tab\t, quote \", backslash \\, snowman \u{2603}, crab \u{1F980}", "n": 1});
    let mut e = event(1);
    e.payload = payload.clone().into();
    store
        .append(&stream("text"), ExpectedVersion::Any, vec![e])
        .await
        .unwrap();
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let (stored,): (ledger::db::JsonText,) = db
        .db
        .query_as("SELECT payload FROM event")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(parse(&stored.0), payload);
    if let Some(pool) = db.db.postgres_pool() {
        let (json,): (ledger::db::JsonText,) = sqlx::query_as("SELECT payload::json FROM event")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(parse(&json.0), payload);
        assert!(
            !json.0.starts_with('\u{1}'),
            "no version byte on plain json"
        );
        // A text column is not JSON: refused, not misread.
        let text: Result<(ledger::db::JsonText,), _> =
            sqlx::query_as("SELECT payload::text FROM event")
                .fetch_one(pool)
                .await;
        assert!(text.is_err(), "a text column is not read as JsonText");
    }
}

/// A page longer than the replay's decode chunk (1,000 rows) comes back
/// whole and in order, and an undecodable event past the first chunk is
/// still reported, by its position.
pub async fn a_replay_page_of_several_decode_chunks_keeps_order_and_reports_corruption(
    db: &TestDb,
) {
    let store = db.store();
    let org = OrgId::new("org-chunks").unwrap();
    let usage = |n: i64| {
        let event = LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org.clone(),
            meter: "cpu_seconds".into(),
            quantity: n.to_string().parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        });
        NewEvent::from_domain(&event, t0() + Duration::seconds(n)).unwrap()
    };
    let events: Vec<NewEvent> = (1..=2_500).map(usage).collect();
    let outcome = store
        .append(&StreamId::usage(&org), ExpectedVersion::Any, events)
        .await
        .unwrap();
    let page = store.replay_page(0, i64::MAX, 10_000).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        positions(&outcome.results)
    );
    for (n, replayed) in (1..=2_500).zip(&page) {
        let LedgerEvent::UsageRecorded(u) = &replayed.event else {
            panic!("event {n} replayed as {:?}", replayed.event);
        };
        assert_eq!(
            u.quantity.value(),
            rust_decimal::Decimal::from(n),
            "event {n}"
        );
    }
    let bad = store
        .append(&stream("other"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let bad_position = bad.results[0].global_position();
    store
        .append(
            &StreamId::usage(&org),
            ExpectedVersion::Any,
            vec![usage(2_501)],
        )
        .await
        .unwrap();
    let err = store.replay_page(0, i64::MAX, 10_000).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains(&format!("position {bad_position}"))),
        "{err:?}"
    );
}

/// A replay page reads every column as stored — a catalog event with no
/// organization, text that needs escaping or is not ASCII, microseconds —
/// exactly as the full read decodes it, but for a usage event's attributes,
/// which no fold reads: they are left out.
pub async fn a_replay_page_decodes_every_column_as_the_full_read_does(db: &TestDb) {
    use ledger::event::{OrganizationCreated, PriceSet};
    use ledger::money::Currency;
    use ledger::pricing::PriceSpec;
    let store = db.store();
    let org = OrgId::new("org-zürich").unwrap();
    let at = t0() + Duration::microseconds(123_457);
    let spec: PriceSpec =
        serde_json::from_value(json!({"model": {"type": "per_unit", "unit_price": "0.0000022"}}))
            .unwrap();
    let price = LedgerEvent::PriceSet(PriceSet {
        price_id: "price-cpu".into(),
        meter: "cpu_seconds".into(),
        currency: Currency::USD,
        unit: "CPU-second".into(),
        description: "tab\there, \"quoted\", back\\slash, newline\n, NUL-free ☃".into(),
        spec,
        effective_from: t0(),
    });
    let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
        org_id: org.clone(),
        name: "Zürich 東京 \u{1F680} \\\"".into(),
        currency: Currency::EUR,
        billing_anchor: t0(),
        stripe_customer_id: Some("cus_Ω".into()),
    });
    let usage = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: "cpu_seconds".into(),
        quantity: "0.000001".parse().unwrap(),
        window: None,
        source: "flyd".into(),
        attributes: [("région".to_owned(), "cdg\u{7f}".to_owned())].into(),
    });
    for (stream, event) in [
        (StreamId::catalog(), &price),
        (StreamId::organization(&org), &created),
        (StreamId::usage(&org), &usage),
    ] {
        store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::from_domain(event, at).unwrap()],
            )
            .await
            .unwrap();
    }
    let replayed = store.replay_page(0, i64::MAX, 100).await.unwrap();
    let read = store.read_all(0, 100).await.unwrap();
    assert_eq!(replayed.len(), 3);
    for (r, full) in replayed.iter().zip(&read) {
        assert_eq!(r.global_position, full.global_position);
        assert_eq!(r.occurred_at, full.occurred_at);
        assert_eq!(r.occurred_at, at, "microseconds kept");
        assert_eq!(r.org_id, full.org_id);
        let mut decoded = full.decode().unwrap();
        if let LedgerEvent::UsageRecorded(u) = &mut decoded {
            assert!(!u.attributes.is_empty(), "the full read keeps them");
            u.attributes.clear();
        }
        assert_eq!(r.event, decoded);
    }
    assert_eq!(
        replayed[0].org_id, None,
        "a catalog event has no organization"
    );
    let LedgerEvent::UsageRecorded(mut folded) = usage else {
        unreachable!("a usage event")
    };
    folded.attributes.clear();
    assert_eq!(
        [&replayed[0].event, &replayed[1].event, &replayed[2].event],
        [&price, &created, &LedgerEvent::UsageRecorded(folded)]
    );
}

/// Times are kept to the microsecond, rounded down, on both backends alike:
/// also before 1970 and before PostgreSQL's epoch (2000), where rounding
/// toward zero and rounding down differ.
pub async fn times_keep_microseconds_rounded_down_before_and_after_both_epochs(db: &TestDb) {
    let store = db.store();
    let s = stream("times");
    let times: Vec<DateTime<Utc>> = [
        "1969-12-31T23:59:59.999999999Z",
        "1999-12-31T23:59:59.000000500Z",
        "2000-01-01T00:00:00.000000999Z",
        "2026-12-03T10:11:12.123456789Z",
    ]
    .iter()
    .map(|t| t.parse().unwrap())
    .collect();
    let events = times
        .iter()
        .enumerate()
        .map(|(n, at)| NewEvent::new("Tested", 1, json!({"n": n}), *at))
        .collect();
    store
        .append(&s, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let read: Vec<String> = store
        .read_stream(&s, 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| {
            e.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .collect();
    assert_eq!(
        read,
        [
            "1969-12-31T23:59:59.999999Z",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:00:00Z",
            "2026-12-03T10:11:12.123456Z",
        ]
    );
}

/// Large batches, a retry of a stored one with a stale expectation, and a
/// keyless append with a stale one, racing (so some of them commit as one
/// group, which first plans as if none of its keys were stored): each
/// caller gets the outcome it would get alone — stored, all duplicates,
/// a conflict, stored.
pub async fn racing_large_retried_and_stale_appends_each_get_their_own_outcome(db: &TestDb) {
    let store = db.store();
    for round in 0..8 {
        let retried = stream(&format!("retried-{round}"));
        let first = store
            .append(
                &retried,
                ExpectedVersion::NoStream,
                large_batch(&format!("stored-{round}")),
            )
            .await
            .unwrap();
        let keyless = stream(&format!("keyless-{round}"));
        store
            .append(&keyless, ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();
        let fresh = stream(&format!("fresh-{round}"));
        let (new, retry, stale, any) = tokio::join!(
            store.append(
                &fresh,
                ExpectedVersion::NoStream,
                large_batch(&format!("fresh-{round}")),
            ),
            store.append(
                &retried,
                ExpectedVersion::NoStream,
                large_batch(&format!("stored-{round}")),
            ),
            store.append(&keyless, ExpectedVersion::NoStream, vec![event(2)]),
            store.append(&keyless, ExpectedVersion::Any, vec![event(3)]),
        );
        let new = new.unwrap();
        assert!(
            new.results.iter().all(|r| !r.is_duplicate()),
            "round {round}"
        );
        assert_eq!(new.stream_version, LARGE as i64);
        let retry = retry.unwrap();
        assert!(retry.results.iter().all(AppendResult::is_duplicate));
        assert_eq!(positions(&retry.results), positions(&first.results));
        assert!(
            matches!(stale, Err(StoreError::Conflict { .. })),
            "round {round}: {stale:?}"
        );
        assert!(!any.unwrap().results[0].is_duplicate());
        assert_eq!(store.stream_version(&keyless).await.unwrap(), 2);
    }
    assert_eq!(count(&store).await, 8 * (2 * LARGE as usize + 2));
}

/// Two processes (two database handles) appending large batches to the
/// same stream. Each remembers the versions its commits saw and guesses
/// with them, but the other may have written since: versions stay
/// gapless, an expected version that is right is accepted however stale
/// the memory, a wrong one is a conflict that writes nothing, and every
/// version reported is the stored one.
pub async fn two_processes_appending_to_one_stream_never_trust_a_remembered_version(db: &TestDb) {
    let a = db.store();
    let b = Database::connect(&db.url).await.unwrap().event_store();
    let s = stream("shared");
    let n = LARGE as i64;
    let first = |outcome: &ledger::AppendOutcome| match outcome.results[0] {
        AppendResult::Appended { stream_version, .. } => stream_version,
        ref other => panic!("expected an appended event, got {other:?}"),
    };

    let one = a
        .append(&s, ExpectedVersion::Any, large_batch("a1"))
        .await
        .unwrap();
    assert_eq!((first(&one), one.stream_version), (1, n));
    let two = b
        .append(&s, ExpectedVersion::Any, large_batch("b1"))
        .await
        .unwrap();
    assert_eq!((first(&two), two.stream_version), (n + 1, 2 * n));
    // `a` saw version n; the stream is at 2n.
    let three = a
        .append(&s, ExpectedVersion::Any, large_batch("a2"))
        .await
        .unwrap();
    assert_eq!((first(&three), three.stream_version), (2 * n + 1, 3 * n));
    // `b` saw 2n; expecting the true 3n is no conflict.
    let four = b
        .append(&s, ExpectedVersion::Exact(3 * n), large_batch("b2"))
        .await
        .unwrap();
    assert_eq!((first(&four), four.stream_version), (3 * n + 1, 4 * n));
    // `a` saw 3n, which is what it expects, but the stream is at 4n.
    match a
        .append(&s, ExpectedVersion::Exact(3 * n), large_batch("a3"))
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, 4 * n),
        other => panic!("a stale expectation must conflict, got {other:?}"),
    }
    // A stream the batch writes nothing to (no expectation is checked
    // there) is reported at its stored version, not the remembered one.
    let other = stream("shared-beside");
    let beside = a
        .append_batch(vec![
            StreamAppend {
                stream_id: s.clone(),
                expected: ExpectedVersion::Exact(3 * n),
                events: Vec::new(),
            },
            StreamAppend {
                stream_id: other.clone(),
                expected: ExpectedVersion::Any,
                events: large_batch("beside"),
            },
        ])
        .await
        .unwrap();
    let reported: Vec<_> = beside.iter().map(|o| o.stream_version).collect();
    assert_eq!(reported, [4 * n, n]);

    assert_eq!(
        stored_versions(&a, &s).await,
        (1..=4 * n).collect::<Vec<_>>()
    );
}
