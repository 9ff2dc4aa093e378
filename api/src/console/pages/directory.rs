//! Organization search, an organization's page and its live total.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{auth, current_or_none, Page};
use crate::console::session::Session;
use crate::console::views::{self, Layout};
use crate::console::{render, ConsoleError};
use crate::http::catalog::{self, Paging};
use crate::http::invoices::{self, ReadOptions};
use crate::http::AppState;
use crate::tokens::Role;
#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// The most organizations a search shows, and the most it reads.
const SHOWN: usize = 100;
const SEARCHED_PAGES: usize = 20;

/// `GET /console/organizations?q=`: organizations whose id contains `q`.
/// Pages through the directory with the JSON API's query.
pub async fn organizations(
    State(state): State<AppState>,
    session: Session,
    Query(search): Query<Search>,
) -> Page {
    let auth = auth(&session);
    let needle = search.q.trim().to_lowercase();
    let mut orgs = Vec::new();
    let mut after = None;
    let mut truncated = false;
    for _ in 0..SEARCHED_PAGES {
        let page = catalog::read_orgs(
            &state,
            &auth,
            Paging {
                after: after.take(),
                limit: Some(1_000),
            },
        )
        .await?;
        for org in &page.organizations {
            if org.org_id.as_str().to_lowercase().contains(&needle) {
                if orgs.len() == SHOWN {
                    truncated = true;
                    break;
                }
                orgs.push(views::OrgRow {
                    href: views::org_href(org.org_id.as_str()),
                    org_id: org.org_id.to_string(),
                    currency: org.currency.code().to_owned(),
                    anchor: views::time(org.billing_anchor),
                });
            }
        }
        match page.next_after {
            Some(next) if !truncated => after = Some(next),
            _ => break,
        }
    }
    Ok(render(
        StatusCode::OK,
        &views::OrgsPage {
            layout: Layout::of(&session, "Organizations"),
            q: search.q,
            orgs,
            truncated,
        },
    ))
}

/// `GET /console/organizations/{org}`: support's view of one organization.
pub async fn organization(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<String>,
) -> Page {
    let auth = auth(&session);
    // An org token has the developer billing page of its own organization.
    if let (Role::Org, Some(own)) = (&session.principal.role, &session.principal.org) {
        if own.as_str() == org_id {
            return Ok(
                Redirect::to(&format!("{}/billing", views::org_href(&org_id))).into_response(),
            );
        }
    }
    auth.support()?;
    let list = invoices::read_list(&state, &auth, &org_id, &ReadOptions::default()).await?;
    let current = current_or_none(&state, &auth, &org_id).await?;
    let spend = super::spend_or_none(&state, &list.org_id).await?;
    let org = list.org_id.to_string();
    let (current, no_current, sync) = match current {
        Ok(read) => {
            let invoice = &read.invoice;
            (
                Some(views::CurrentView {
                    period: views::period(invoice.period_start, invoice.period_end),
                    total: invoice.total.to_string(),
                    currency: invoice.currency.code().to_owned(),
                    position: read.reflects.as_ref().map_or(0, |r| r.position),
                    lines: invoice.lines.len(),
                    href: views::invoice_href(&org, invoice.period_start),
                    live_url: format!("{}/live", views::org_href(&org)),
                }),
                String::new(),
                read.sync.as_ref().map(views::SyncView::of),
            )
        }
        Err(message) => (None, message, None),
    };
    Ok(render(
        StatusCode::OK,
        &views::OrgPage {
            layout: Layout::of(&session, format!("Organization {org}")),
            events_href: format!("{}/events", views::org_href(&org)),
            billing_href: format!("{}/billing", views::org_href(&org)),
            invoices: list
                .invoices
                .iter()
                .map(|i| views::InvoiceRow::of(&org, i))
                .collect(),
            org_id: org,
            spend,
            current,
            no_current,
            sync,
        },
    ))
}

#[derive(Deserialize)]
pub struct LiveQuery {
    min_position: Option<i64>,
}

/// The live figures of the current invoice, for the page's script.
#[derive(Serialize)]
pub struct Live {
    position: i64,
    total: String,
    currency: String,
    lines: usize,
}

/// `GET /console/organizations/{org}/live?min_position=`: the current
/// invoice's total once the projection has folded `min_position` (the
/// JSON API's read-your-writes wait), for the live update.
pub async fn live(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<String>,
    Query(query): Query<LiveQuery>,
) -> Result<Json<Live>, ConsoleError> {
    let auth = auth(&session);
    let read = invoices::read_current(
        &state,
        &auth,
        &org_id,
        &ReadOptions {
            min_position: query.min_position,
        },
    )
    .await?;
    Ok(Json(Live {
        position: read.reflects.as_ref().map_or(0, |r| r.position),
        total: read.invoice.total.to_string(),
        currency: read.invoice.currency.code().to_owned(),
        lines: read.invoice.lines.len(),
    }))
}
