//! Faults injected into the next N matching requests.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::StripeErr;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `rate_limit` with `Retry-After`.
    RateLimit {
        /// Seconds sent in `Retry-After`.
        retry_after_secs: u64,
    },
    /// 429 `lock_timeout` (another request holds the object) with `Retry-After`.
    LockTimeout {
        /// Seconds sent in `Retry-After`.
        retry_after_secs: u64,
    },
    /// 500 `api_error`; nothing happens.
    ServerError,
    /// The request waits this long, then runs normally (to exceed a client timeout).
    Latency {
        /// Added delay in milliseconds.
        delay_ms: u64,
    },
    /// The request runs and its effect is kept (and stored for idempotent replay), then
    /// the connection is closed without a response.
    CommitThenDrop,
    /// The request runs and its effect is kept, then it is answered `200` with a body
    /// that is not the object asked for (as a client pinned to another API version, or
    /// a proxy that mangles bodies, would see it). A replay of the key answers normally.
    UnreadableBody,
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// What goes wrong.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only requests with this method (`POST`, …); any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path matches: segments compared one by one, `*` matches one
    /// segment, a final `**` any rest. Any path when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
    /// Sends `Stripe-Should-Retry: true|false` with the error response.
    #[serde(default)]
    pub should_retry: Option<bool>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault for the next request, whatever it is.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            method: None,
            path: None,
            times: 1,
            should_retry: None,
        }
    }

    /// 429 rate limit telling the client to wait `retry_after`.
    pub fn rate_limit(retry_after: Duration) -> Self {
        Self::new(FaultKind::RateLimit {
            retry_after_secs: retry_after.as_secs(),
        })
    }

    /// 429 `lock_timeout` telling the client to wait `retry_after`.
    pub fn lock_timeout(retry_after: Duration) -> Self {
        Self::new(FaultKind::LockTimeout {
            retry_after_secs: retry_after.as_secs(),
        })
    }

    /// 500 `api_error`.
    pub fn server_error() -> Self {
        Self::new(FaultKind::ServerError)
    }

    /// Delay before handling.
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultKind::Latency {
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Commit the change, then drop the connection without answering.
    pub fn commit_then_drop() -> Self {
        Self::new(FaultKind::CommitThenDrop)
    }

    /// Commit the change, then answer `200` with a body the client cannot decode.
    pub fn unreadable_body() -> Self {
        Self::new(FaultKind::UnreadableBody)
    }

    /// Restricts the fault to `method` and the path pattern `path`.
    pub fn on(mut self, method: &str, path: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self.path = Some(path.to_owned());
        self
    }

    /// Applies to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Sends `Stripe-Should-Retry` with the error.
    pub fn should_retry(mut self, retry: bool) -> Self {
        self.should_retry = Some(retry);
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        method_ok && self.path.as_deref().is_none_or(|p| path_matches(p, path))
    }

    /// The error response for error faults; `None` for latency, drop and unreadable body.
    pub(crate) fn error(&self) -> Option<StripeErr> {
        let err = match self.kind {
            FaultKind::RateLimit { retry_after_secs } => StripeErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
            )
            .code("rate_limit")
            .header("retry-after", retry_after_secs.to_string()),
            FaultKind::LockTimeout { retry_after_secs } => StripeErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request.",
            )
            .code("lock_timeout")
            .header("retry-after", retry_after_secs.to_string()),
            FaultKind::ServerError => StripeErr::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "An unknown error occurred (injected by the Stripe fake).",
            ),
            FaultKind::Latency { .. } | FaultKind::CommitThenDrop | FaultKind::UnreadableBody => {
                return None
            }
        };
        Some(match self.should_retry {
            Some(retry) => err.header("stripe-should-retry", retry.to_string()),
            None => err,
        })
    }
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.trim_end_matches('/').split('/');
    let mut segs = path.trim_end_matches('/').split('/');
    loop {
        match (pat.next(), segs.next()) {
            (Some("**"), _) => return true,
            (Some(p), Some(s)) if p == "*" || p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn path_patterns_match_segments_and_wildcards() {
        assert!(path_matches("/v1/invoices", "/v1/invoices"));
        assert!(path_matches(
            "/v1/invoices/*/finalize",
            "/v1/invoices/in_1/finalize"
        ));
        assert!(!path_matches(
            "/v1/invoices/*",
            "/v1/invoices/in_1/finalize"
        ));
        assert!(path_matches("/v1/**", "/v1/invoices/in_1/lines"));
        assert!(!path_matches("/v1/invoices", "/v1/invoiceitems"));
    }
}
