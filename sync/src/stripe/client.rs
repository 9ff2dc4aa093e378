//! Transport: authentication, form encoding, idempotency keys and error mapping.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ApiError, StripeConfig, StripeError};

/// The key Stripe uses to make a `POST` take effect once (`Idempotency-Key` header):
/// 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Stripe's limit on the key's length.
    pub const MAX_LEN: usize = 255;

    /// Checks the key's length and characters.
    pub fn new(key: impl Into<String>) -> Result<Self, StripeError> {
        let key = key.into();
        if key.is_empty() || key.len() > Self::MAX_LEN {
            return Err(StripeError::InvalidRequest(format!(
                "an idempotency key must be 1 to {} characters, got {}",
                Self::MAX_LEN,
                key.len()
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StripeError::InvalidRequest(
                "an idempotency key must be visible ASCII characters".to_owned(),
            ));
        }
        Ok(Self(key))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Stripe API client; cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: Arc<Url>,
    api_key: SecretString,
    api_version: HeaderValue,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ApiError,
}

impl StripeClient {
    /// Builds a client; no request is made.
    pub fn new(config: &StripeConfig) -> Result<Self, StripeError> {
        let api_base = Url::parse(&config.api_base)
            .map_err(|e| StripeError::Config(format!("STRIPE_API_BASE is not a URL: {e}")))?;
        if api_base.cannot_be_a_base() {
            return Err(StripeError::Config(
                "STRIPE_API_BASE cannot be a base URL".to_owned(),
            ));
        }
        if !super::is_api_version(&config.api_version) {
            return Err(StripeError::Config(format!(
                "{:?} is not a Stripe API version",
                config.api_version
            )));
        }
        let api_version = HeaderValue::from_str(&config.api_version)
            .map_err(|_| StripeError::Config("the API version is not a header value".into()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("billing-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StripeError::Http)?;
        Ok(Self {
            http,
            api_base: Arc::new(api_base),
            api_key: config.api_key.clone(),
            api_version,
        })
    }

    /// The API version every request pins (`Stripe-Version`).
    pub fn api_version(&self) -> &str {
        self.api_version.to_str().unwrap_or_default()
    }

    fn url(&self, segments: &[&str]) -> Result<Url, StripeError> {
        let mut url = (*self.api_base).clone();
        url.path_segments_mut()
            .map_err(|()| StripeError::Config("STRIPE_API_BASE cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Stripe's form encoding of `params` (`metadata[k]=v`); nothing at all when no
    /// parameter is set (`serde_qs` renders an empty flattened struct as `=`).
    pub fn encode(params: &impl Serialize) -> Result<String, StripeError> {
        let is_empty = match serde_json::to_value(params) {
            Ok(serde_json::Value::Object(map)) => map.is_empty(),
            Ok(serde_json::Value::Null) => true,
            _ => false,
        };
        if is_empty {
            return Ok(String::new());
        }
        Ok(serde_qs::to_string(params)?)
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &impl Serialize,
    ) -> Result<T, StripeError> {
        let mut url = self.url(segments)?;
        let query = Self::encode(query)?;
        if !query.is_empty() {
            url.set_query(Some(&query));
        }
        self.send(Method::GET, self.http.get(url)).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        form: &impl Serialize,
        key: &IdempotencyKey,
    ) -> Result<T, StripeError> {
        let url = self.url(segments)?;
        let body = Self::encode(form)?;
        let request = self
            .http
            .post(url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header("Idempotency-Key", key.as_str())
            .body(body);
        self.send(Method::POST, request).await
    }

    pub(crate) async fn delete<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<T, StripeError> {
        let url = self.url(segments)?;
        self.send(Method::DELETE, self.http.delete(url)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        request: RequestBuilder,
    ) -> Result<T, StripeError> {
        let request = request
            .bearer_auth(self.api_key.expose_secret())
            .header(STRIPE_VERSION, self.api_version.clone())
            .build()
            .map_err(StripeError::Http)?;
        let path = request.url().path().to_owned();
        let response = self
            .http
            .execute(request)
            .await
            .map_err(StripeError::from_transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = header_str(&headers, "request-id").map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(StripeError::from_transport)?;
        tracing::debug!(
            method = %method,
            path = %path,
            status = status.as_u16(),
            request_id = request_id.as_deref(),
            replayed = header_str(&headers, "idempotent-replayed") == Some("true"),
            stripe_version = header_str(&headers, STRIPE_VERSION),
            "stripe response"
        );
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|source| StripeError::Decode {
                status: status.as_u16(),
                write: method != Method::GET,
                source,
            });
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| ApiError {
                kind: "api_error".to_owned(),
                code: None,
                message: Some(format!(
                    "unreadable error body: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )),
                param: None,
            });
        Err(StripeError::Api {
            status: status.as_u16(),
            error: Box::new(error),
            retry_after: header_str(&headers, RETRY_AFTER.as_str()).and_then(parse_retry_after),
            should_retry: header_str(&headers, "stripe-should-retry").and_then(|v| match v {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }),
            request_id,
        })
    }
}

/// The request (and response) header naming the API version.
const STRIPE_VERSION: &str = "stripe-version";

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After` as delta-seconds (Stripe's form); fractional seconds are accepted.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_longer_than_255_characters_are_refused() {
        assert!(IdempotencyKey::new("k".repeat(255)).is_ok());
        assert!(IdempotencyKey::new("k".repeat(256)).is_err());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("has space").is_err());
    }

    #[test]
    fn retry_after_is_read_as_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
