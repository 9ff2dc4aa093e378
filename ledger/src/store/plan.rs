//! Deciding, inside the append transaction, what each event becomes:
//! a duplicate of a stored event, a duplicate of an earlier event of the
//! same batch, or a new row with the next stream version. Shared by both
//! backends so they cannot disagree.

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
}

enum Slot {
    New(usize),
    Stored(Existing),
}

/// The rows to insert, and how to report each event once positions exist.
pub(crate) struct Planned<'a> {
    pub rows: Vec<Row<'a>>,
    outcomes: Vec<(StreamId, i64, Vec<Slot>)>,
}

/// Plan a batch given the stored holders of its keys and its streams'
/// current versions (absent = 0).
pub(crate) fn plan_appends<'a>(
    appends: &'a [StreamAppend],
    stored_keys: &HashMap<String, Existing>,
    versions: &HashMap<StreamId, i64>,
) -> Result<Planned<'a>, StoreError> {
    let mut rows = Vec::new();
    let mut outcomes = Vec::with_capacity(appends.len());
    let mut batch_keys: HashMap<&str, usize> = HashMap::new();
    for append in appends {
        let current = versions.get(&append.stream_id).copied().unwrap_or(0);
        let mut slots = Vec::with_capacity(append.events.len());
        let mut fresh = Vec::new();
        for event in &append.events {
            match event.idempotency_key.as_deref() {
                Some(key) if stored_keys.contains_key(key) => {
                    slots.push(Slot::Stored(stored_keys[key].clone()));
                }
                Some(key) if batch_keys.contains_key(key) => {
                    slots.push(Slot::New(batch_keys[key]));
                }
                key => {
                    let row = rows.len() + fresh.len();
                    if let Some(key) = key {
                        batch_keys.insert(key, row);
                    }
                    slots.push(Slot::New(row));
                    fresh.push(event);
                }
            }
        }
        if !fresh.is_empty() {
            let ok = match append.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => current == 0,
                ExpectedVersion::Exact(v) => current == v,
            };
            if !ok {
                return Err(StoreError::Conflict {
                    stream_id: append.stream_id.clone(),
                    expected: append.expected,
                    actual: current,
                });
            }
        }
        for (offset, event) in fresh.into_iter().enumerate() {
            rows.push(Row {
                stream_id: &append.stream_id,
                stream_version: current + 1 + offset as i64,
                event,
            });
        }
        let after = rows
            .iter()
            .rev()
            .find(|r| r.stream_id == &append.stream_id)
            .map_or(current, |r| r.stream_version);
        outcomes.push((append.stream_id.clone(), after, slots));
    }
    Ok(Planned { rows, outcomes })
}

impl Planned<'_> {
    /// Turn the plan into outcomes, given the positions the database
    /// assigned to the inserted rows (by event id).
    pub fn finish(self, positions: &HashMap<Uuid, i64>) -> Result<Vec<AppendOutcome>, StoreError> {
        let position_of = |row: &Row<'_>| {
            positions.get(&row.event.event_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("no position returned for {}", row.event.event_id))
            })
        };
        let mut first_slot_of_row = vec![true; self.rows.len()];
        let mut result = Vec::with_capacity(self.outcomes.len());
        for (stream_id, stream_version, slots) in self.outcomes {
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
        Ok(result)
    }
}
