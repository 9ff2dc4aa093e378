//! The internal HTTP API (axum), versioned under `/v1`.
//!
//! Every endpoint but `/healthz`, `/readyz`, `/metrics` and the Stripe
//! webhook (`/v1/webhooks/stripe`, authenticated by its signature) needs a
//! bearer token; see [`crate::tokens`] for roles. Bad input gets a 4xx JSON error
//! that names the problem and stores nothing.

pub(crate) mod audit;
pub(crate) mod budgets;
pub(crate) mod catalog;
mod corrections;
mod envelope;
pub mod error;
pub(crate) mod extract;
pub mod idempotency;
mod ingest;
pub(crate) mod invoices;
mod links;
mod metrics;
pub(crate) mod ops;
pub(crate) mod sync_status;
mod webhook_endpoints;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use ledger::db::Database;
use ledger::EventStore;
use projections::ProjectionTables;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::commands::Directory;

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
    /// When set, webhook endpoints may only point at these hosts.
    pub webhook_hosts: Option<Vec<String>>,
    /// Seals the signing secrets of webhook endpoints (`WEBHOOK_SECRET_KEY`);
    /// empty: registering or rotating an endpoint fails.
    pub webhook_keys: notifications::webhooks::sealing::Keyring,
    /// How long a console sign-in lasts.
    pub console_session_ttl: Duration,
    /// Mark the console's cookies `Secure` (serve it over HTTPS).
    pub console_secure_cookie: bool,
    /// Verifies `POST /v1/webhooks/stripe` (`STRIPE_WEBHOOK_SECRET`; without
    /// a secret every delivery is refused).
    pub stripe_webhook: sync::payments::signature::Verifier,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_batch: 5_000,
            body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            read_wait: Duration::from_secs(5),
            webhook_hosts: None,
            webhook_keys: Default::default(),
            console_session_ttl: Duration::from_secs(8 * 3600),
            console_secure_cookie: false,
            stripe_webhook: Default::default(),
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
    pub metrics: Arc<metrics::Metrics>,
    /// The Stripe sync's circuit breaker when this process runs the sync
    /// (its state is per process).
    pub stripe: Option<Arc<sync::breaker::CircuitBreaker>>,
}

impl AppState {
    /// What the write commands read the ledger through, as of now.
    pub fn ctx(&self) -> crate::commands::Ctx<'_> {
        crate::commands::Ctx {
            store: self.store.as_ref(),
            directory: &self.directory,
            now: chrono::Utc::now(),
        }
    }
}

/// Declares the bearer-token scheme every protected endpoint uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "ledger billing API", description = "Usage ingestion, invoices, audit and operations of the billing ledger."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The routes and the OpenAPI document describing them, built together
/// from the same handler annotations so they cannot drift apart.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(metrics::render))
        .routes(routes!(ingest::post_usage))
        .routes(routes!(corrections::correct))
        .routes(routes!(catalog::create_org, catalog::list_orgs))
        .routes(routes!(catalog::get_org))
        .routes(routes!(ingest::post_charge))
        .routes(routes!(ingest::post_credit))
        .routes(routes!(ingest::post_subscription))
        .routes(routes!(catalog::set_price, catalog::list_prices))
        .routes(routes!(invoices::list))
        .routes(routes!(invoices::current))
        .routes(routes!(invoices::one))
        .routes(routes!(invoices::line_events))
        .routes(routes!(audit::org_events))
        .routes(routes!(audit::event))
        .routes(routes!(ops::projections))
        .routes(routes!(ops::start_rebuild, ops::rebuild_status))
        .routes(routes!(sync_status::list))
        .routes(routes!(sync_status::retry))
        .routes(routes!(budgets::put_budget, budgets::get_budget))
        .routes(routes!(budgets::spend))
        .routes(routes!(webhook_endpoints::create, webhook_endpoints::list))
        .routes(routes!(
            webhook_endpoints::one,
            webhook_endpoints::update,
            webhook_endpoints::delete
        ))
        .routes(routes!(webhook_endpoints::rotate))
        .routes(routes!(webhook_endpoints::deliveries))
        .routes(routes!(webhook_endpoints::redeliver))
        .routes(routes!(webhook_endpoints::replay))
        .routes(routes!(webhooks::stripe))
        .split_for_parts();
    links::add(&mut doc);
    links::close_enums(&mut doc);
    idempotency::document(&mut doc);
    (router, doc)
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (routes, doc) = routes();
    let writes = Arc::new(idempotency::Writes::of(&doc));
    let doc = Arc::new(links::served(&doc));
    routes
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        // Only on routes that match (method included): an undeclared
        // method gets its 405 whatever headers it carries.
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), writes),
            idempotency::keep_answers,
        ))
        // The HTML console: outside the OpenAPI document (it is not JSON),
        // and after the route layer (its forms are not API writes).
        .merge(crate::console::routes())
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_writes_on_a_replica,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        // Through the JSON extractor, so an oversized body gets our JSON 413.
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            envelope::panicked,
        ))
        .layer(axum::middleware::from_fn(
            envelope::every_error_is_an_envelope,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// On a read-only database (an API replica) every write answers 503
/// `read_only` before it reaches a handler: writes go to the primary.
async fn refuse_writes_on_a_replica(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let reads = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // The console answers a write on a replica with a page of its own.
    let console = request.uri().path().starts_with("/console/");
    if state.db.is_read_only() && !reads && !console {
        return error::ApiError::read_only().into_response();
    }
    next.run(request).await
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
        Self::build_with(db, config, None).await
    }

    /// [`Application::build`], reporting the Stripe availability of the
    /// sync this process runs (its circuit breaker).
    pub async fn build_with(
        db: Database,
        config: ApiConfig,
        stripe: Option<Arc<sync::breaker::CircuitBreaker>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store: db.event_store(),
            tables: projections::tables_for(&db),
            directory: Arc::new(Directory::default()),
            ops: Arc::new(ops::OpsState::default()),
            metrics: Arc::new(metrics::Metrics::new(stripe.is_some())),
            stripe,
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
