//! The fake's tunable behaviour.

use std::time::Duration;

/// How the fake behaves; [`FakeConfig::default`] matches Stripe's documented numbers.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// How long an idempotency key and its stored response live (Stripe: 24 hours).
    pub idempotency_window: Duration,
    /// How long after a change an invoice becomes visible to `GET /v1/invoices/search`
    /// (Stripe's search is eventually consistent, usually within a minute).
    pub search_index_delay: Duration,
    /// Most invoice items on one invoice (Stripe: 250).
    pub max_items_per_invoice: usize,
    /// Lines embedded in an invoice object before `has_more` (Stripe: 10).
    pub embedded_lines: usize,
    /// The account's default API version, used (and echoed in `Stripe-Version`) when a
    /// request sends none. Objects are always rendered in the shapes of
    /// [`API_VERSION`]; see `docs/stripe.md`.
    pub account_api_version: String,
    /// Wait before the first retry of a webhook delivery answered with anything but
    /// a 2xx; it doubles with every attempt (Stripe retries for up to three days).
    pub webhook_retry_base: Duration,
    /// Delivery attempts per event and endpoint, the first included.
    pub webhook_attempts: u32,
}

/// The API version whose object shapes the fake renders (Stripe's `fixtures3.json`).
pub const API_VERSION: &str = "2026-10-28.endive";

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            idempotency_window: Duration::from_secs(24 * 60 * 60),
            search_index_delay: Duration::from_secs(1),
            max_items_per_invoice: 250,
            embedded_lines: 10,
            account_api_version: API_VERSION.to_owned(),
            webhook_retry_base: Duration::from_secs(60),
            webhook_attempts: 12,
        }
    }
}
