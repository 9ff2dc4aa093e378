//! `notification_cursor`: how far the alerter and the dispatcher have read.
//! The rows are created by the migration; this only reads and moves them.

use ledger::db::{Database, WriteTx};

use crate::NotifyError;

/// The alerter's position in the invoice change feed.
pub const ALERTER: &str = "alerter";
/// The alerter's global event position in its read of budget events.
pub const ALERTER_BUDGETS: &str = "alerter_budgets";
/// The dispatcher's global event position.
pub const DISPATCHER: &str = "webhook_dispatcher";

#[derive(sqlx::FromRow)]
struct Position {
    position: i64,
}

/// Where `name` stands.
pub async fn position(db: &Database, name: &str) -> Result<i64, NotifyError> {
    let row = db
        .query_as::<Position>("SELECT position FROM notification_cursor WHERE cursor_name = $1")
        .bind(name)
        .fetch_optional()
        .await?;
    row.map(|r| r.position)
        .ok_or_else(|| NotifyError::Corrupt(format!("no `{name}` row in notification_cursor")))
}

/// Move `name` forward to `to` (never backwards) inside `tx`.
pub async fn advance(
    tx: &mut WriteTx,
    name: &str,
    to: i64,
    now_ms: i64,
) -> Result<(), NotifyError> {
    tx.query(
        "UPDATE notification_cursor SET position = $2, updated_at = $3 \
         WHERE cursor_name = $1 AND position < $2",
    )
    .bind(name)
    .bind(to)
    .bind(now_ms)
    .execute()
    .await?;
    Ok(())
}
