//! Round 3 of the alerter: a threshold crossed again after a resolve
//! alerts again (once per crossing, whatever replays, rebuilds or killed
//! alerters do); a new budget version alerts without waiting for usage;
//! invoices sharing a position at a page end are not skipped.

use super::*;

both_backends!(a_threshold_crossed_again_after_a_resolve_triggers_again_once_per_crossing,);

async fn credit(db: &TestDb, id: &str, amount: &str, at: DateTime<Utc>) {
    append(
        db,
        StreamId::organization(&org()),
        LedgerEvent::CreditGranted(CreditGranted {
            org_id: org(),
            credit_id: id.into(),
            description: "goodwill".into(),
            amount: amount.parse().unwrap(),
        }),
        at,
    )
    .await;
}

/// The actual-spend facts of the 50 % threshold: (fact, crossing).
async fn fifty(db: &TestDb) -> Vec<(String, u32)> {
    db.store()
        .read_stream(&StreamId::alerts(&org()), 1, 1_000)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            LedgerEvent::AlertTriggered(a)
                if a.kind == AlertKind::Actual && a.threshold.label() == "50%" =>
            {
                Some(("triggered".to_owned(), a.crossing))
            }
            LedgerEvent::AlertResolved(a)
                if a.kind == AlertKind::Actual && a.threshold.label() == "50%" =>
            {
                Some(("resolved".to_owned(), a.crossing))
            }
            _ => None,
        })
        .collect()
}

fn facts(list: &[(&str, u32)]) -> Vec<(String, u32)> {
    list.iter().map(|(f, n)| ((*f).to_owned(), *n)).collect()
}

/// Read the whole feed again from the start, as a lost cursor or an
/// alerter killed after appending and before moving its cursor would.
async fn replay(db: &TestDb, now: DateTime<Utc>) {
    db.db
        .query("UPDATE notification_cursor SET position = 0 WHERE cursor_name = 'alerter'")
        .execute()
        .await
        .unwrap();
    Alerter::new(&db.db).run_until_idle(now).await.unwrap();
}

async fn a_threshold_crossed_again_after_a_resolve_triggers_again_once_per_crossing(db: TestDb) {
    let now = world(&db).await;
    let alerter = Alerter::new(&db.db);
    usage(&db, "60", now).await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(fifty(&db).await, facts(&[("triggered", 1)]));

    // A credit brings spend below 50 %: resolved.
    credit(&db, "c-1", "20", now).await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(
        fifty(&db).await,
        facts(&[("triggered", 1), ("resolved", 1)])
    );

    // More usage crosses it again: a second alert, not silence.
    usage(&db, "20", now).await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    let three = facts(&[("triggered", 1), ("resolved", 1), ("triggered", 2)]);
    assert_eq!(fifty(&db).await, three);

    // Replays, a rebuild and a second alerter add nothing.
    replay(&db, now).await;
    projections::rebuild::rebuild(db.store(), projections::tables_for(&db.db), &|_, _| {})
        .await
        .unwrap();
    Alerter::new(&db.db).run_until_idle(now).await.unwrap();
    replay(&db, now).await;
    assert_eq!(fifty(&db).await, three);

    // Another cycle, each step first tried by alerters killed mid-run,
    // then finished by one, then replayed: each crossing exactly once.
    credit(&db, "c-2", "30", now).await;
    fold(&db).await;
    killed_then_finished(&db, now).await;
    usage(&db, "40", now).await;
    fold(&db).await;
    killed_then_finished(&db, now).await;
    replay(&db, now).await;
    assert_eq!(
        fifty(&db).await,
        facts(&[
            ("triggered", 1),
            ("resolved", 1),
            ("triggered", 2),
            ("resolved", 2),
            ("triggered", 3)
        ])
    );
}

/// Alerters aborted at different points of a run, then one run to the end.
async fn killed_then_finished(db: &TestDb, now: DateTime<Utc>) {
    for yields in 0..4 {
        let doomed = Alerter::new(&db.db);
        let task = tokio::spawn(async move { doomed.run_until_idle(now).await });
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        task.abort();
        let _ = task.await;
    }
    Alerter::new(&db.db).run_until_idle(now).await.unwrap();
}
