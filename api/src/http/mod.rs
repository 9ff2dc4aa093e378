//! The internal HTTP API (axum), versioned under `/v1`.
//!
//! Every endpoint but `/healthz`, `/readyz` and `/metrics` needs a bearer
//! token; see [`crate::tokens`] for roles. Bad input gets a 4xx JSON error
//! that names the problem and stores nothing.

mod audit;
mod catalog;
mod directory;
pub mod error;
mod extract;
mod ingest;
mod invoices;
mod ops;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use ledger::db::Database;
use ledger::EventStore;
use projections::ProjectionTables;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use directory::Directory;

/// HTTP settings (see README for the environment variables).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    /// Most usage records in one `POST /v1/usage`.
    pub max_batch: usize,
    /// Largest request body in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Longest a read waits for `?min_position=` before answering 503.
    pub read_wait: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_batch: 5_000,
            body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            read_wait: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub store: Arc<dyn EventStore>,
    pub tables: Arc<dyn ProjectionTables>,
    pub config: Arc<ApiConfig>,
    pub directory: Arc<Directory>,
    pub ops: Arc<ops::OpsState>,
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/v1/usage", post(ingest::post_usage))
        .route(
            "/v1/organizations",
            post(catalog::create_org).get(catalog::list_orgs),
        )
        .route("/v1/organizations/{org_id}", get(catalog::get_org))
        .route(
            "/v1/organizations/{org_id}/charges",
            post(ingest::post_charge),
        )
        .route(
            "/v1/organizations/{org_id}/credits",
            post(ingest::post_credit),
        )
        .route(
            "/v1/organizations/{org_id}/subscriptions",
            post(ingest::post_subscription),
        )
        .route(
            "/v1/prices",
            post(catalog::set_price).get(catalog::list_prices),
        )
        .route("/v1/organizations/{org_id}/invoices", get(invoices::list))
        .route(
            "/v1/organizations/{org_id}/invoices/current",
            get(invoices::current),
        )
        .route(
            "/v1/organizations/{org_id}/invoices/{period_start}",
            get(invoices::one),
        )
        .route(
            "/v1/organizations/{org_id}/invoices/{period_start}/lines/{line_id}/events",
            get(invoices::line_events),
        )
        .route("/v1/organizations/{org_id}/events", get(audit::org_events))
        .route("/v1/events/{event_id}", get(audit::event))
        .route("/v1/ops/projections", get(ops::projections))
        .route(
            "/v1/ops/rebuild",
            post(ops::start_rebuild).get(ops::rebuild_status),
        )
        .fallback(ops::not_found)
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The API bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
}

impl Application {
    /// Bind (port 0 picks a free one) and build the router over `db`.
    pub async fn build(db: Database, config: ApiConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store: db.event_store(),
            tables: projections::tables_for(&db),
            directory: Arc::new(Directory::default()),
            ops: Arc::new(ops::OpsState::default()),
            config: Arc::new(config),
            db,
        };
        Ok(Self {
            listener,
            router: router(state),
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until `shutdown`, then finish in-flight requests.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        Ok(())
    }
}
