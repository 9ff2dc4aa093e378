//! Organizations and the price catalog (admin writes; reads for readers).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use ledger::event::{
    EventMetadata, InvoiceKey, InvoicePeriodOpened, OrganizationCreated, PriceSet,
};
use ledger::money::Currency;
use ledger::pricing::PriceSpec;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, StreamAppend, StreamId};
use projections::fold::OrgBook;
use projections::period::period_containing;
use projections::tables::INVOICES;
use serde::Deserialize;
use serde_json::{json, Value};

use super::directory::catalog;
use super::error::ApiError;
use super::extract::{org_id, ApiJson, ApiQuery, Auth};
use super::AppState;
use crate::tokens::{Principal, Role};

pub(super) fn metadata(principal: &Principal, source: &str) -> EventMetadata {
    EventMetadata {
        actor: Some(format!("token:{}", principal.name)),
        source: Some(format!("api:{source}")),
        correlation_id: Some(uuid::Uuid::now_v7().to_string()),
        causation_id: None,
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    org_id: String,
    name: String,
    currency: String,
    /// Start of the first billing period; default: today 00:00 UTC.
    billing_anchor: Option<DateTime<Utc>>,
    stripe_customer_id: Option<String>,
}

/// `POST /v1/organizations` (admin): register an organization and open its
/// first billing period, atomically.
#[utoipa::path(
    post,
    path = "/v1/organizations",
    tag = "organizations",
    summary = "Register an organization (admin)",
    request_body = NewOrganization,
    responses((status = 201, description = "Registered", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = org_id(&body.org_id, "org_id")?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::invalid(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    let currency: Currency = body
        .currency
        .parse()
        .map_err(|e: ledger::money::ValueError| ApiError::invalid("currency", e.to_string()))?;
    let now = Utc::now();
    let anchor = match body.billing_anchor {
        Some(anchor) if anchor > now => {
            return Err(ApiError::invalid(
                "billing_anchor",
                "billing_anchor must not be in the future",
            ))
        }
        Some(anchor) => anchor,
        None => now.duration_trunc(TimeDelta::days(1)).unwrap_or(now),
    };
    let created = OrganizationCreated {
        org_id: org.clone(),
        name: body.name.trim().to_owned(),
        currency,
        billing_anchor: anchor,
        stripe_customer_id: body.stripe_customer_id,
    };
    let period = period_containing(anchor, now);
    let opened = InvoicePeriodOpened {
        invoice: InvoiceKey {
            org_id: org.clone(),
            period_start: period.start,
        },
        period_end: period.end,
    };
    let meta = metadata(principal, "/v1/organizations");
    let created_event =
        NewEvent::from_domain(&LedgerEvent::OrganizationCreated(created.clone()), now)
            .map_err(ApiError::internal)?
            .with_metadata(meta.clone());
    let opened_event = NewEvent::from_domain(&LedgerEvent::InvoicePeriodOpened(opened), now)
        .map_err(ApiError::internal)?
        .with_metadata(meta)
        .with_idempotency_key(format!(
            "invoice-opened:{}",
            StreamId::invoice(&org, period.start)
        ));
    let result = state
        .store
        .append_batch(vec![
            StreamAppend {
                stream_id: StreamId::organization(&org),
                expected: ExpectedVersion::NoStream,
                events: vec![created_event],
            },
            StreamAppend {
                stream_id: StreamId::invoice(&org, period.start),
                expected: ExpectedVersion::Any,
                events: vec![opened_event],
            },
        ])
        .await;
    match result {
        Ok(outcomes) => {
            let position = outcomes
                .iter()
                .flat_map(|o| &o.results)
                .map(|r| r.global_position())
                .max();
            Ok((
                StatusCode::CREATED,
                Json(json!({"organization": created, "position": position})),
            ))
        }
        Err(ledger::StoreError::Conflict { .. }) => Err(ApiError::conflict(format!(
            "organization `{org}` is already registered"
        ))
        .with_field("org_id")),
        Err(other) => Err(other.into()),
    }
}

/// `GET /v1/organizations/{org_id}`.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}",
    tag = "organizations",
    summary = "One organization",
    params(("org_id" = String, Path, description = "The platform's organization id")),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn get_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = org_id(&raw, "org_id")?;
    auth.read_org(&org)?;
    match state.directory.org(state.store.as_ref(), &org).await? {
        Some(created) => Ok(Json(json!({"organization": created}))),
        None => Err(ApiError::not_found(format!(
            "organization `{org}` is not registered"
        ))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/organizations` (support, admin): registered organizations as
/// the invoice projection knows them, in id order, keyset-paged.
#[utoipa::path(
    get,
    path = "/v1/organizations",
    tag = "organizations",
    summary = "The organization directory (support)",
    params(Paging),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn list_orgs(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Value>, ApiError> {
    auth.support()?;
    let limit = paging.limit.unwrap_or(100).clamp(1, 1_000);
    let generation = state.tables.active_generation(INVOICES).await?;
    let after = paging.after.map(|a| format!("org:{a}")).unwrap_or_default();
    let rows = state.tables.org_states(generation, &after, limit).await?;
    let mut orgs = Vec::with_capacity(rows.len());
    for (_, book) in &rows {
        let book: OrgBook = serde_json::from_str(book.get()).map_err(ApiError::internal)?;
        orgs.push(json!({
            "org_id": book.org_id,
            "currency": book.currency,
            "billing_anchor": book.billing_anchor,
        }));
    }
    let next = (rows.len() == limit as usize)
        .then(|| {
            orgs.last()
                .and_then(|o| o["org_id"].as_str().map(str::to_owned))
        })
        .flatten();
    Ok(Json(json!({"organizations": orgs, "next_after": next})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    price_id: String,
    meter: String,
    currency: String,
    unit: String,
    description: String,
    /// `{"model": {"type": "per_unit"|"graduated"|"volume", …}, "free_allowance"?, "minimum_charge"?}`
    #[schema(value_type = Object)]
    spec: PriceSpec,
    /// Default now; may not be in the past (history is never repriced).
    effective_from: Option<DateTime<Utc>>,
}

fn plain_name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to 64 of a-z, 0-9, `_`, `-`"),
        ))
    }
}

/// `POST /v1/prices` (admin): a catalog entry, effective now or later.
#[utoipa::path(
    post,
    path = "/v1/prices",
    tag = "catalog",
    summary = "Set a price for a meter (admin)",
    request_body = NewPrice,
    responses((status = 201, description = "Stored", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn set_price(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewPrice>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    plain_name("meter", &body.meter)?;
    plain_name("price_id", &body.price_id)?;
    let currency: Currency = body
        .currency
        .parse()
        .map_err(|e: ledger::money::ValueError| ApiError::invalid("currency", e.to_string()))?;
    let now = Utc::now();
    let effective_from = body.effective_from.unwrap_or(now);
    if effective_from < now - TimeDelta::minutes(5) {
        return Err(ApiError::invalid(
            "effective_from",
            "effective_from must not be in the past: a price change applies to usage from now on",
        ));
    }
    let price = PriceSet {
        price_id: body.price_id,
        meter: body.meter,
        currency,
        unit: body.unit,
        description: body.description,
        spec: body.spec,
        effective_from,
    };
    let event = NewEvent::from_domain(&LedgerEvent::PriceSet(price.clone()), now)
        .map_err(ApiError::internal)?
        .with_metadata(metadata(principal, "/v1/prices"));
    let outcome = state
        .store
        .append(&StreamId::catalog(), ExpectedVersion::Any, vec![event])
        .await?;
    let position = outcome.results.first().map(|r| r.global_position());
    Ok((
        StatusCode::CREATED,
        Json(json!({"price": price, "position": position})),
    ))
}

/// `GET /v1/prices`: the catalog, in the order entries were set.
#[utoipa::path(
    get,
    path = "/v1/prices",
    tag = "catalog",
    summary = "The price catalog",
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn list_prices(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    auth.require(&[Role::Support, Role::Ingest, Role::Org])?;
    let prices = catalog(state.store.as_ref()).await?;
    let meters: std::collections::BTreeSet<&str> =
        prices.iter().map(|p| p.meter.as_str()).collect();
    Ok(Json(json!({"prices": prices, "meters": meters})))
}
