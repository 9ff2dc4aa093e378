//! The alerter on both backends: a crossing is recorded once, whatever
//! re-reads, rebuilds or racing alerters do; a correction resolves it.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use ledger::event::*;
use ledger::money::Currency;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use notifications::alerter::{Alerter, Outcome};
use testkit::TestDb;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(testkit::postgres().await).await; }
        )+ }
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(testkit::sqlite().await).await; }
        )+ }
    };
}

both_backends!(
    crossing_a_threshold_is_recorded_once_however_often_the_feed_is_read_or_rebuilt,
    a_void_taking_spend_below_a_threshold_resolves_its_alert_once,
    two_racing_alerters_record_each_alert_once,
);

/// Round 3: re-crossings, budget changes and the feed's page ends.
#[path = "alerter/round3.rs"]
mod round3;

fn org() -> OrgId {
    OrgId::new("acme").unwrap()
}

async fn append(
    db: &TestDb,
    stream: StreamId,
    event: LedgerEvent,
    at: DateTime<Utc>,
) -> uuid::Uuid {
    let new = NewEvent::from_domain(&event, at).unwrap();
    let outcome = db
        .store()
        .append(&stream, ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
    let position = outcome.results[0].global_position();
    db.store().read_all(position - 1, 1).await.unwrap()[0].event_id
}

/// `acme` (USD, anchored 5 days ago), a $1 per-unit price and a $100
/// budget alerting at 50 and 100 percent.
async fn world(db: &TestDb) -> DateTime<Utc> {
    let now = Utc::now();
    let anchor = (now - Duration::days(5))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let spec = serde_json::from_value(
        serde_json::json!({"model": {"type": "per_unit", "unit_price": "1"}}),
    )
    .unwrap();
    append(
        db,
        StreamId::catalog(),
        LedgerEvent::PriceSet(PriceSet {
            price_id: "cpu".into(),
            meter: "cpu".into(),
            currency: Currency::USD,
            unit: "second".into(),
            description: "CPU".into(),
            spec,
            effective_from: anchor - Duration::days(30),
        }),
        anchor,
    )
    .await;
    append(
        db,
        StreamId::organization(&org()),
        LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org(),
            name: "Acme".into(),
            currency: Currency::USD,
            billing_anchor: anchor,
            stripe_customer_id: None,
        }),
        anchor,
    )
    .await;
    append(
        db,
        StreamId::budget(&org()),
        LedgerEvent::BudgetSet(BudgetSet {
            org_id: org(),
            version: 1,
            amount: "100".parse().unwrap(),
            currency: Currency::USD,
            thresholds: vec![
                BudgetThreshold::Percent(50.into()),
                BudgetThreshold::Percent(100.into()),
            ],
        }),
        anchor,
    )
    .await;
    now
}

async fn usage(db: &TestDb, quantity: &str, at: DateTime<Utc>) -> uuid::Uuid {
    append(
        db,
        StreamId::usage(&org()),
        LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org(),
            meter: "cpu".into(),
            quantity: quantity.parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        }),
        at,
    )
    .await
}

async fn fold(db: &TestDb) {
    projections::projector_for(&db.db).catch_up().await.unwrap();
}

/// The alert facts of `acme`: (fact, threshold label, kind).
async fn alerts(db: &TestDb) -> Vec<(String, String, AlertKind)> {
    let events = db
        .store()
        .read_stream(&StreamId::alerts(&org()), 1, 1_000)
        .await
        .unwrap();
    events
        .iter()
        .map(|e| match e.decode().unwrap() {
            LedgerEvent::AlertTriggered(a) => ("triggered".to_owned(), a.threshold.label(), a.kind),
            LedgerEvent::AlertResolved(a) => ("resolved".to_owned(), a.threshold.label(), a.kind),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn actual(alerts: &[(String, String, AlertKind)]) -> Vec<(String, String)> {
    alerts
        .iter()
        .filter(|(_, _, k)| *k == AlertKind::Actual)
        .map(|(f, l, _)| (f.clone(), l.clone()))
        .collect()
}

fn pair(fact: &str, label: &str) -> (String, String) {
    (fact.to_owned(), label.to_owned())
}

async fn crossing_a_threshold_is_recorded_once_however_often_the_feed_is_read_or_rebuilt(
    db: TestDb,
) {
    let now = world(&db).await;
    usage(&db, "40", now).await;
    fold(&db).await;
    let alerter = Alerter::new(&db.db);
    alerter.run_until_idle(now).await.unwrap();
    assert!(actual(&alerts(&db).await).is_empty());

    usage(&db, "20", now).await;
    fold(&db).await;
    // Within one projection batch: the step after the fold records it.
    assert!(matches!(
        alerter.step(now).await.unwrap(),
        Outcome::Worked { .. }
    ));
    assert_eq!(actual(&alerts(&db).await), [pair("triggered", "50%")]);
    let recorded = alerts(&db).await.len();

    // Read again, rebuilt, cursor lost: nothing twice.
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    projections::rebuild::rebuild(db.store(), projections::tables_for(&db.db), &|_, _| {})
        .await
        .unwrap();
    alerter.run_until_idle(now).await.unwrap();
    db.db
        .query("UPDATE notification_cursor SET position = 0 WHERE cursor_name = 'alerter'")
        .execute()
        .await
        .unwrap();
    Alerter::new(&db.db).run_until_idle(now).await.unwrap();
    assert_eq!(alerts(&db).await.len(), recorded);

    usage(&db, "50", now).await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(
        actual(&alerts(&db).await),
        [pair("triggered", "50%"), pair("triggered", "100%")]
    );
}

async fn a_void_taking_spend_below_a_threshold_resolves_its_alert_once(db: TestDb) {
    let now = world(&db).await;
    usage(&db, "30", now).await;
    let big = usage(&db, "30", now).await;
    fold(&db).await;
    let alerter = Alerter::new(&db.db);
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(actual(&alerts(&db).await), [pair("triggered", "50%")]);
    append(
        &db,
        StreamId::usage(&org()),
        LedgerEvent::UsageVoided(UsageVoided {
            org_id: org(),
            usage_event_id: big,
            meter: "cpu".into(),
            usage_occurred_at: now,
            previous_quantity: "30".parse().unwrap(),
            reason: "duplicate".into(),
        }),
        now,
    )
    .await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(
        actual(&alerts(&db).await),
        [pair("triggered", "50%"), pair("resolved", "50%")]
    );
    // Crossing again in the same period and budget version is a new
    // crossing (recrossing.rs tests that in depth).
    usage(&db, "30", now).await;
    fold(&db).await;
    alerter.run_until_idle(now).await.unwrap();
    assert_eq!(
        actual(&alerts(&db).await),
        [
            pair("triggered", "50%"),
            pair("resolved", "50%"),
            pair("triggered", "50%")
        ]
    );
}

async fn two_racing_alerters_record_each_alert_once(db: TestDb) {
    let now = world(&db).await;
    for _ in 0..12 {
        usage(&db, "10", now).await;
    }
    fold(&db).await;
    let db = Arc::new(db);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            Alerter::new(&db.db).run_until_idle(now).await.unwrap()
        }));
    }
    let mut appended = 0;
    for task in tasks {
        appended += task.await.unwrap();
    }
    let alerts = alerts(&db).await;
    assert_eq!(appended, alerts.len());
    assert_eq!(
        actual(&alerts),
        [pair("triggered", "50%"), pair("triggered", "100%")]
    );
    let mut unique = alerts.clone();
    unique.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    unique.dedup();
    assert_eq!(unique.len(), alerts.len());
}
