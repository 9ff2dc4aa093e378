//! The notifications crate's error.

/// What can stop an alerter or dispatcher step.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] ledger::StoreError),
    #[error(transparent)]
    Tables(#[from] projections::tables::TableError),
    #[error(transparent)]
    Projection(#[from] projections::ProjectionError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Seal(#[from] crate::webhooks::sealing::SealError),
    #[error("stored notification row is corrupt: {0}")]
    Corrupt(String),
}
