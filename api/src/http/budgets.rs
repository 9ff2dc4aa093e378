//! Budgets and the enforcement signal: `PUT`/`GET
//! /v1/organizations/{org_id}/budget` and `GET
//! /v1/organizations/{org_id}/spend` (spend so far, forecast, budget,
//! thresholds crossed, `over_budget`), cheap enough to call on every deploy.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::event::{AlertKind, BudgetSet, BudgetThreshold};
use ledger::money::Currency;
use ledger::OrgId;
use projections::fold::{Forecast, Invoice, InvoiceStatus};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{actor, ApiJson, ApiPath, ApiQuery, Auth, OrgPath};
use super::invoices::{reflecting, Reflects};
use super::AppState;
use crate::commands::budgets::{self, BudgetRequest};
use crate::tokens::{Principal, Role};

/// A budget in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    pub org_id: OrgId,
    /// 1 for the first budget set, +1 for each change.
    pub version: i64,
    /// The spend limit per billing period.
    pub amount: Decimal,
    pub currency: Currency,
    /// Ascending by the amount they stand for.
    pub thresholds: Vec<ThresholdView>,
    /// Event position of the `BudgetSet` that set it.
    pub position: i64,
}

/// A threshold and the spend at which it is crossed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ThresholdView {
    pub threshold: BudgetThreshold,
    /// The spend that crosses it, shown rounded to the currency's minor
    /// unit (a percent's exact share is what spend is compared with).
    pub amount: Decimal,
}

/// What a `PUT` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetStored {
    /// `false` when the budget in force was already exactly this (nothing written).
    pub changed: bool,
    pub budget: BudgetView,
}

pub(super) fn view(budget: &BudgetSet, position: i64) -> BudgetView {
    BudgetView {
        org_id: budget.org_id.clone(),
        version: budget.version,
        amount: shown(budget.currency, budget.amount.value()),
        currency: budget.currency,
        thresholds: projections::budget::levels(budget)
            .into_iter()
            .map(|l| ThresholdView {
                threshold: l.threshold,
                amount: shown(budget.currency, l.amount),
            })
            .collect(),
        position,
    }
}

/// An amount at the currency's minor unit (`100` → `100.00` in USD).
fn shown(currency: Currency, amount: Decimal) -> Decimal {
    currency.invoice_amount(amount).unwrap_or(amount)
}

/// Admin, or an org token for its own organization.
fn may_manage<'a>(auth: &'a Auth, org: &OrgId) -> Result<&'a Principal, ApiError> {
    match (auth.0.role, &auth.0.org) {
        (Role::Admin, _) => Ok(&auth.0),
        (Role::Org, Some(own)) if own == org => Ok(&auth.0),
        (Role::Org, _) => Err(ApiError::forbidden(format!(
            "this token may only manage the budget of organization `{}`",
            auth.0.org.as_ref().map_or("", OrgId::as_str)
        ))),
        (role, _) => Err(ApiError::forbidden(format!(
            "a `{}` token may not set budgets (needs admin or the organization's own token)",
            role.as_str()
        ))),
    }
}

/// `PUT /v1/organizations/{org_id}/budget`: put a budget in force.
#[utoipa::path(
    put,
    path = "/v1/organizations/{org_id}/budget",
    tag = "budgets",
    operation_id = "put_budget",
    summary = "Set the organization's budget (admin or the organization's token)",
    params(OrgPath),
    request_body = BudgetRequest,
    responses(
        (status = 200, description = "In force (`changed` says whether a new version was stored)", body = BudgetStored),
        (status = 409, description = "Another budget was set meanwhile: read it and retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn put_budget(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiJson(request): ApiJson<BudgetRequest>,
) -> Result<Json<BudgetStored>, ApiError> {
    let org = path.org()?;
    let principal = may_manage(&auth, &org)?;
    let actor = actor(principal, "/v1/organizations/{org_id}/budget");
    let put = budgets::put(&state.ctx(), &actor, &org, request).await?;
    Ok(Json(BudgetStored {
        changed: !put.unchanged,
        budget: view(&put.budget, put.position),
    }))
}

/// The organization of `path`, if this token may read it and it exists.
async fn readable(state: &AppState, auth: &Auth, path: &OrgPath) -> Result<OrgId, ApiError> {
    super::invoices::readable_org(state, auth, &path.org_id).await
}

/// `GET /v1/organizations/{org_id}/budget`: the budget in force.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/budget",
    tag = "budgets",
    operation_id = "get_budget",
    summary = "The organization's budget in force",
    params(OrgPath),
    responses(
        (status = 200, description = "OK", body = BudgetView),
        (status = "4XX", description = "A JSON error naming the problem (404: no budget set)", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn get_budget(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
) -> Result<Json<BudgetView>, ApiError> {
    let org = readable(&state, &auth, &path).await?;
    let (budget, position) = projections::budget::latest(state.store.as_ref(), &org)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("organization `{org}` has no budget")))?;
    Ok(Json(view(&budget, position)))
}

/// A threshold the period's spend or forecast has reached.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CrossedThreshold {
    pub threshold: BudgetThreshold,
    pub amount: Decimal,
    /// `actual`: spend so far reached it; `projected`: the forecast does.
    pub kind: AlertKind,
}

/// The enforcement signal for one organization's current period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Spend {
    pub org_id: OrgId,
    pub reflects: Reflects,
    pub currency: Currency,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The open invoice's total so far.
    pub spend: Decimal,
    /// The projected total at the period's end (absent if it cannot be
    /// computed, e.g. an amount out of range).
    pub forecast: Option<Decimal>,
    /// The budget in force, if one is set.
    pub budget: Option<BudgetView>,
    /// Thresholds reached, ascending; each at most once per kind.
    pub thresholds_crossed: Vec<CrossedThreshold>,
    /// Spend so far has reached the budget's amount.
    pub over_budget: bool,
    /// The forecast reaches the budget's amount.
    pub projected_over_budget: bool,
}

/// The open invoice for the period containing `now`, else the latest open one.
pub(super) fn current_invoice(invoices: &[Invoice], now: DateTime<Utc>) -> Option<&Invoice> {
    let open = invoices.iter().filter(|i| i.status == InvoiceStatus::Open);
    open.clone()
        .find(|i| i.period_start <= now && now < i.period_end)
        .or_else(|| open.max_by_key(|i| i.period_start))
}

/// The forecast of `invoice` as of `now`, from the live generation's book;
/// `None` (logged) when it cannot be computed.
pub(super) async fn forecast_of(
    state: &AppState,
    invoice: &Invoice,
    now: DateTime<Utc>,
) -> Result<Option<Forecast>, ApiError> {
    let Some(book) = projections::budget::live_book(state.tables.as_ref(), &invoice.org_id).await?
    else {
        return Ok(None);
    };
    match book.forecast(invoice.period_start, now) {
        Ok(forecast) => Ok(forecast),
        Err(err) => {
            tracing::warn!(org_id = %invoice.org_id, error = %err, "no forecast");
            Ok(None)
        }
    }
}

/// Read-your-writes for the spend signal.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpendOptions {
    /// Wait (up to 5 s) until the projection has folded this event position;
    /// 503 if it has not by then.
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

/// `GET /v1/organizations/{org_id}/spend`: spend so far, forecast, budget,
/// thresholds crossed and `over_budget`, for the current period.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/spend",
    tag = "budgets",
    operation_id = "get_spend",
    summary = "Spend, forecast and budget of the current period (the enforcement signal)",
    params(OrgPath, SpendOptions),
    responses(
        (status = 200, description = "OK", body = Spend),
        (status = 503, description = "`min_position` not reached within the wait: retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn spend(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiQuery(options): ApiQuery<SpendOptions>,
) -> Result<Json<Spend>, ApiError> {
    let org = readable(&state, &auth, &path).await?;
    read_spend(&state, &org, options.min_position)
        .await
        .map(Json)
}

/// The spend signal of `org` (already authorised): the JSON API and the
/// console read it through this one function.
pub(crate) async fn read_spend(
    state: &AppState,
    org: &OrgId,
    min_position: Option<i64>,
) -> Result<Spend, ApiError> {
    let org = org.clone();
    let checkpoint = reflecting(state, min_position).await?;
    let now = Utc::now();
    let invoices = state.tables.org_invoices(&org).await?;
    let invoice = current_invoice(&invoices, now).ok_or_else(|| {
        ApiError::not_found(format!("organization `{org}` has no open invoice yet"))
    })?;
    let forecast = forecast_of(state, invoice, now).await?.map(|f| f.total);
    let budget = projections::budget::latest(state.store.as_ref(), &org).await?;
    let mut crossed = Vec::new();
    let (mut over, mut projected_over) = (false, false);
    if let Some((budget, _)) = &budget {
        for level in projections::budget::levels(budget) {
            for (kind, value) in [
                (AlertKind::Actual, Some(invoice.total)),
                (AlertKind::Projected, forecast),
            ] {
                if value.is_some_and(|v| projections::budget::reached(v, &level)) {
                    crossed.push(CrossedThreshold {
                        threshold: level.threshold,
                        amount: shown(invoice.currency, level.amount),
                        kind,
                    });
                }
            }
        }
        over = invoice.total >= budget.amount.value();
        projected_over = forecast.is_some_and(|f| f >= budget.amount.value());
    }
    Ok(Spend {
        org_id: org,
        reflects: Reflects {
            position: checkpoint.position,
            projected_at: checkpoint.updated_at,
        },
        currency: invoice.currency,
        period_start: invoice.period_start,
        period_end: invoice.period_end,
        spend: invoice.total,
        forecast,
        budget: budget.map(|(b, p)| view(&b, p)),
        thresholds_crossed: crossed,
        over_budget: over,
        projected_over_budget: projected_over,
    })
}
