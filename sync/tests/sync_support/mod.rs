//! A fresh database, a Stripe fake on port 0 and a sync projector pointed
//! at both; helpers to seed invoices, drive the sync and check that Stripe
//! holds exactly the ledger's invoices.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use stripe_fake::{conformance, FakeConfig, FakeHandle};
use sync::reconcile::{reconcile, ReconcileReport};
use sync::snapshot::{META_INVOICE, META_LINE};
use sync::stripe::{
    ListCustomers, ListInvoices, ListParams, StripeApi, StripeClient, StripeConfig,
};
use sync::{SyncOptions, SyncProjector};
use testkit::TestDb;

pub struct Env {
    pub db: TestDb,
    pub fake: FakeHandle,
    pub api: Arc<dyn StripeApi>,
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub async fn env(backend: Backend, config: FakeConfig) -> Env {
    let db = match backend {
        Backend::Sqlite => testkit::sqlite().await,
        Backend::Postgres => testkit::postgres().await,
    };
    let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
    let fake = stripe_fake::spawn(bind, config).await.expect("fake starts");
    let api = client(&fake, Duration::from_secs(5));
    Env { db, fake, api }
}

pub fn client(fake: &FakeHandle, timeout: Duration) -> Arc<dyn StripeApi> {
    let mut config = StripeConfig::new(fake.base_url(), SecretString::from("sk_test_sync"));
    config.request_timeout = timeout;
    config.connect_timeout = Duration::from_secs(2);
    Arc::new(StripeClient::new(&config).expect("client builds"))
}

/// Fast pacing for tests: no draft publishing, short backoff, quick breaker probes.
pub fn options() -> SyncOptions {
    SyncOptions {
        rate_limit: 1000.0,
        workers: 2,
        draft_cadence: Duration::ZERO,
        poll: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        tries_per_call: 4,
        worker_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
        events_interval: Duration::ZERO,
        // Opens as in production, probes faster.
        breaker: sync::breaker::BreakerConfig {
            probe_interval: Duration::from_millis(200),
            ..sync::breaker::BreakerConfig::default()
        },
    }
}

/// Instantiate each case, an `async fn(Backend)`, once per backend.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::sync_support::Backend::Postgres).await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::sync_support::Backend::Sqlite).await;
                }
            )+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_backends;

/// Fold everything and close every ended period (grace 0), as the
/// pipeline's runner and closer would.
pub async fn project_and_close(db: &ledger::db::Database, now: chrono::DateTime<Utc>) {
    let runner = projections::projector_for(db);
    runner.catch_up().await.expect("fold");
    projections::closer::close_periods(
        db.event_store().as_ref(),
        runner.tables().as_ref(),
        now,
        chrono::Duration::zero(),
    )
    .await
    .expect("close");
    runner.catch_up().await.expect("fold the closes");
}

impl Env {
    pub fn projector(&self, options: SyncOptions) -> SyncProjector {
        SyncProjector::new(self.db.db.clone(), self.api.clone(), options)
    }

    /// `orgs` organizations with usage in a period that has ended and been finalized.
    pub async fn seed_closed(&self, prefix: &str, orgs: usize, events: usize) {
        let now = Utc::now();
        testkit::seed::seed(
            self.db.store().as_ref(),
            prefix,
            orgs,
            events,
            testkit::seed::past_anchor(now),
        )
        .await
        .expect("seed");
        project_and_close(&self.db.db, now).await;
    }

    /// Step the projector until nothing is pending (retries included), or panic.
    pub async fn drain(&self, projector: &SyncProjector) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            projector.run_until_idle().await.expect("sync step");
            let summary = sync::status::summary(&self.db.db).await.expect("summary");
            if summary.final_pending == 0 && summary.retrying == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sync did not drain: {summary:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn reconcile(&self) -> ReconcileReport {
        reconcile(&self.db.db, self.api.as_ref())
            .await
            .expect("reconcile")
    }

    /// Every request the fake saw conforms to Stripe's OpenAPI description.
    pub fn assert_conformance(&self) {
        let requests = self.fake.requests();
        assert!(!requests.is_empty(), "the fake saw no requests");
        assert!(
            requests.iter().all(|r| r.path != "/v1/invoices/search"),
            "the sync must never read back through eventually consistent search"
        );
        if let Err(violations) = conformance::check_all(&requests) {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            panic!(
                "requests that do not conform to Stripe's OpenAPI:\n{}",
                list.join("\n")
            );
        }
    }

    /// Stripe holds one invoice per ledger tag and one item per line, and
    /// reconcile finds nothing.
    pub async fn assert_stripe_matches_ledger(&self) {
        let (invoices, items) = self.stripe_counts().await;
        for (tag, n) in &invoices {
            assert_eq!(*n, 1, "Stripe holds {n} invoices for {tag}");
        }
        for (line, n) in &items {
            assert_eq!(*n, 1, "Stripe holds {n} items for {line:?}");
        }
        let report = self.reconcile().await;
        assert!(
            report.differences.is_empty(),
            "differences: {:#?}",
            report.differences
        );
    }

    /// Invoices per ledger tag and items per (tag, line), as Stripe holds them.
    pub async fn stripe_counts(
        &self,
    ) -> (BTreeMap<String, usize>, BTreeMap<(String, String), usize>) {
        let mut invoices = BTreeMap::new();
        let mut items = BTreeMap::new();
        let mut customers = ListCustomers {
            page: ListParams {
                limit: Some(100),
                ..Default::default()
            },
            ..Default::default()
        };
        loop {
            let page = self
                .api
                .list_customers(&customers)
                .await
                .expect("customers");
            for c in &page.data {
                let mut params = ListInvoices {
                    customer: Some(c.id.clone()),
                    page: ListParams {
                        limit: Some(100),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                loop {
                    let list = self.api.list_invoices(&params).await.expect("invoices");
                    for inv in &list.data {
                        let tag = inv.metadata.get(META_INVOICE).cloned().unwrap_or_default();
                        *invoices.entry(tag.clone()).or_insert(0) += 1;
                        for line in self.api.all_invoice_lines(&inv.id).await.expect("lines") {
                            let id = line.metadata.get(META_LINE).cloned().unwrap_or(line.id);
                            *items.entry((tag.clone(), id)).or_insert(0) += 1;
                        }
                    }
                    match list.data.last() {
                        Some(last) if list.has_more => {
                            params.page.starting_after = Some(last.id.clone())
                        }
                        _ => break,
                    }
                }
            }
            match page.data.last() {
                Some(last) if page.has_more => {
                    customers.page.starting_after = Some(last.id.clone())
                }
                _ => break,
            }
        }
        (invoices, items)
    }
}
