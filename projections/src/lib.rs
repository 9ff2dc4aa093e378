//! Invoice projections over the ledger's event store.
//!
//! # Layout
//! Filled by the projections issue: the invoice fold (pure), the runner that
//! writes projection state and its checkpoint in one transaction, rebuild and
//! as-of views. Only `ledger` is a dependency: projections never call Stripe.
#![forbid(unsafe_code)]
