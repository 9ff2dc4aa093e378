//! A stateful Stripe fake (filled by the Stripe client issue).
#![forbid(unsafe_code)]
