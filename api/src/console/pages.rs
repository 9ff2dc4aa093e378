//! The console's handlers: check the session, call the query function the
//! JSON handler calls, turn the answer into a view model, render it.

use std::collections::BTreeMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ledger::event::LedgerEvent;
use projections::fold::LineKind;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::session::{self, Session};
use super::views::{self, Layout};
use super::{chart, render, ConsoleError};
use crate::http::audit::{self, EventFilter, Order};
use crate::http::catalog::{self, Paging};
use crate::http::error::ApiError;
use crate::http::extract::{Auth, InvoicePath, LinePath, OrgPath};
use crate::http::invoices::{self, InvoiceOptions, PageOptions, ReadOptions};
use crate::http::sync_status::{self, SyncFilter};
use crate::http::{ops, AppState};
use crate::tokens::{self, Role};

type Page = Result<Response, ConsoleError>;

fn auth(session: &Session) -> Auth {
    Auth(session.principal.clone())
}

fn bad_form(err: FormRejection) -> ConsoleError {
    ConsoleError(ApiError::bad_request(err.body_text()))
}

fn primary_only(state: &AppState) -> Result<(), ConsoleError> {
    if state.db.is_read_only() {
        return Err(ConsoleError(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read_only",
            "this server is a read-only replica: sign in, sign out and retry on the primary",
        )));
    }
    Ok(())
}

fn forged() -> ConsoleError {
    ConsoleError(ApiError::forbidden(
        "the form's CSRF token does not match this session: reload the page and try again",
    ))
}

/// `/console`: where a signed-in visitor starts.
pub async fn home(session: Session) -> Response {
    match (&session.principal.role, &session.principal.org) {
        (Role::Org, Some(org)) => Redirect::to(&format!(
            "/console/organizations/{}/billing",
            views::segment(org.as_str())
        ))
        .into_response(),
        _ => Redirect::to("/console/organizations").into_response(),
    }
}

fn login_page(status: StatusCode, error: Option<String>, secure: bool) -> Response {
    let login_csrf = session::random_secret();
    let mut response = render(
        status,
        &views::LoginPage {
            layout: Layout::anonymous("Sign in"),
            error,
            login_csrf: login_csrf.clone(),
        },
    );
    if let Ok(value) = session::set_cookie(session::LOGIN_COOKIE, &login_csrf, 600, secure).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console/login`.
pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(StatusCode::OK, None, state.config.console_secure_cookie)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    login_csrf: String,
}

/// `POST /console/login` (form field `token`): verify the token, start a
/// session, set the cookie.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Page {
    primary_only(&state)?;
    let Form(form) = form.map_err(bad_form)?;
    let secure = state.config.console_secure_cookie;
    // Login CSRF: the form must come from our own sign-in page.
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same(expected, &form.login_csrf) {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired; please try again.".into()),
            secure,
        ));
    }
    let principal = tokens::authenticate(&state.db, form.token.trim())
        .await
        .map_err(ApiError::from)?;
    let Some(principal) = principal else {
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            Some("Unknown or revoked token.".into()),
            secure,
        ));
    };
    if principal.role == Role::Ingest {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            Some(
                "An ingest token cannot use the console; use a support, admin or org token.".into(),
            ),
            secure,
        ));
    }
    let ttl = state.config.console_session_ttl;
    let id = session::start(&state.db, &principal, ttl)
        .await
        .map_err(ApiError::from)?;
    let mut response = Redirect::to("/console").into_response();
    let cookies = [
        session::set_cookie(session::COOKIE, &id, ttl.as_secs(), secure),
        session::set_cookie(session::LOGIN_COOKIE, "", 0, secure),
    ];
    for cookie in cookies {
        let value = cookie.parse().map_err(ApiError::internal)?;
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: end the session and clear the cookie.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    primary_only(&state)?;
    let Form(form) = form.map_err(bad_form)?;
    if !session.check_csrf(&form.csrf) {
        return Err(forged());
    }
    session::end(&state.db, &session.id)
        .await
        .map_err(ApiError::from)?;
    let mut response = Redirect::to("/console/login").into_response();
    let cookie = session::set_cookie(session::COOKIE, "", 0, state.config.console_secure_cookie);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie.parse().map_err(ApiError::internal)?,
    );
    Ok(response)
}

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

fn org_path(org_id: &str) -> OrgPath {
    OrgPath {
        org_id: org_id.to_owned(),
    }
}

/// The current invoice, or why there is none (404: none open yet).
async fn current_or_none(
    state: &AppState,
    auth: &Auth,
    org_id: &str,
) -> Result<Result<invoices::InvoiceRead, String>, ConsoleError> {
    match invoices::read_current(state, auth, org_id, &ReadOptions::default()).await {
        Ok(read) => Ok(Ok(read)),
        Err(err)
            if err.status == StatusCode::NOT_FOUND && err.message.contains("no open invoice") =>
        {
            Ok(Err(err.message))
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /console/organizations/{org}`: support's view of one organization.
pub async fn organization(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(org_id): axum::extract::Path<String>,
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
    axum::extract::Path(org_id): axum::extract::Path<String>,
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

/// A `datetime-local` value (UTC), with or without seconds, or RFC 3339.
fn parse_local(raw: &str, field: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .map(|t| Some(t.and_utc()))
    .ok_or_else(|| {
        ConsoleError(ApiError::invalid(
            field,
            format!("`{raw}` is not a date and time (YYYY-MM-DDTHH:MM:SS, UTC)"),
        ))
    })
}

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
    axum::extract::Path(path): axum::extract::Path<InvoicePath>,
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
    axum::extract::Path(path): axum::extract::Path<LinePath>,
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
    axum::extract::Path(org_id): axum::extract::Path<String>,
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

#[derive(Deserialize)]
pub struct OpsQuery {
    #[serde(default)]
    retried: String,
}

/// `GET /console/ops` (admin): projection lag and the parked syncs.
pub async fn ops(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<OpsQuery>,
) -> Page {
    let auth = auth(&session);
    let projections = ops::read_projections(&state, &auth).await?;
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
    Ok(render(
        StatusCode::OK,
        &views::OpsPage {
            layout: Layout::of(&session, "Operations"),
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
    axum::extract::Path(path): axum::extract::Path<InvoicePath>,
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

/// The most events read per usage line for the charts.
const CHART_EVENT_PAGES: usize = 20;

/// Usage per day of each meter on `invoice`, from the events behind its
/// usage lines (the provenance query), corrections and voids applied.
async fn usage_per_day(
    state: &AppState,
    auth: &Auth,
    invoice: &projections::fold::Invoice,
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
    axum::extract::Path(org_id): axum::extract::Path<String>,
) -> Page {
    let auth = auth(&session);
    let list = invoices::read_list(&state, &auth, &org_id, &ReadOptions::default()).await?;
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
            owed,
            currency,
            period,
            position,
            no_current,
            charts,
        },
    ))
}
