//! Client configuration read from the environment.

use std::time::Duration;

use secrecy::SecretString;

use super::StripeError;

/// Stripe's production API; test mode uses the same host with a `sk_test_…` key.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// The API version every request pins with `Stripe-Version` (`STRIPE_API_VERSION`):
/// the one whose object shapes the client decodes (Stripe's libraries of October 2026
/// pin it too). An account's default version never changes what the client reads.
pub const DEFAULT_API_VERSION: &str = "2026-10-28.endive";

/// Whether `v` has the form of a Stripe API version: `YYYY-MM-DD`, optionally followed
/// by `.name` (lowercase letters), e.g. `2024-06-20` or `2026-10-28.endive`.
pub fn is_api_version(v: &str) -> bool {
    let (date, name) = match v.split_once('.') {
        Some((date, name)) => (date, Some(name)),
        None => (v, None),
    };
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    date_ok && name.is_none_or(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_lowercase()))
}

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to reach Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// Base URL without a trailing `/v1` (`STRIPE_API_BASE`, default [`DEFAULT_API_BASE`]).
    pub api_base: String,
    /// Secret or restricted key (`STRIPE_API_KEY`); never logged.
    pub api_key: SecretString,
    /// TCP + TLS connect timeout (`STRIPE_CONNECT_TIMEOUT_SECS`, default 5).
    pub connect_timeout: Duration,
    /// Whole-request timeout (`STRIPE_REQUEST_TIMEOUT_SECS`, default 30).
    pub request_timeout: Duration,
    /// Sent as `Stripe-Version` on every request (`STRIPE_API_VERSION`, default
    /// [`DEFAULT_API_VERSION`]). Change it only together with the objects the client
    /// decodes.
    pub api_version: String,
}

/// Whether the sync talks to Stripe at all.
#[derive(Debug, Clone)]
pub enum StripeSetup {
    /// A key is configured.
    Enabled(StripeConfig),
    /// No key: sync is off. `reason` is meant to be shown as is, in logs and the API.
    Disabled { reason: String },
}

impl StripeConfig {
    /// A config with default timeouts.
    pub fn new(api_base: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            api_base: api_base.into(),
            api_key,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            api_version: DEFAULT_API_VERSION.to_owned(),
        }
    }

    /// Reads `STRIPE_API_KEY`, `STRIPE_API_BASE`, `STRIPE_CONNECT_TIMEOUT_SECS`,
    /// `STRIPE_REQUEST_TIMEOUT_SECS` and `STRIPE_API_VERSION`.
    pub fn from_env() -> Result<StripeSetup, StripeError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`StripeConfig::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<StripeSetup, StripeError> {
        let Some(key) = lookup("STRIPE_API_KEY").filter(|k| !k.trim().is_empty()) else {
            return Ok(StripeSetup::Disabled {
                reason: "sync disabled: STRIPE_API_KEY is not set".to_owned(),
            });
        };
        let api_base = lookup("STRIPE_API_BASE")
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
            return Err(StripeError::Config(format!(
                "STRIPE_API_BASE must be an http(s) URL, got {api_base:?}"
            )));
        }
        let mut config = Self::new(api_base.trim_end_matches('/'), SecretString::from(key));
        if let Some(t) = seconds(&lookup, "STRIPE_CONNECT_TIMEOUT_SECS")? {
            config.connect_timeout = t;
        }
        if let Some(t) = seconds(&lookup, "STRIPE_REQUEST_TIMEOUT_SECS")? {
            config.request_timeout = t;
        }
        if let Some(v) = lookup("STRIPE_API_VERSION").filter(|v| !v.trim().is_empty()) {
            let v = v.trim();
            if !is_api_version(v) {
                return Err(StripeError::Config(format!(
                    "STRIPE_API_VERSION must look like 2026-10-28.endive or 2024-06-20, got {v:?}"
                )));
            }
            config.api_version = v.to_owned();
        }
        Ok(StripeSetup::Enabled(config))
    }
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Duration>, StripeError> {
    let Some(raw) = lookup(name) else {
        return Ok(None);
    };
    match raw.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(StripeError::Config(format!(
            "{name} must be a positive number of seconds, got {raw:?}"
        ))),
    }
}
