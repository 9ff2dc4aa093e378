//! Operations (admin): projection lag, the Stripe sync, parked invoices
//! and their retry.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use super::{auth, bad_form, forged, primary_only, CsrfForm, Page};
use crate::console::render;
use crate::console::session::Session;
use crate::console::views::{self, Layout};
use crate::http::extract::InvoicePath;
use crate::http::sync_status::{self, SyncFilter};
use crate::http::AppState;
use crate::tokens::Role;
#[derive(Deserialize)]
pub struct OpsQuery {
    #[serde(default)]
    retried: String,
}

/// `GET /console/ops` (admin): projection lag, what the projection and
/// the closer set aside, and the parked syncs.
pub async fn ops(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<OpsQuery>,
) -> Page {
    let auth = auth(&session);
    let projections = crate::http::ops::read_projections(&state, &auth).await?;
    let sync = sync_status::read_sync(
        &state,
        &auth,
        &SyncFilter {
            parked: true,
            limit: Some(1_000),
            ..SyncFilter::default()
        },
    )
    .await?;
    let totals = &sync.summary;
    let parked_orgs = projections
        .parked_organizations
        .iter()
        .map(|p| views::SetAside {
            what: format!("{} (at event {})", p.org_id, p.position),
            error: p.error.clone(),
            since: views::time(p.parked_at),
        })
        .collect();
    let unclosed = projections
        .unclosed_invoices
        .iter()
        .map(|f| views::SetAside {
            what: format!("{} {} ({} attempts)", f.org_id, f.period_start, f.attempts),
            error: f.error.clone(),
            since: views::time(f.first_failed_at),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &views::OpsPage {
            layout: Layout::of(&session, "Operations"),
            parked_orgs,
            unclosed,
            flash: (!query.retried.is_empty())
                .then(|| format!("Queued again: {}", query.retried)),
            projections: projections
                .projections
                .iter()
                .map(|p| views::ProjectionRow {
                    name: p.name.clone(),
                    generation: p.generation,
                    position: p.position,
                    head: p.head,
                    events_behind: p.events_behind,
                    seconds_behind: p.seconds_behind,
                })
                .collect(),
            stripe: sync.stripe.as_ref().map_or_else(
                || "This process runs no Stripe sync.".to_owned(),
                |s| s.message.clone(),
            ),
            totals: format!(
                "{} invoices tracked · {} final pending · {} drafts behind · {} parked · {} retrying",
                totals.invoices, totals.final_pending, totals.drafts_behind, totals.parked, totals.retrying
            ),
            parked: sync
                .invoices
                .iter()
                .map(|row| views::ParkedRow {
                    retry_action: format!(
                        "/console/ops/sync/{}/{}/retry",
                        views::segment(&row.org_id),
                        views::segment(&row.period_start)
                    ),
                    org_id: row.org_id.clone(),
                    period_start: row.period_start.clone(),
                    attempts: row.attempts,
                    last_error: row.last_error.clone().unwrap_or_default(),
                })
                .collect(),
        },
    ))
}

/// `POST /console/ops/sync/{org}/{period_start}/retry` (admin, CSRF).
pub async fn retry(
    State(state): State<AppState>,
    session: Session,
    Path(path): Path<InvoicePath>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    let Form(form) = form.map_err(bad_form)?;
    if !session.check_csrf(&form.csrf) {
        return Err(forged());
    }
    let auth = auth(&session);
    auth.require(&[Role::Admin])?;
    primary_only(&state)?;
    let retried = sync_status::retry_one(&state, &auth, &path).await?;
    Ok(Redirect::to(&format!(
        "/console/ops?retried={}",
        views::query_value(&format!("{} {}", retried.org_id, retried.period_start))
    ))
    .into_response())
}
