//! The sync crate's error.

use crate::stripe::StripeError;

/// What can stop a sync step.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The sync's own tables.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The event store (audit facts, organizations).
    #[error(transparent)]
    Store(#[from] ledger::StoreError),
    /// The projection tables (the invoice change feed).
    #[error(transparent)]
    Tables(#[from] projections::tables::TableError),
    /// The projection runner or the period closer.
    #[error(transparent)]
    Projection(#[from] projections::ProjectionError),
    /// A JSON column or event payload.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Stripe, after the retries the policy allows.
    #[error(transparent)]
    Stripe(#[from] StripeError),
    /// The ledger holds something Stripe cannot be given (permanent).
    #[error("cannot publish: {0}")]
    Unpublishable(String),
    /// A stored sync row does not parse.
    #[error("stored sync row is corrupt: {0}")]
    Corrupt(String),
    /// Another worker holds the invoice's lease (or took it over).
    #[error("lease on the invoice was lost to another worker")]
    LeaseLost,
    /// The call would have to wait longer than the lease allows (Stripe unavailable,
    /// rate limited): the invoice is given back and tried again after `wait`.
    #[error("deferred for {wait:?}: {reason}")]
    Deferred {
        /// How long until the call could be sent.
        wait: std::time::Duration,
        /// Why.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("invalid sync configuration: {0}")]
    Config(String),
}

impl SyncError {
    /// Whether retrying later may help; `false` parks the invoice.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Stripe(e) => !e.is_retryable(),
            Self::Unpublishable(_) => true,
            _ => false,
        }
    }
}
