//! Errors: the crate's own ([`FakeError`]) and Stripe-shaped HTTP errors ([`StripeErr`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Starting or running the fake failed.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// The listen address could not be bound.
    #[error("could not bind the Stripe fake to {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("could not read the Stripe fake's local address")]
    LocalAddr(#[source] std::io::Error),
}

/// An error answered the way Stripe answers: `{"error":{"type","code","message","param"}}`.
#[derive(Debug, Clone)]
pub(crate) struct StripeErr {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    /// Card errors: the issuer's reason; boxed to keep the error small.
    pub card: Option<Box<CardDecline>>,
}

/// What a card error adds to the error object.
#[derive(Debug, Clone)]
pub(crate) struct CardDecline {
    /// `insufficient_funds`, `card_declined`, …
    pub decline_code: String,
}

impl StripeErr {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            headers: Vec::new(),
            card: None,
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid(format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    /// A path object that does not exist: 404 `resource_missing`.
    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        let mut err = Self::invalid(format!("No such {object}: '{id}'"))
            .code("resource_missing")
            .param(param);
        err.status = StatusCode::NOT_FOUND;
        err
    }

    /// An object named by a body parameter that does not exist: 400 `resource_missing`.
    pub fn no_such_param(object: &str, id: &str, param: &str) -> Self {
        Self::invalid(format!("No such {object}: '{id}'"))
            .code("resource_missing")
            .param(param)
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(card) = &self.card {
            error.insert("decline_code".into(), json!(card.decline_code));
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeErr {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        for (name, value) in &self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(*name, value);
            }
        }
        response
    }
}
