//! The developer billing page: owed now, usage per day per meter as SVG
//! charts, past invoices.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use ledger::event::LedgerEvent;
use projections::fold::{Invoice, LineKind};
use rust_decimal::Decimal;

use super::{auth, current_or_none, Page};
use crate::console::session::Session;
use crate::console::views::{self, Layout};
use crate::console::{chart, render, ConsoleError};
use crate::http::error::ApiError;
use crate::http::extract::{Auth, LinePath};
use crate::http::invoices::{self, PageOptions, ReadOptions};
use crate::http::AppState;
/// The most events read per usage line for the charts.
const CHART_EVENT_PAGES: usize = 20;

/// Usage per day of each meter on `invoice`, from the events behind its
/// usage lines (the provenance query), corrections and voids applied.
async fn usage_per_day(
    state: &AppState,
    auth: &Auth,
    invoice: &Invoice,
) -> Result<BTreeMap<String, (String, BTreeMap<NaiveDate, Decimal>)>, ConsoleError> {
    let mut meters: BTreeMap<String, (String, BTreeMap<NaiveDate, Decimal>)> = BTreeMap::new();
    for line in invoice.lines.iter().filter(|l| l.kind == LineKind::Usage) {
        let Some(meter) = line.meter.clone() else {
            continue;
        };
        let entry = meters.entry(meter).or_insert_with(|| {
            (
                line.unit.clone().unwrap_or_else(|| "units".into()),
                BTreeMap::new(),
            )
        });
        let path = LinePath {
            org_id: invoice.org_id.to_string(),
            period_start: invoice.period_start.to_rfc3339(),
            line_id: line.line_id.clone(),
        };
        let mut cursor = None;
        for _ in 0..CHART_EVENT_PAGES {
            let page = invoices::read_line_events(
                state,
                auth,
                &path,
                &PageOptions {
                    cursor,
                    limit: Some(1_000),
                },
            )
            .await?;
            for event in &page.events {
                let (day, delta) = match event.decode() {
                    Ok(LedgerEvent::UsageRecorded(u)) => (event.occurred_at, u.quantity.value()),
                    Ok(LedgerEvent::UsageCorrected(c)) => (
                        c.usage_occurred_at,
                        c.quantity.value() - c.previous_quantity.value(),
                    ),
                    Ok(LedgerEvent::UsageVoided(v)) => {
                        (v.usage_occurred_at, -v.previous_quantity.value())
                    }
                    _ => continue,
                };
                *entry.1.entry(day.date_naive()).or_default() += delta;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(meters)
}

/// `GET /console/organizations/{org}/billing`: the developer billing page
/// (org tokens: their own organization only; support and admin: any).
pub async fn billing(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<String>,
) -> Page {
    let auth = auth(&session);
    let list = invoices::read_list(&state, &auth, &org_id, &ReadOptions::default()).await?;
    let spend = super::spend_or_none(&state, &list.org_id).await?;
    let org = list.org_id.to_string();
    let current = current_or_none(&state, &auth, &org_id).await?;
    let mut charts = Vec::new();
    let (owed, currency, period, position, no_current) = match &current {
        Ok(read) => {
            let invoice = &read.invoice;
            for (meter, (unit, per_day)) in usage_per_day(&state, &auth, invoice).await? {
                let series =
                    chart::series(&meter, invoice.period_start, invoice.period_end, &per_day);
                let svg = chart::bar_chart_svg(&series, &unit).map_err(ApiError::from)?;
                charts.push(views::ChartView {
                    label: format!(
                        "Bar chart of {meter} per day from {} to {}",
                        invoice.period_start.format("%Y-%m-%d"),
                        invoice.period_end.format("%Y-%m-%d")
                    ),
                    days: series
                        .days
                        .iter()
                        .map(|(d, q)| (d.format("%Y-%m-%d").to_string(), q.normalize().to_string()))
                        .collect(),
                    meter,
                    unit,
                    svg,
                });
            }
            (
                Some(invoice.total.to_string()),
                invoice.currency.code().to_owned(),
                views::period(invoice.period_start, invoice.period_end),
                read.reflects.as_ref().map_or(0, |r| r.position),
                String::new(),
            )
        }
        Err(message) => (None, String::new(), String::new(), 0, message.clone()),
    };
    Ok(render(
        StatusCode::OK,
        &views::BillingPage {
            layout: Layout::of(&session, format!("Billing for {org}")),
            invoices: list
                .invoices
                .iter()
                .map(|i| views::InvoiceRow::of(&org, i))
                .collect(),
            org_id: org,
            spend,
            owed,
            currency,
            period,
            position,
            no_current,
            charts,
        },
    ))
}
