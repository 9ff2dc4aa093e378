//! Prometheus metrics (`GET /metrics`, admin token): request counts and
//! latencies per route, usage outcomes, and projection lag at scrape time.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use projections::tables::INVOICES;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::error::{ApiError, ErrorBody};
use super::extract::Auth;
use super::AppState;
use crate::tokens::Role;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    event_type: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    reason: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    usage: Family<OutcomeLabels, Counter>,
    events_behind: Gauge,
    seconds_behind: Gauge,
    head: Gauge,
    parked_orgs: Gauge,
    unclosed_invoices: Gauge,
    sync: Family<OutcomeLabels, Gauge>,
    /// The Stripe sync's circuit breaker, when this process runs the sync.
    stripe: Vec<(&'static str, Gauge)>,
    webhooks: Family<WebhookLabels, Counter>,
    signature_failures: Family<ReasonLabels, Counter>,
    catch_up_lag: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Metrics {
    /// The registry; with `stripe`, also the sync's view of Stripe's
    /// availability (only a process that runs the sync knows it).
    pub fn new(stripe: bool) -> Self {
        let mut registry = Registry::with_prefix("billing");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
        });
        let usage = Family::<OutcomeLabels, Counter>::default();
        let (events_behind, seconds_behind, head) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "usage_records",
            "Usage records by outcome (accepted, duplicate, rejected)",
            usage.clone(),
        );
        registry.register(
            "projection_events_behind",
            "Events the invoice projection has not folded yet",
            events_behind.clone(),
        );
        registry.register(
            "projection_seconds_behind",
            "Age of the oldest event not yet folded",
            seconds_behind.clone(),
        );
        let (parked_orgs, unclosed_invoices) = (Gauge::default(), Gauge::default());
        registry.register(
            "projection_parked_organizations",
            "Organizations the invoice projection parked (cannot fold; the others carry on)",
            parked_orgs.clone(),
        );
        registry.register(
            "invoices_unclosed",
            "Invoices the period closer failed to finalize on its last passes",
            unclosed_invoices.clone(),
        );
        let sync = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "sync_invoices",
            "Invoices by Stripe sync state (parked, final_pending, drafts_behind, retrying)",
            sync.clone(),
        );
        registry.register(
            "event_store_head_position",
            "Highest global position stored (its rate is the append rate)",
            head.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "stripe_webhooks",
            "Verified Stripe webhooks by event type and outcome (recorded, duplicate, unmatched, ignored, failed)",
            webhooks.clone(),
        );
        let signature_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "stripe_webhook_signature_failures",
            "Stripe webhooks refused because the signature did not verify, by reason",
            signature_failures.clone(),
        );
        let catch_up_lag = Gauge::default();
        registry.register(
            "stripe_catch_up_lag_seconds",
            "Seconds since the payments catch-up last reached Stripe's newest event (-1 before its first pass)",
            catch_up_lag.clone(),
        );
        let stripe = if stripe {
            sync::breaker::StripeHealth::default()
                .metrics()
                .into_iter()
                .map(|(name, _)| {
                    let gauge = Gauge::default();
                    registry.register(name, stripe_help(name), gauge.clone());
                    (name, gauge)
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            registry,
            requests,
            latency,
            usage,
            parked_orgs,
            unclosed_invoices,
            events_behind,
            seconds_behind,
            head,
            sync,
            stripe,
            webhooks,
            signature_failures,
            catch_up_lag,
        }
    }

    /// A verified webhook of `event_type` and what became of it.
    pub fn webhook(&self, event_type: &str, outcome: &str) {
        // Stripe's type names are a closed vocabulary of short dotted words;
        // anything else is counted under one label (bounded cardinality).
        let known = event_type.len() <= 64
            && event_type
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        self.webhooks
            .get_or_create(&WebhookLabels {
                event_type: if known { event_type } else { "other" }.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A webhook refused for its signature.
    pub fn signature_failure(&self, reason: &str) {
        self.signature_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn usage(&self, outcome: &str, n: u64) {
        self.usage
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }
}

fn stripe_help(name: &str) -> &'static str {
    match name {
        "stripe_available" => {
            "1 while the sync's circuit breaker is closed (Stripe answering), 0 while open"
        }
        "stripe_unavailable_since_seconds" => {
            "Unix time since which Stripe is considered unavailable (0 while available)"
        }
        "stripe_breaker_trips" => "Times the circuit breaker opened since the process started",
        "stripe_breaker_probes" => "Probe requests sent while the breaker was open",
        "stripe_requests" => "Stripe requests sent by this process, retries and probes included",
        _ => "Outage-type Stripe failures (5xx, timeouts, connection errors)",
    }
}

/// Middleware: count and time every request by its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics` (admin): Prometheus/OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    summary = "Prometheus metrics (admin)",
    responses(
        (status = 200, description = "OpenMetrics text", body = String,
         content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn render(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require(&[Role::Admin])?;
    let generation = state.tables.active_generation(INVOICES).await?;
    let checkpoint = state
        .tables
        .checkpoint(INVOICES, generation)
        .await?
        .position;
    let head = state.store.head_position().await?;
    let oldest = state.store.read_all(checkpoint, 1).await?;
    let metrics = &state.metrics;
    metrics.head.set(head);
    metrics.events_behind.set((head - checkpoint).max(0));
    metrics.seconds_behind.set(oldest.first().map_or(0, |e| {
        (chrono::Utc::now() - e.recorded_at).num_seconds().max(0)
    }));
    let parked = state.tables.parked(INVOICES).await?.len();
    metrics.parked_orgs.set(parked as i64);
    let unclosed = state.tables.close_failures().await?.len();
    metrics.unclosed_invoices.set(unclosed as i64);
    let totals = sync::status::summary(&state.db)
        .await
        .map_err(ApiError::internal)?;
    for (outcome, value) in [
        ("parked", totals.parked),
        ("final_pending", totals.final_pending),
        ("drafts_behind", totals.drafts_behind),
        ("retrying", totals.retrying),
    ] {
        metrics
            .sync
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .set(value);
    }
    let caught_up = sync::payments::catchup::cursor(&state.db)
        .await
        .map_err(ApiError::internal)?
        .caught_up_at;
    metrics.catch_up_lag.set(if caught_up > 0 {
        ((chrono::Utc::now().timestamp_millis() - caught_up) / 1000).max(0)
    } else {
        -1
    });
    if let Some(breaker) = &state.stripe {
        let health = breaker.health();
        for ((_, gauge), (_, value)) in metrics.stripe.iter().zip(health.metrics()) {
            gauge.set(value);
        }
    }
    let mut body = String::new();
    encode(&mut body, &metrics.registry).map_err(ApiError::internal)?;
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
