//! Organizations and the price catalog (admin writes; reads for readers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::event::{OrganizationCreated, PriceSet};
use ledger::money::Currency;
use ledger::OrgId;
use projections::fold::OrgBook;
use projections::tables::INVOICES;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{actor, ApiJson, ApiPath, ApiQuery, Auth, OrgPath};
use super::AppState;
use crate::commands::directory::catalog;
use crate::commands::organizations::{self, NewOrganization};
use crate::commands::prices::{self, NewPrice};
use crate::tokens::Role;

/// A registered organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    pub organization: OrganizationCreated,
    /// What it owes: finalized invoices whose payment status is `unpaid`
    /// or `payment_failed` (docs/payments.md).
    pub balance_due: BalanceDue,
}

/// The sum of an organization's finalized, unpaid invoices.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDue {
    pub currency: ledger::money::Currency,
    /// Sum of their totals.
    pub amount: rust_decimal::Decimal,
    /// How many invoices it is made of.
    pub invoices: usize,
}

async fn balance_due(
    state: &AppState,
    organization: &OrganizationCreated,
) -> Result<BalanceDue, ApiError> {
    use projections::{InvoiceStatus, PaymentStatus};
    let invoices = state.tables.org_invoices(&organization.org_id).await?;
    let due: Vec<_> = invoices
        .iter()
        .filter(|i| {
            i.status == InvoiceStatus::Finalized
                && matches!(
                    i.payment_status,
                    PaymentStatus::Unpaid | PaymentStatus::PaymentFailed
                )
        })
        .collect();
    Ok(BalanceDue {
        currency: organization.currency,
        amount: due.iter().map(|i| i.total).sum(),
        invoices: due.len(),
    })
}

/// What registering stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationRegistered {
    pub organization: OrganizationCreated,
    /// Read your write: `?min_position=` on the invoice reads.
    pub position: i64,
}

/// `POST /v1/organizations` (admin): register an organization and open its
/// first billing period, atomically.
#[utoipa::path(
    post,
    path = "/v1/organizations",
    tag = "organizations",
    operation_id = "create_org",
    summary = "Register an organization (admin)",
    request_body = NewOrganization,
    responses(
        (status = 201, description = "Registered", body = OrganizationRegistered),
        (status = 409, description = "Already registered", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<(StatusCode, Json<OrganizationRegistered>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let actor = actor(principal, "/v1/organizations");
    let registered = organizations::register(&state.ctx(), &actor, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrganizationRegistered {
            organization: registered.organization,
            position: registered.position,
        }),
    ))
}

/// `GET /v1/organizations/{org_id}`.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}",
    tag = "organizations",
    operation_id = "get_org",
    summary = "One organization",
    params(OrgPath),
    responses(
        (status = 200, description = "OK", body = OrganizationBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn get_org(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let org = path.org()?;
    auth.read_org(&org)?;
    match state.directory.org(state.store.as_ref(), &org).await? {
        Some(organization) => Ok(Json(OrganizationBody {
            balance_due: balance_due(&state, &organization).await?,
            organization,
        })),
        None => Err(ApiError::not_found(format!(
            "organization `{org}` is not registered"
        ))),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Continue after this organization id (`next_after` of the previous page).
    #[param(min_length = 1, max_length = 150, pattern = "^[A-Za-z0-9._~:@-]+$")]
    pub(crate) after: Option<String>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
}

/// An organization in the directory.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationSummary {
    pub org_id: OrgId,
    pub currency: Currency,
    pub billing_anchor: DateTime<Utc>,
}

/// A page of the directory.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    pub organizations: Vec<OrganizationSummary>,
    /// Pass as `?after=` for the next page; absent on the last one.
    pub next_after: Option<String>,
}

/// `GET /v1/organizations` (support, admin): registered organizations as
/// the invoice projection knows them, in id order, keyset-paged.
#[utoipa::path(
    get,
    path = "/v1/organizations",
    tag = "organizations",
    operation_id = "list_orgs",
    summary = "The organization directory (support)",
    params(Paging),
    responses(
        (status = 200, description = "OK", body = OrganizationList),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list_orgs(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<OrganizationList>, ApiError> {
    read_orgs(&state, &auth, paging).await.map(Json)
}

/// A page of the directory (the JSON API and the console).
pub(crate) async fn read_orgs(
    state: &AppState,
    auth: &Auth,
    paging: Paging,
) -> Result<OrganizationList, ApiError> {
    auth.support()?;
    let limit = match paging.limit {
        None => 100,
        Some(limit @ 1..=1_000) => limit,
        Some(_) => return Err(ApiError::invalid("limit", "limit must be 1 to 1000")),
    };
    if let Some(after) = &paging.after {
        crate::commands::org_id("after", after)?;
    }
    let generation = state.tables.active_generation(INVOICES).await?;
    let after = paging.after.map(|a| format!("org:{a}")).unwrap_or_default();
    let rows = state.tables.org_states(generation, &after, limit).await?;
    let mut organizations = Vec::with_capacity(rows.len());
    for (_, book) in &rows {
        let book: OrgBook = serde_json::from_str(book.get()).map_err(ApiError::internal)?;
        organizations.push(OrganizationSummary {
            org_id: book.org_id,
            currency: book.currency,
            billing_anchor: book.billing_anchor,
        });
    }
    let next_after = (rows.len() == limit as usize)
        .then(|| organizations.last().map(|o| o.org_id.to_string()))
        .flatten();
    Ok(OrganizationList {
        organizations,
        next_after,
    })
}

/// What setting a price stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceStored {
    pub price: PriceSet,
    pub position: i64,
}

/// `POST /v1/prices` (admin): a catalog entry, effective now or later.
#[utoipa::path(
    post,
    path = "/v1/prices",
    tag = "catalog",
    operation_id = "set_price",
    summary = "Set a price for a meter (admin)",
    request_body = NewPrice,
    responses(
        (status = 201, description = "Stored", body = PriceStored),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn set_price(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewPrice>,
) -> Result<(StatusCode, Json<PriceStored>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let stored = prices::set(&state.ctx(), &actor(principal, "/v1/prices"), body).await?;
    Ok((
        StatusCode::CREATED,
        Json(PriceStored {
            price: stored.price,
            position: stored.position,
        }),
    ))
}

/// The price catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceList {
    /// Every entry, in the order set (later entries of a meter apply from their `effective_from`).
    pub prices: Vec<PriceSet>,
    /// The meters usage may name.
    pub meters: Vec<String>,
}

/// `GET /v1/prices`: the catalog, in the order entries were set.
#[utoipa::path(
    get,
    path = "/v1/prices",
    tag = "catalog",
    operation_id = "list_prices",
    summary = "The price catalog",
    responses(
        (status = 200, description = "OK", body = PriceList),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list_prices(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<PriceList>, ApiError> {
    auth.require(&[Role::Support, Role::Ingest, Role::Org])?;
    let prices = catalog(state.store.as_ref()).await?;
    let meters: std::collections::BTreeSet<String> =
        prices.iter().map(|p| p.meter.clone()).collect();
    Ok(Json(PriceList {
        prices,
        meters: meters.into_iter().collect(),
    }))
}
