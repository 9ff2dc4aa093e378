//! Extractors that answer bad input and missing credentials in our error
//! shape, and the role checks handlers make.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use ledger::OrgId;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::tokens::{self, Principal, Role};

/// A JSON body. Malformed JSON is a 400 `malformed_json`; a body that
/// does not match the operation's schema (a type, a required or unknown
/// field, a pattern) is a 400 `invalid_body` whose `field` is the path to
/// the offending value (`spec.minimum_charge`); a body that is not JSON is a
/// 415; one over the size limit a 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        use axum::http::StatusCode;
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::new(e.status(), "body_too_large_or_unreadable", e.body_text())
            })?;
        let malformed = |inner: serde_json::Error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        };
        let mut body = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize::<_, T>(&mut body).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                let error = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    if path == "." {
                        inner.to_string()
                    } else {
                        format!("{path}: {inner}")
                    },
                );
                if path == "." {
                    error
                } else {
                    error.with_field(path)
                }
            } else {
                malformed(inner)
            }
        })?;
        // Trailing characters after the value are malformed JSON too.
        body.end().map_err(malformed)?;
        Ok(Self(value))
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

/// Path parameters; a malformed one is a 400 naming it.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e: PathRejection| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_path",
                    e.body_text(),
                )
            })
    }
}

/// Who writes, for the metadata of the events a command appends.
pub fn actor(principal: &Principal, route: &str) -> crate::commands::Actor {
    crate::commands::Actor {
        actor: format!("token:{}", principal.name),
        source: format!("api:{route}"),
    }
}

/// `{org_id}` in a path.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The platform's organization id.
    #[param(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    pub org_id: String,
}

impl OrgPath {
    pub fn org(&self) -> Result<OrgId, ApiError> {
        org_id(&self.org_id, "org_id")
    }
}

/// Parse a period start — a date (`YYYY-MM-DD`, midnight UTC) or an RFC
/// 3339 time — into a 422 naming it.
pub fn period_start(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::invalid(
                "period_start",
                format!("`{raw}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
            )
        })
}

/// `{org_id}` and an invoice's `{period_start}`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvoicePath {
    #[param(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    pub org_id: String,
    /// The period's start: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
    #[param(
        example = "2026-11-01",
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub period_start: String,
}

impl InvoicePath {
    pub fn invoice(&self) -> Result<(OrgId, chrono::DateTime<chrono::Utc>), ApiError> {
        Ok((
            org_id(&self.org_id, "org_id")?,
            period_start(&self.period_start)?,
        ))
    }
}

/// An invoice line: `{org_id}`, `{period_start}`, `{line_id}`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LinePath {
    #[param(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    pub org_id: String,
    #[param(
        example = "2026-11-01",
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub period_start: String,
    /// A line id of the invoice (`line_id` of its lines).
    #[param(min_length = 1, max_length = 300, example = "usage:cpu_seconds:cpu")]
    pub line_id: String,
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
    Ok(crate::commands::org_id(field, raw)?)
}
