//! Events: the stored envelope and the typed domain events of the ledger.

mod budget;
mod domain;
mod envelope;
mod replay;
mod stream;

pub use budget::*;
pub use domain::*;
pub use envelope::{EventMetadata, NewEvent, Payload, RecordedEvent};
pub use stream::{InvalidId, OrgId, StreamId};
