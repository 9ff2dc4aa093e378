//! The write side: every rule a write must obey, in one layer that the HTTP
//! handlers and the `billing` CLI both call, so no path into the ledger
//! skips them. A command takes typed input ([`fields`]), checks what it
//! needs against the ledger (is the organization registered, is the meter
//! priced, is the time inside the organization's life), and appends events
//! or returns a [`Rejection`] naming the field. Handlers parse, authorise
//! and delegate.
//!
//! Time windows (every timestamp a write carries):
//! - usage `occurred_at` and `window`, charges and credits: from the
//!   organization's billing anchor to 24 h from now;
//! - subscription `effective_at`: from the billing anchor to a year from now;
//! - price `effective_from`: from 5 minutes ago (history is never repriced)
//!   to a year from now;
//! - `billing_anchor`: from 2000-01-01 to now.

pub mod budgets;
pub mod corrections;
pub mod directory;
pub mod entries;
pub mod fields;
pub mod organizations;
pub mod prices;
pub mod subscriptions;
pub mod usage;
pub mod webhooks;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ledger::event::{EventMetadata, OrganizationCreated};
use ledger::{EventStore, OrgId, StoreError};

pub use directory::Directory;
pub use fields::FieldError;

/// How far ahead of our clock usage, charges and credits may be dated.
pub const MAX_FUTURE: TimeDelta = TimeDelta::hours(24);

/// How far ahead plans and prices may be scheduled.
pub const MAX_SCHEDULE: TimeDelta = TimeDelta::days(366);

/// The earliest time anything may claim.
pub fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Why a command stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// A field breaks a rule (422).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Something the command needs does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The ledger's state refuses it (409), e.g. an organization that is
    /// already registered or a correction that raced another.
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Rejection {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

/// Who writes and through which door, for every event's metadata.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `token:<name>`, or the OS user for the CLI.
    pub actor: String,
    /// `api:/v1/usage`, `cli:usage-record`, …
    pub source: String,
}

impl Actor {
    pub fn metadata(&self) -> EventMetadata {
        EventMetadata {
            actor: Some(self.actor.clone()),
            source: Some(self.source.clone()),
            correlation_id: Some(uuid::Uuid::now_v7().to_string()),
            causation_id: None,
        }
    }
}

/// What a command reads the ledger through.
pub struct Ctx<'a> {
    pub store: &'a dyn EventStore,
    pub directory: &'a Directory,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    /// The organization's registration, or a 404 naming it.
    pub async fn registered(&self, org: &OrgId) -> Result<OrganizationCreated, Rejection> {
        self.directory
            .org(self.store, org)
            .await?
            .ok_or_else(|| not_registered(org))
    }

    /// The billing anchor of a registered organization, or a 404 naming it.
    pub async fn registered_anchor(&self, org: &OrgId) -> Result<DateTime<Utc>, Rejection> {
        self.directory
            .billing_anchor(self.store, org)
            .await?
            .ok_or_else(|| not_registered(org))
    }
}

fn not_registered(org: &OrgId) -> Rejection {
    Rejection::NotFound(format!(
        "organization `{org}` is not registered: register it with POST /v1/organizations"
    ))
}

/// `t` within `[from, to]`, or a rejection naming `field` and the window.
pub fn within(
    field: &str,
    t: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    from_means: &str,
    to_means: &str,
) -> Result<(), FieldError> {
    if t < from {
        return Err(FieldError::new(
            field,
            format!("{field} {t} is before {from_means} ({from})"),
        ));
    }
    if t > to {
        return Err(FieldError::new(
            field,
            format!("{field} {t} is after {to_means} ({to})"),
        ));
    }
    Ok(())
}

pub use fields::org_id;

/// The idempotency key of a command's event: its readable form when that
/// fits the store's 255 bytes, else a prefix and the SHA-256 of it (both
/// deterministic, so a retry finds the same key).
pub fn event_key(readable: String) -> String {
    if readable.len() <= 255 {
        return readable;
    }
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(readable.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let prefix: String = readable
        .chars()
        .take_while(|c| *c != ':')
        .take(32)
        .collect();
    format!("{prefix}:sha256:{digest}")
}
