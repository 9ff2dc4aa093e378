//! An invoice (live or as it stood at a moment), the events behind a
//! line, and an organization's event history.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;

use super::{auth, org_path, parse_local, Page};
use crate::console::render;
use crate::console::session::Session;
use crate::console::views::{self, Layout};
use crate::http::audit::{self, EventFilter, Order};
use crate::http::extract::{InvoicePath, LinePath};
use crate::http::invoices::{self, InvoiceOptions, PageOptions};
use crate::http::AppState;
#[derive(Deserialize)]
pub struct AsOfQuery {
    #[serde(default)]
    as_of: String,
}

/// `GET …/invoices/{period_start}?as_of=`: an invoice's lines, live or as
/// it stood at a past moment.
pub async fn invoice(
    State(state): State<AppState>,
    session: Session,
    Path(path): Path<InvoicePath>,
    Query(query): Query<AsOfQuery>,
) -> Page {
    let auth = auth(&session);
    let as_of = parse_local(&query.as_of, "as_of")?;
    let read = invoices::read_one(
        &state,
        &auth,
        &path,
        &InvoiceOptions {
            as_of,
            ..InvoiceOptions::default()
        },
    )
    .await?;
    let invoice = &read.invoice;
    let org = invoice.org_id.to_string();
    let live_href = views::invoice_href(&org, invoice.period_start);
    Ok(render(
        StatusCode::OK,
        &views::InvoicePage {
            layout: Layout::of(
                &session,
                format!("Invoice {}", invoice.period_start.format("%Y-%m-%d")),
            ),
            org_href: views::org_href(&org),
            org_id: org,
            live_href,
            period: views::period(invoice.period_start, invoice.period_end),
            status: invoice.status.as_str().to_owned(),
            version: invoice.version,
            total: invoice.total.to_string(),
            currency: invoice.currency.code().to_owned(),
            as_of_label: as_of.map(views::time),
            as_of_value: views::datetime_local(as_of.unwrap_or_else(Utc::now)),
            sync: read.sync.as_ref().map(views::SyncView::of),
            lines: invoice
                .lines
                .iter()
                .map(|l| views::LineRow::of(invoice, l, as_of.is_none()))
                .collect(),
        },
    ))
}

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<i64>,
}

/// `GET …/lines/{line_id}?cursor=`: the events behind a line.
pub async fn line(
    State(state): State<AppState>,
    session: Session,
    Path(path): Path<LinePath>,
    Query(query): Query<CursorQuery>,
) -> Page {
    let auth = auth(&session);
    let page = invoices::read_line_events(
        &state,
        &auth,
        &path,
        &PageOptions {
            cursor: query.cursor,
            limit: Some(100),
        },
    )
    .await?;
    let start = crate::http::extract::period_start(&path.period_start)?;
    let invoice_href = views::invoice_href(&path.org_id, start);
    let next_href = page.next_cursor.map(|c| {
        format!(
            "{invoice_href}/lines/{}?cursor={c}",
            views::segment(&path.line_id)
        )
    });
    Ok(render(
        StatusCode::OK,
        &views::LinePage {
            layout: Layout::of(&session, page.line.description.clone()),
            invoice_href,
            period: start.format("%Y-%m-%d").to_string(),
            description: page.line.description.clone(),
            amount: page.line.amount.to_string(),
            quantity: page.line.quantity.normalize().to_string(),
            events: page.events.iter().map(views::EventRow::of).collect(),
            next_href,
        },
    ))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<i64>,
}

/// `GET …/events?type=&from=&to=&cursor=`: the history, newest first.
pub async fn events(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Page {
    let auth = auth(&session);
    let from = parse_local(&query.from, "from")?;
    let to = parse_local(&query.to, "to")?;
    let types = (!query.event_type.is_empty()).then(|| query.event_type.clone());
    let page = audit::read_org_events(
        &state,
        &auth,
        &org_path(&org_id),
        &EventFilter {
            types,
            from,
            to,
            cursor: query.cursor,
            limit: Some(50),
            order: Some(Order::Desc),
        },
    )
    .await?;
    let org = page.org_id.to_string();
    let action = format!("{}/events", views::org_href(&org));
    let next_href = page.next_cursor.map(|c| {
        format!(
            "{action}?type={}&from={}&to={}&cursor={c}",
            views::query_value(&query.event_type),
            views::query_value(&query.from),
            views::query_value(&query.to),
        )
    });
    Ok(render(
        StatusCode::OK,
        &views::EventsPage {
            layout: Layout::of(&session, format!("Events of {org}")),
            org_href: views::org_href(&org),
            org_id: org,
            action,
            types: ledger::event::KNOWN_EVENT_TYPES
                .iter()
                .map(|t| views::TypeOption {
                    name: (*t).to_owned(),
                    selected: *t == query.event_type,
                })
                .collect(),
            from: query.from,
            to: query.to,
            events: page.events.iter().map(views::EventRow::of).collect(),
            next_href,
        },
    ))
}
