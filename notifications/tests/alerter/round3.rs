//! Round 3 of the alerter: a threshold crossed again after a resolve
//! alerts again (once per crossing, whatever replays, rebuilds or killed
//! alerters do); a new budget version alerts without waiting for usage;
//! invoices sharing a position at a page end are not skipped.

use super::*;

both_backends!(
    a_threshold_crossed_again_after_a_resolve_triggers_again_once_per_crossing,
    a_budget_lowered_below_current_spend_alerts_at_the_next_step_without_more_usage,
    invoices_sharing_one_position_across_page_ends_are_all_evaluated,
);

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

async fn budget(db: &TestDb, org: &OrgId, version: i64, amount: &str, at: DateTime<Utc>) {
    append(
        db,
        StreamId::budget(org),
        LedgerEvent::BudgetSet(BudgetSet {
            org_id: org.clone(),
            version,
            amount: amount.parse().unwrap(),
            currency: Currency::USD,
            thresholds: vec![BudgetThreshold::Percent(50.into())],
        }),
        at,
    )
    .await;
}

/// (fact, threshold, budget version) of `acme`'s actual-spend alerts.
async fn versions(db: &TestDb) -> Vec<(String, String, i64)> {
    db.store()
        .read_stream(&StreamId::alerts(&org()), 1, 1_000)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            LedgerEvent::AlertTriggered(a) if a.kind == AlertKind::Actual => Some((
                "triggered".to_owned(),
                a.threshold.label(),
                a.budget_version,
            )),
            LedgerEvent::AlertResolved(a) if a.kind == AlertKind::Actual => {
                Some(("resolved".to_owned(), a.threshold.label(), a.budget_version))
            }
            _ => None,
        })
        .collect()
}

async fn a_budget_lowered_below_current_spend_alerts_at_the_next_step_without_more_usage(
    db: TestDb,
) {
    let now = world(&db).await;
    usage(&db, "40", now).await;
    fold(&db).await;
    let alerter = Alerter::new(&db.db);
    alerter.run_until_idle(now).await.unwrap();
    assert!(versions(&db).await.is_empty(), "40 of 100 crosses nothing");

    // Lowered to $50: 50 % is $25, crossed by the $40 already spent. No
    // usage, no fold: the alerter's next step sees the budget event.
    budget(&db, &org(), 2, "50", now).await;
    assert!(matches!(
        alerter.step(now).await.unwrap(),
        Outcome::Worked { appended, .. } if appended > 0
    ));
    let expected = vec![("triggered".to_owned(), "50%".to_owned(), 2)];
    assert_eq!(versions(&db).await, expected);

    // Read again from the start: nothing twice.
    db.db
        .query("UPDATE notification_cursor SET position = 0 WHERE cursor_name IN ('alerter', 'alerter_budgets')")
        .execute()
        .await
        .unwrap();
    Alerter::new(&db.db).run_until_idle(now).await.unwrap();
    assert_eq!(versions(&db).await, expected);
}

async fn invoices_sharing_one_position_across_page_ends_are_all_evaluated(db: TestDb) {
    let now = world(&db).await;
    let anchor = (now - Duration::days(5))
        .duration_trunc(Duration::days(1))
        .unwrap();
    // Two open invoices: the previous period (never closed here) and this one.
    usage(&db, "1", anchor - Duration::days(10)).await;
    usage(&db, "1", now).await;
    fold(&db).await;
    let alerter = Alerter::new(&db.db).with_batch(1);
    alerter.run_until_idle(now).await.unwrap();
    assert!(versions(&db).await.is_empty());
    // A subscription back-dated into the previous period re-prices the fee
    // lines of both open invoices with one event: two invoices at one
    // position, more than a page of one.
    append(
        &db,
        StreamId::organization(&org()),
        LedgerEvent::SubscriptionStarted(SubscriptionStarted {
            org_id: org(),
            subscription_id: "sub-1".into(),
            plan: "scale".into(),
            monthly_fee: "300".parse().unwrap(),
            effective_at: anchor - Duration::days(20),
        }),
        now,
    )
    .await;
    fold(&db).await;
    let invoices = projections::tables_for(&db.db)
        .org_invoices(&org())
        .await
        .unwrap();
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    assert_eq!(
        invoices[0].position, invoices[1].position,
        "one event changed both"
    );
    alerter.run_until_idle(now).await.unwrap();
    let periods: std::collections::BTreeSet<_> = db
        .store()
        .read_stream(&StreamId::alerts(&org()), 1, 100)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            LedgerEvent::AlertTriggered(a) if a.kind == AlertKind::Actual => Some(a.period_start),
            _ => None,
        })
        .collect();
    assert_eq!(
        periods.len(),
        2,
        "both invoices were evaluated: {periods:?}"
    );
}
