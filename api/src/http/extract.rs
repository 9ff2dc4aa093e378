//! Extractors that answer bad input and missing credentials in our error
//! shape, and the role checks handlers make.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use ledger::OrgId;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::tokens::{self, Principal, Role};

/// A JSON body; malformed JSON, unknown fields or wrong types are a 400/422
/// naming the problem.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.body_text(),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(JsonRejection::BytesRejection(e)) => Err(ApiError::new(
                e.status(),
                "body_too_large_or_unreadable",
                e.body_text(),
            )),
            Err(e) => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "malformed_json",
                e.body_text(),
            )),
        }
    }
}

/// Query parameters; unknown or malformed ones are a 400 naming them.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_query",
                    e.body_text(),
                )
            })
    }
}

/// The authenticated caller (401 without a valid bearer token).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("missing `Authorization: Bearer <token>` header")
            })?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        match tokens::authenticate(&state.db, token.trim()).await? {
            Some(principal) => Ok(Self(principal)),
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}

impl Auth {
    /// 403 unless the token has one of `roles` (admin may do everything).
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        let role = self.0.role;
        if role == Role::Admin || roles.contains(&role) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "a `{}` token may not do this (needs {})",
                role.as_str(),
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }

    /// Read access to one organization: support, admin, or a token scoped
    /// to exactly that organization.
    pub fn read_org(&self, org: &OrgId) -> Result<(), ApiError> {
        match (self.0.role, &self.0.org) {
            (Role::Admin | Role::Support, _) => Ok(()),
            (Role::Org, Some(own)) if own == org => Ok(()),
            (Role::Org, _) => Err(ApiError::forbidden(format!(
                "this token may only read organization `{}`",
                self.0.org.as_ref().map_or("", OrgId::as_str)
            ))),
            (role, _) => Err(ApiError::forbidden(format!(
                "a `{}` token may not read invoices",
                role.as_str()
            ))),
        }
    }

    /// Support and admin only (audit history).
    pub fn support(&self) -> Result<&Principal, ApiError> {
        self.require(&[Role::Support])
    }
}

/// Parse a path or body org id into a 422 naming the field.
pub fn org_id(raw: &str, field: &str) -> Result<OrgId, ApiError> {
    OrgId::new(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}
