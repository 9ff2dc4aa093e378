//! `stripe_customer`: which Stripe customer bills each organization.

use ledger::db::Database;

use crate::error::SyncError;

/// What the sync knows of an organization's customer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CustomerRow {
    pub org_id: String,
    pub stripe_customer_id: Option<String>,
    pub create_attempted: bool,
}

/// The stored customer of `org`, if any.
pub async fn get(db: &Database, org: &str) -> Result<Option<CustomerRow>, SyncError> {
    Ok(db
        .query_as::<CustomerRow>(
            "SELECT org_id, stripe_customer_id, create_attempted FROM stripe_customer \
         WHERE org_id = $1",
        )
        .bind(org)
        .fetch_optional()
        .await?)
}

/// Every customer the sync has used.
pub async fn all(db: &Database) -> Result<Vec<CustomerRow>, SyncError> {
    Ok(db
        .query_as::<CustomerRow>(
            "SELECT org_id, stripe_customer_id, create_attempted FROM stripe_customer \
         ORDER BY org_id",
        )
        .fetch_all()
        .await?)
}

/// Record, before sending it, that a create is about to be sent: if its
/// answer is lost, the next attempt looks for the customer first.
pub async fn mark_attempt(db: &Database, org: &str, now_ms: i64) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO stripe_customer (org_id, stripe_customer_id, create_attempted, updated_at) \
         VALUES ($1, NULL, true, $2) \
         ON CONFLICT (org_id) DO UPDATE SET create_attempted = true, updated_at = $2",
    )
    .bind(org)
    .bind(now_ms)
    .execute()
    .await?;
    Ok(tx.commit().await?)
}

/// Store the customer id of `org`.
pub async fn save(db: &Database, org: &str, id: &str, now_ms: i64) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO stripe_customer (org_id, stripe_customer_id, create_attempted, updated_at) \
         VALUES ($1, $2, false, $3) \
         ON CONFLICT (org_id) DO UPDATE SET stripe_customer_id = $2, updated_at = $3",
    )
    .bind(org)
    .bind(id)
    .bind(now_ms)
    .execute()
    .await?;
    Ok(tx.commit().await?)
}
