//! The stored envelope around every event.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::domain::{upcast, DecodeError, LedgerEvent};
use super::stream::StreamId;

/// Who or what wrote an event, and why: for support's "who did this?".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventMetadata {
    /// The principal: a token's name, an operator, `billing-closer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The system or endpoint it came through: `api:/v1/usage`, `cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Groups events caused by one request or job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The event or command that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

/// An event's payload as it is stored: JSON text, written once when the
/// event is made, so that checking it, inserting it and freeing it each
/// cost one pass over a string rather than a walk over a tree of values.
/// Always the compact text `serde_json` writes (of an object, for any event
/// the store accepts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The payload parsed back into a value.
    pub fn to_value(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.0)
    }

    /// Whether it is a JSON object (the only payload the store accepts).
    pub fn is_object(&self) -> bool {
        self.0.starts_with('{')
    }

    /// Whether any string in it, key or value, holds U+0000. `serde_json`
    /// writes that character as the escape `\u0000` and nothing else in its
    /// output contains that escape, except the text `\\u0000` (a backslash,
    /// escaped, then `u0000`): an escape is real when an odd number of
    /// backslashes leads up to the `u`.
    pub fn has_nul(&self) -> bool {
        let text = self.0.as_bytes();
        memchr::memmem::find_iter(text, br"\u0000").any(|at| {
            let backslashes = text[..=at]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            backslashes % 2 == 1
        })
    }
}

impl From<serde_json::Value> for Payload {
    fn from(value: serde_json::Value) -> Self {
        Self(value.to_string())
    }
}

/// An event about to be appended. The store assigns the stream version,
/// the global position and `recorded_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// UUID v7, chosen by the writer so a retry can carry the same id.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    /// The organization, for audit reads; `None` for catalog events.
    pub org_id: Option<String>,
    pub payload: Payload,
    pub metadata: EventMetadata,
    /// When it happened in the world (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// Unique across the store: a repeated key stores nothing and reports
    /// the original event.
    pub idempotency_key: Option<String>,
}

impl NewEvent {
    /// An event of any type, with a fresh UUID v7.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: i32,
        payload: serde_json::Value,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        Self::with_payload(
            event_type,
            schema_version,
            Payload::from(payload),
            occurred_at,
        )
    }

    fn with_payload(
        event_type: impl Into<String>,
        schema_version: i32,
        payload: Payload,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            org_id: None,
            payload,
            metadata: EventMetadata::default(),
            occurred_at: occurred_at.trunc_subsecs(6),
            idempotency_key: None,
        }
    }

    /// Envelope a typed domain event.
    pub fn from_domain(
        event: &LedgerEvent,
        occurred_at: DateTime<Utc>,
    ) -> Result<Self, serde_json::Error> {
        let event_type = event.event_type();
        let mut new = Self::with_payload(
            event_type,
            LedgerEvent::schema_version(event_type).unwrap_or(1),
            Payload(event.payload_text()?),
            occurred_at,
        );
        new.org_id = event.org_id().map(|o| o.as_str().to_owned());
        Ok(new)
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_metadata(mut self, metadata: EventMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn with_org(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: StreamId,
    /// 1 for a stream's first event, gapless.
    pub stream_version: i64,
    /// Total order over the whole store; increasing in commit order, but not
    /// gapless (a rolled-back append leaves a hole in the numbering).
    pub global_position: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub org_id: Option<String>,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

impl RecordedEvent {
    /// The typed domain event, upcast from older schema versions.
    pub fn decode(&self) -> Result<LedgerEvent, DecodeError> {
        // Current-version payloads (all of them today) deserialise straight
        // from the borrowed value; only an upcast needs an owned copy.
        if LedgerEvent::schema_version(&self.event_type) == Some(self.schema_version) {
            return LedgerEvent::from_parts(&self.event_type, &self.payload);
        }
        let payload = upcast(&self.event_type, self.schema_version, self.payload.clone())?;
        LedgerEvent::from_parts(&self.event_type, &payload)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::Payload;

    #[test]
    fn a_nul_is_found_in_values_and_keys_and_an_escaped_backslash_is_not_one() {
        let has_nul = |v: serde_json::Value| Payload::from(v).has_nul();
        assert!(has_nul(json!({"s": "a\u{0}b"})));
        assert!(has_nul(json!({"a\u{0}": 1})));
        assert!(has_nul(json!({"deep": [{"s": "\\\u{0}"}]})));
        assert!(!has_nul(json!({"s": "\\u0000"})));
        assert!(!has_nul(json!({"s": "\\\\u0000", "n": 0})));
        assert!(has_nul(json!({"s": "\\\\\u{0}"})));
    }

    proptest! {
        // Strings made of the characters the escapes are made of.
        #[test]
        fn has_nul_agrees_with_the_strings(
            key in "[\\\\u0\\x00\"a]{0,8}",
            value in "[\\\\u0\\x00\"a]{0,12}",
        ) {
            let payload = Payload::from(json!({ key.clone(): value.clone() }));
            prop_assert_eq!(payload.has_nul(), key.contains('\0') || value.contains('\0'));
            prop_assert_eq!(payload.to_value().unwrap(), json!({ key: value }));
        }
    }
}
