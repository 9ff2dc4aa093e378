//! Identifiers: streams and the organizations the platform bills.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An identifier was empty, too long or held characters we do not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: {reason}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

const MAX_ID_LEN: usize = 200;

fn validate(what: &'static str, value: &str) -> Result<(), InvalidId> {
    let fail = |reason| {
        Err(InvalidId {
            what,
            value: value.chars().take(MAX_ID_LEN).collect(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("must not be empty");
    }
    if value.len() > MAX_ID_LEN {
        return fail("must be at most 200 bytes");
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return fail("must not contain whitespace or control characters");
    }
    Ok(())
}

/// The platform's own id of an organization (a string the caller supplies).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        validate("organization id", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::new(value)
    }
}

impl From<OrgId> for String {
    fn from(value: OrgId) -> String {
        value.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// The name of an event stream: the unit of ordering and of optimistic
/// concurrency. Conventional names are built by the constructors below.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        validate("stream id", &value)?;
        Ok(Self(value))
    }

    /// An organization's lifecycle: created, subscriptions, charges, credits.
    pub fn organization(org: &OrgId) -> Self {
        Self(format!("org-{org}"))
    }

    /// An organization's usage facts (appended with "any version").
    pub fn usage(org: &OrgId) -> Self {
        Self(format!("usage-{org}"))
    }

    /// One invoice: an organization's billing period, keyed by its start.
    pub fn invoice(org: &OrgId, period_start: DateTime<Utc>) -> Self {
        Self(format!("invoice-{org}-{}", period_start.format("%Y-%m-%d")))
    }

    /// An organization's budgets (`BudgetSet`; the stream version is the
    /// budget version).
    pub fn budget(org: &OrgId) -> Self {
        Self(format!("budget-{org}"))
    }

    /// The alerts derived for an organization (`AlertTriggered`,
    /// `AlertResolved`), appended with "any version" and keyed.
    pub fn alerts(org: &OrgId) -> Self {
        Self(format!("alerts-{org}"))
    }

    /// The price catalog.
    pub fn catalog() -> Self {
        Self("catalog".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> String {
        value.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}
