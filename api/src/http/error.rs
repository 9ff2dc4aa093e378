//! One error type for every handler: client errors say exactly what is
//! wrong; server errors are logged with their cause chain and never leak.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The one error envelope every 4xx and 5xx answer carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "invalid", "message": "quantity must not be negative", "field": "records[0].quantity"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `field`) and people (`message`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: `bad_request`, `invalid`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `read_only`, `unavailable`, `internal`, …
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The request field at fault, when there is one (`records[3].meter`).
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: well-formed but refused (unknown org, negative quantity…).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 503 on an API replica opened read-only: writes go to the primary.
    pub fn read_only() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read_only",
            "this API server is a read-only replica: send writes to the primary",
        )
    }

    /// 500: logged with the cause chain; the client sees a generic message.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::commands::FieldError> for ApiError {
    fn from(err: crate::commands::FieldError) -> Self {
        Self::invalid(err.field, err.message)
    }
}

impl From<crate::commands::Rejection> for ApiError {
    fn from(err: crate::commands::Rejection) -> Self {
        use crate::commands::Rejection as R;
        match err {
            R::Invalid(e) => e.into(),
            R::NotFound(message) => Self::not_found(message),
            R::Conflict { message, field } => {
                let conflict = Self::conflict(message);
                match field {
                    Some(field) => conflict.with_field(field),
                    None => conflict,
                }
            }
            R::Store(e) => e.into(),
        }
    }
}

impl From<sync::SyncError> for ApiError {
    fn from(err: sync::SyncError) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

impl From<ledger::StoreError> for ApiError {
    fn from(err: ledger::StoreError) -> Self {
        use ledger::StoreError as E;
        match err {
            E::Conflict { .. } => Self::conflict(err.to_string()),
            E::InvalidEvent { .. } | E::InvalidQuery(_) => Self::bad_request(err.to_string()),
            E::UniqueViolation { .. } => Self::conflict(err.to_string()),
            E::ReadOnly => Self::read_only(),
            other => Self::internal(format!("{other:#}")),
        }
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(err: projections::ProjectionError) -> Self {
        match err {
            // The organization's own events break a rule of the fold (an
            // amount beyond what an invoice may carry, say; the projection
            // parks such an organization): a fact about the data that the
            // caller should read, not a fault of the server.
            fold @ projections::ProjectionError::Fold { .. } => Self::conflict(format!(
                "this organization's invoices cannot be computed at that moment: {fold}"
            )),
            other => Self::internal(format!("{other:#}")),
        }
    }
}

impl From<projections::tables::TableError> for ApiError {
    fn from(err: projections::tables::TableError) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format!("{err:#}"))
    }
}
