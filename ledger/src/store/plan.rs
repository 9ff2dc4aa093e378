//! Deciding, inside the append transaction, what each event becomes:
//! a duplicate of a stored event, a duplicate of an earlier event of the
//! same batch or group, or a new row with the next stream version. Shared
//! by both backends so they cannot disagree.
//!
//! A [`Plan`] covers one transaction. An append alone plans one member; a
//! group commit plans its members one after another into the same plan,
//! so a later member sees an earlier member's events exactly as a later
//! append would see a committed one (its stream versions, its keys), and a
//! member whose expectation fails is taken out again without a trace.

use std::collections::HashMap;

use uuid::Uuid;

use super::{AppendOutcome, AppendResult, ExpectedVersion, StoreError, StreamAppend};
use crate::event::{NewEvent, StreamId};

/// An already stored event holding an idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct Existing {
    pub event_id: Uuid,
    pub stream_id: StreamId,
    pub stream_version: i64,
    pub global_position: i64,
}

/// A row to insert.
pub(crate) struct Row<'a> {
    pub stream_id: &'a StreamId,
    pub stream_version: i64,
    pub event: &'a NewEvent,
    /// The event's place among all the transaction's events, members,
    /// streams and events in order (see [`super::sql::MetadataJson`]).
    pub index: usize,
}

enum Slot {
    New(usize),
    Stored(Existing),
}

/// How to report one member's events once positions exist.
pub(crate) struct Member {
    outcomes: Vec<(StreamId, i64, Vec<Slot>)>,
}

/// The rows one transaction inserts, planned member by member.
pub(crate) struct Plan<'a> {
    stored_keys: &'a HashMap<String, Existing>,
    /// Each stream's version including the rows planned so far.
    versions: HashMap<StreamId, i64>,
    /// Keys of the rows planned so far, by row.
    planned_keys: HashMap<&'a str, usize>,
    /// Events of the members planned so far, planned or not.
    events: usize,
    pub rows: Vec<Row<'a>>,
}

impl<'a> Plan<'a> {
    /// A plan over the stored holders of the transaction's keys and its
    /// streams' current versions (absent = 0).
    pub fn new(
        stored_keys: &'a HashMap<String, Existing>,
        versions: HashMap<StreamId, i64>,
    ) -> Self {
        Self {
            stored_keys,
            versions,
            planned_keys: HashMap::new(),
            events: 0,
            rows: Vec::new(),
        }
    }

    /// Plan one member (one caller's batch), all or nothing: on a version
    /// conflict the plan is left as it was.
    pub fn member(&mut self, appends: &'a [StreamAppend]) -> Result<Member, StoreError> {
        let first_row = self.rows.len();
        let mut index = self.events;
        self.events += appends.iter().map(|a| a.events.len()).sum::<usize>();
        let mut new_keys = Vec::new();
        let mut new_versions = Vec::with_capacity(appends.len());
        let mut outcomes = Vec::with_capacity(appends.len());
        let mut result = Ok(());
        for append in appends {
            let current = self.version(&append.stream_id);
            let mut slots = Vec::with_capacity(append.events.len());
            let mut fresh = Vec::new();
            for event in &append.events {
                let at = index;
                index += 1;
                match event.idempotency_key.as_deref() {
                    Some(key) if self.stored_keys.contains_key(key) => {
                        slots.push(Slot::Stored(self.stored_keys[key].clone()));
                    }
                    Some(key) if self.planned_keys.contains_key(key) => {
                        slots.push(Slot::New(self.planned_keys[key]));
                    }
                    key => {
                        let row = self.rows.len() + fresh.len();
                        if let Some(key) = key {
                            self.planned_keys.insert(key, row);
                            new_keys.push(key);
                        }
                        slots.push(Slot::New(row));
                        fresh.push((at, event));
                    }
                }
            }
            if !fresh.is_empty() && !expectation_holds(append.expected, current) {
                result = Err(StoreError::Conflict {
                    stream_id: append.stream_id.clone(),
                    expected: append.expected,
                    actual: current,
                });
                break;
            }
            let after = current + fresh.len() as i64;
            for (offset, (index, event)) in fresh.into_iter().enumerate() {
                self.rows.push(Row {
                    stream_id: &append.stream_id,
                    stream_version: current + 1 + offset as i64,
                    event,
                    index,
                });
            }
            new_versions.push((&append.stream_id, after));
            outcomes.push((append.stream_id.clone(), after, slots));
        }
        if let Err(conflict) = result {
            self.rows.truncate(first_row);
            for key in new_keys {
                self.planned_keys.remove(key);
            }
            return Err(conflict);
        }
        for (stream, version) in new_versions {
            self.versions.insert(stream.clone(), version);
        }
        Ok(Member { outcomes })
    }

    fn version(&self, stream: &StreamId) -> i64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    /// Turn each planned member into its outcomes, given the positions the
    /// database assigned to the inserted rows (by event id). The first
    /// event to carry a row is the one reported `Appended`; any later one
    /// (a repeated key, in the same or a later member) is its duplicate.
    /// A member that failed to plan keeps its error.
    pub fn finish(
        &self,
        members: Vec<Result<Member, StoreError>>,
        positions: &HashMap<Uuid, i64>,
    ) -> Result<Vec<Result<Vec<AppendOutcome>, StoreError>>, StoreError> {
        let position_of = |row: &Row<'_>| {
            positions.get(&row.event.event_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("no position returned for {}", row.event.event_id))
            })
        };
        let mut first_slot_of_row = vec![true; self.rows.len()];
        let mut reported = Vec::with_capacity(members.len());
        for member in members {
            let member = match member {
                Ok(member) => member,
                Err(e) => {
                    reported.push(Err(e));
                    continue;
                }
            };
            let mut result = Vec::with_capacity(member.outcomes.len());
            for (stream_id, stream_version, slots) in member.outcomes {
                let mut results = Vec::with_capacity(slots.len());
                for slot in slots {
                    results.push(match slot {
                        Slot::Stored(e) => AppendResult::Duplicate {
                            event_id: e.event_id,
                            stream_id: e.stream_id,
                            stream_version: e.stream_version,
                            global_position: e.global_position,
                        },
                        Slot::New(i) => {
                            let row = &self.rows[i];
                            let global_position = position_of(row)?;
                            if std::mem::replace(&mut first_slot_of_row[i], false) {
                                AppendResult::Appended {
                                    event_id: row.event.event_id,
                                    stream_version: row.stream_version,
                                    global_position,
                                }
                            } else {
                                AppendResult::Duplicate {
                                    event_id: row.event.event_id,
                                    stream_id: row.stream_id.clone(),
                                    stream_version: row.stream_version,
                                    global_position,
                                }
                            }
                        }
                    });
                }
                result.push(AppendOutcome {
                    stream_id,
                    stream_version,
                    results,
                });
            }
            reported.push(Ok(result));
        }
        Ok(reported)
    }
}

fn expectation_holds(expected: ExpectedVersion, current: i64) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exact(v) => current == v,
    }
}
