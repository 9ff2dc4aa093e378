//! Publishing invoice snapshots to Stripe.
//!
//! # Layout
//! - [`stripe`]: a typed client for the subset of Stripe's REST API the sync uses —
//!   configuration from the environment ([`stripe::StripeSetup`]), form-encoded
//!   requests, typed objects and parameters, and errors split into retryable and
//!   permanent ([`stripe::StripeError::class`]). [`stripe::StripeApi`] is the same set of
//!   operations as a trait object, for the daemon to hold as `Arc<dyn StripeApi>`.
//! - The sync projector (a later issue) builds on the client.
//!
//! # Guarantees
//! - Every `POST` carries a caller-chosen [`stripe::IdempotencyKey`], so a retried call has
//!   exactly one effect in Stripe within its idempotency window.
//! - The API key never leaves a [`secrecy::SecretString`] except in the `Authorization`
//!   header (marked sensitive); it is never logged or printed.
//! - No retries happen inside the client: it reports what happened and whether a retry
//!   may help; the caller owns the retry policy (backoff, `Retry-After`).
#![forbid(unsafe_code)]

pub mod stripe;
