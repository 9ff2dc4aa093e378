//! How a replay decodes a stored payload: as [`LedgerEvent::from_stored_text`]
//! does, but without keeping what no fold reads.
//!
//! A usage event's `attributes` (app, region, machine id: dimensions for
//! support) are read by the audit pages, never by a fold, and in a replay
//! they are most of the allocations: two strings a dimension and the map's
//! nodes, made and freed again for every usage event. A replay checks them exactly
//! as the full decode does (an object whose values are strings) and leaves
//! them out, so a payload decodes here if and only if it decodes in full,
//! and to the same event but for its attributes.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::domain::{DecodeError, LedgerEvent, UsageRecorded, UsageWindow};
use super::stream::OrgId;
use crate::money::Quantity;

impl LedgerEvent {
    /// [`Self::from_stored_text`] for a fold: a current `UsageRecorded`
    /// comes back with its attributes checked and left out (see the
    /// module's documentation); every other payload decodes in full.
    pub fn from_stored_text_for_fold(
        event_type: &str,
        schema_version: i32,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        if event_type != USAGE_RECORDED || Self::schema_version(event_type) != Some(schema_version)
        {
            return Self::from_stored_text(event_type, schema_version, payload);
        }
        serde_json::from_str::<UsageForFold>(payload)
            .map(|u| {
                Self::UsageRecorded(UsageRecorded {
                    org_id: u.org_id,
                    meter: u.meter,
                    quantity: u.quantity,
                    window: u.window,
                    source: u.source,
                    attributes: Default::default(),
                })
            })
            .map_err(|source| DecodeError::Payload {
                event_type: event_type.to_owned(),
                source,
            })
    }
}

const USAGE_RECORDED: &str = "UsageRecorded";

/// [`UsageRecorded`] with the same fields, names and defaults, but
/// attributes that are only checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageForFold {
    org_id: OrgId,
    meter: String,
    quantity: Quantity,
    #[serde(default)]
    window: Option<UsageWindow>,
    source: String,
    #[serde(default, rename = "attributes")]
    _attributes: CheckedAttributes,
}

/// A map of strings to strings, checked as `BTreeMap<String, String>`
/// deserialises one (the same errors, in the same words), and not kept.
#[derive(Default)]
struct CheckedAttributes;

impl<'de> Deserialize<'de> for CheckedAttributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = CheckedAttributes;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<CheckedString, CheckedString>()?.is_some() {}
                Ok(CheckedAttributes)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A string, checked as `String` deserialises one, without copying it.
struct CheckedString;

impl<'de> Deserialize<'de> for CheckedString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = CheckedString;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(CheckedString)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(payload: &str) -> (Result<LedgerEvent, String>, Result<LedgerEvent, String>) {
        let full = LedgerEvent::from_stored_text(USAGE_RECORDED, 1, payload).map(|mut e| {
            if let LedgerEvent::UsageRecorded(u) = &mut e {
                u.attributes.clear();
            }
            e
        });
        let fold = LedgerEvent::from_stored_text_for_fold(USAGE_RECORDED, 1, payload);
        (
            full.map_err(|e| e.to_string()),
            fold.map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn a_usage_payload_decodes_for_a_fold_exactly_when_it_decodes_in_full() {
        let base = r#""org_id":"acme","meter":"cpu","quantity":"1.5","source":"flyd""#;
        let cases = [
            format!("{{{base}}}"),
            format!(r#"{{{base},"attributes":{{}}}}"#),
            format!(r#"{{{base},"attributes":{{"app":"web","region":"ams\u00e9\"x"}}}}"#),
            format!(
                r#"{{{base},"window":{{"start":"2026-12-01T00:00:00Z","end":"2026-12-01T01:00:00Z"}},"attributes":{{"app":"a"}}}}"#
            ),
            format!(r#"{{{base},"attributes":{{"app":"a","app":"b"}}}}"#),
            format!(r#"{{{base},"attributes":null}}"#),
            format!(r#"{{{base},"attributes":[]}}"#),
            format!(r#"{{{base},"attributes":"app"}}"#),
            format!(r#"{{{base},"attributes":{{"app":1}}}}"#),
            format!(r#"{{{base},"attributes":{{"app":null}}}}"#),
            format!(r#"{{{base},"attributes":{{"app":{{"x":"y"}}}}}}"#),
            format!(r#"{{{base},"attributes":{{"app":"a"}},"extra":1}}"#),
            format!(r#"{{{base},"attributes":{{"app":"a"}}"#),
            r#"{"org_id":"acme","meter":"cpu","source":"flyd","attributes":{}}"#.to_owned(),
            r#"{"org_id":"acme","meter":"cpu","quantity":"-1","source":"flyd"}"#.to_owned(),
            r#"{"org_id":"","meter":"cpu","quantity":"1","source":"flyd"}"#.to_owned(),
        ];
        let mut decoded = 0;
        for payload in &cases {
            let (full, fold) = both(payload);
            assert_eq!(fold, full, "{payload}");
            decoded += usize::from(full.is_ok());
        }
        assert_eq!(decoded, 5, "the first five cases decode, the rest fail");
    }

    #[test]
    fn only_a_current_usage_event_leaves_anything_out() {
        let usage = r#"{"org_id":"acme","meter":"cpu","quantity":"1","source":"flyd","attributes":{"app":"web"}}"#;
        let fold = LedgerEvent::from_stored_text_for_fold(USAGE_RECORDED, 1, usage).unwrap();
        let LedgerEvent::UsageRecorded(u) = fold else {
            panic!("a usage event");
        };
        assert!(u.attributes.is_empty(), "left out for the fold");
        let created = r#"{"org_id":"acme","name":"Acme","currency":"USD","billing_anchor":"2026-11-01T00:00:00Z"}"#;
        // Another event type, and a usage event of a version this build
        // does not know, decode (or fail) exactly as in full.
        for (event_type, version, payload) in [
            ("OrganizationCreated", 1, created),
            (USAGE_RECORDED, 2, usage),
        ] {
            let full = LedgerEvent::from_stored_text(event_type, version, payload);
            let fold = LedgerEvent::from_stored_text_for_fold(event_type, version, payload);
            assert_eq!(
                fold.map_err(|e| e.to_string()),
                full.map_err(|e| e.to_string()),
                "{event_type} v{version}"
            );
        }
        assert!(LedgerEvent::from_stored_text("OrganizationCreated", 1, created).is_ok());
    }
}
