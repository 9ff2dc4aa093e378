//! What can go wrong talking to Stripe, split into retryable and permanent.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Stripe's error object: the `error` member of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// `api_error`, `card_error`, `idempotency_error`, `invalid_request_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// A short machine-readable code such as `lock_timeout` or `parameter_unknown`.
    #[serde(default)]
    pub code: Option<String>,
    /// Human-readable message from Stripe.
    #[serde(default)]
    pub message: Option<String>,
    /// The parameter the error relates to, if any.
    #[serde(default)]
    pub param: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, "/{code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(param) = &self.param {
            write!(f, " (param {param})")?;
        }
        Ok(())
    }
}

/// Whether trying the same call again (with the same idempotency key) may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: rate limits, lock timeouts, idempotency key in use, 5xx, timeouts, resets.
    Retryable,
    /// Will fail the same way again: fix the request or the data first.
    Permanent,
}

/// The Stripe client's error.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error status.
    #[error("Stripe answered {status}: {error}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stripe's error object (boxed to keep the error small).
        error: Box<ApiError>,
        /// Parsed `Retry-After` header.
        retry_after: Option<Duration>,
        /// `Stripe-Should-Retry` header; when present it decides the class.
        should_retry: Option<bool>,
        /// `Request-Id` header, for Stripe support.
        request_id: Option<String>,
    },
    /// The connect or request timeout elapsed; the call may or may not have taken effect.
    #[error("Stripe request timed out")]
    Timeout(#[source] reqwest::Error),
    /// The connection failed or was closed before a full response arrived; the call may
    /// or may not have taken effect.
    #[error("connection to Stripe failed or was lost")]
    Connection(#[source] reqwest::Error),
    /// A success response whose body is not the object we expected. After a write
    /// (`POST`, `DELETE`) Stripe *has* made the change, so the call is in doubt, not
    /// permanent: the caller must re-read Stripe before doing anything else.
    #[error("unexpected response body from Stripe (status {status})")]
    Decode {
        /// HTTP status.
        status: u16,
        /// Whether the request was a write that Stripe answered with success.
        write: bool,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Refused before sending: the request could never succeed.
    #[error("invalid Stripe request: {0}")]
    InvalidRequest(String),
    /// Parameters could not be form-encoded.
    #[error("could not form-encode Stripe parameters")]
    Encode(#[from] serde_qs::Error),
    /// Configuration is unusable.
    #[error("invalid Stripe configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built or the request not assembled.
    #[error("could not build the HTTP request to Stripe")]
    Http(#[source] reqwest::Error),
}

impl StripeError {
    /// Retryable or permanent. `Stripe-Should-Retry`, when sent, overrides the status.
    pub fn class(&self) -> ErrorClass {
        let retryable = match self {
            Self::Api {
                should_retry: Some(decided),
                ..
            } => *decided,
            Self::Api { status, .. } => *status == 429 || *status == 409 || *status >= 500,
            Self::Timeout(_) | Self::Connection(_) => true,
            Self::Decode { write, .. } => *write,
            Self::InvalidRequest(_) | Self::Encode(_) | Self::Config(_) | Self::Http(_) => false,
        };
        if retryable {
            ErrorClass::Retryable
        } else {
            ErrorClass::Permanent
        }
    }

    /// Shorthand for `class() == ErrorClass::Retryable`.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// How long Stripe asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Stripe's error object, when Stripe answered with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// Stripe's error `code`, when Stripe answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api_error().and_then(|e| e.code.as_deref())
    }

    /// The HTTP status, when Stripe answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the call may have taken effect without our hearing of it: a timeout, a
    /// lost connection, or a write whose successful answer we could not read.
    pub fn is_in_doubt(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Connection(_) | Self::Decode { write: true, .. }
        )
    }

    /// Whether the failure says Stripe itself is failing (5xx, a timeout, a connection
    /// that failed or broke), as the circuit breaker counts it. Refusals (4xx, 429) and
    /// undecodable bodies mean Stripe is up.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status >= 500,
            Self::Timeout(_) | Self::Connection(_) => true,
            _ => false,
        }
    }

    pub(crate) fn from_transport(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout(err)
        } else if err.is_builder() {
            Self::Http(err)
        } else {
            Self::Connection(err)
        }
    }
}
