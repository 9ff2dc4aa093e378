//! Poison pills, isolated. Whatever a stored event or state row holds, one
//! organization the fold cannot process must not stop billing for all the
//! others: the runner and a rebuild *park* that organization in the
//! generation they are folding (with the error, for the ops API and a
//! metric) and carry on. A parked organization's state and invoices stay
//! as last committed, later events of it are skipped, and the closer does
//! not finalize its invoices; a rebuild after the cause is fixed starts a
//! generation with nothing parked.
//!
//! Only catalog events (prices) cannot be isolated: every organization is
//! priced through them, so a catalog event the fold cannot use still stops
//! the projection, loudly.

use std::collections::BTreeSet;
use std::fmt::Display;

use chrono::{DateTime, Utc};
use ledger::RecordedEvent;

use crate::fold::Books;
use crate::runner::ProjectionError;

/// An organization a projection generation set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedOrg {
    pub org_id: String,
    /// Global position of the event being folded when it was parked.
    pub position: i64,
    /// What could not be folded, in words.
    pub error: String,
    pub parked_at: DateTime<Utc>,
}

/// The organizations parked in one generation: those already stored and
/// those this fold parks (written with its commit).
#[derive(Debug, Clone, Default)]
pub struct Parked {
    known: BTreeSet<String>,
    new: Vec<ParkedOrg>,
}

impl Parked {
    /// The organizations a generation has already parked.
    pub fn stored(orgs: impl IntoIterator<Item = String>) -> Self {
        Self {
            known: orgs.into_iter().collect(),
            new: Vec::new(),
        }
    }

    pub fn contains(&self, org: &str) -> bool {
        self.known.contains(org)
    }

    /// Set `org` aside: its book leaves `books`, so nothing of it is
    /// written, and its later events are skipped.
    pub fn park(&mut self, books: &mut Books, org: &str, position: i64, error: impl Display) {
        if !self.known.insert(org.to_owned()) {
            return;
        }
        let error = error.to_string();
        tracing::error!(org, position, %error, "organization parked: the projection cannot fold it; every other organization carries on");
        books.orgs.retain(|id, _| id.as_str() != org);
        self.new.push(ParkedOrg {
            org_id: org.to_owned(),
            position,
            error,
            parked_at: Utc::now(),
        });
    }

    /// Take in what another fold of the same generation parked (a part of
    /// a rebuild's final write).
    pub fn absorb(&mut self, other: Parked) {
        for org in other.new {
            if self.known.insert(org.org_id.clone()) {
                self.new.push(org);
            }
        }
    }

    /// The organizations parked by this fold (not yet stored).
    pub fn newly_parked(&self) -> &[ParkedOrg] {
        &self.new
    }

    pub fn into_newly_parked(self) -> Vec<ParkedOrg> {
        self.new
    }
}

/// Whether an event belongs to an organization that is parked (skip it).
pub fn skips(parked: &Parked, event: &RecordedEvent) -> bool {
    event
        .org_id
        .as_deref()
        .is_some_and(|org| parked.contains(org))
}

/// Park the organization an error concerns, or fail when it concerns none
/// (a catalog event).
pub fn park_or_fail(
    parked: &mut Parked,
    books: &mut Books,
    event_org: Option<&str>,
    position: i64,
    source: crate::fold::FoldError,
) -> Result<(), ProjectionError> {
    let org = source
        .org_id()
        .map(|o| o.as_str().to_owned())
        .or_else(|| event_org.map(str::to_owned));
    match org {
        Some(org) => {
            parked.park(books, &org, position, &source);
            Ok(())
        }
        None => Err(ProjectionError::Fold { position, source }),
    }
}
