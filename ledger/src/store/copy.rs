//! PostgreSQL's binary `COPY` format, both ways: replay pages read out of
//! the event table, and appended rows written into it.
//!
//! A replay reads every event once, in order, and needs six columns of each.
//! Through the extended query protocol every row becomes a `PgRow` whose
//! columns are type-checked and decoded one by one, each text column into a
//! `String` of its own; that per-row work was as much client CPU as the whole
//! raw scan a rebuild is measured against. `COPY … TO STDOUT (FORMAT binary)`
//! hands the same rows over as one stream of length-prefixed fields
//! (PostgreSQL's binary copy format), which is cut here into chunks of whole
//! rows and parsed on blocking threads straight from the bytes: only the
//! organization id is copied out before the payload's typed parse.
//!
//! An append's rows go the other way as [`CopyRows`]: `COPY … FROM STDIN`
//! is PostgreSQL's fastest insert, and in binary the server parses no
//! numbers, UUIDs or timestamps, only the JSON it must check anyway.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgPool, PgPoolCopyExt};
use uuid::Uuid;

use super::{replayed, ReplayedEvent, StoreError};

/// Columns of a replay row: position, `occurred_at`, org, event type,
/// schema version, payload.
const COLUMNS: i16 = 6;

/// What every binary copy stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_US: i64 = 946_684_800_000_000;

/// Events after `after` and up to `through`, at most `limit`, in position
/// order; rows are parsed and decoded `chunk` at a time on blocking threads
/// while the rest arrive.
pub(super) async fn replay_page(
    pool: &PgPool,
    (after, through, limit): (i64, i64, i64),
    chunk: usize,
) -> Result<Vec<ReplayedEvent>, StoreError> {
    // COPY takes no parameters; all three values are integers.
    let sql = format!(
        "COPY (SELECT global_position, occurred_at, org_id, event_type, schema_version, \
         payload::text FROM event WHERE global_position > {after} \
         AND global_position <= {through} \
         ORDER BY global_position LIMIT {limit}) TO STDOUT (FORMAT binary)"
    );
    let mut data = pool.copy_out_raw(&sql).await?;
    let chunk = chunk.max(1);
    let mut buffer: Vec<u8> = Vec::new();
    let (mut started, mut ended) = (false, false);
    // Bytes of `buffer` holding whole rows, and how many.
    let (mut scanned, mut rows) = (0, 0);
    let mut decoding = Vec::new();
    while let Some(bytes) = data.try_next().await? {
        if ended {
            return Err(protocol("data after the end of a copy"));
        }
        buffer.extend_from_slice(&bytes);
        if !started {
            let Some(header) = header_len(&buffer)? else {
                continue;
            };
            buffer.drain(..header);
            started = true;
        }
        while let Some(next) = next_row(&buffer[scanned..])? {
            let Some(len) = next else {
                ended = true;
                buffer.truncate(scanned);
                break;
            };
            scanned += len;
            rows += 1;
            if rows == chunk {
                let rest = buffer.split_off(scanned);
                let whole = std::mem::replace(&mut buffer, rest);
                decoding.push(tokio::task::spawn_blocking(move || decode(&whole, chunk)));
                (scanned, rows) = (0, 0);
            }
        }
    }
    if !ended {
        return Err(protocol("a copy that stopped before its end"));
    }
    if rows > 0 {
        decoding.push(tokio::task::spawn_blocking(move || decode(&buffer, rows)));
    }
    let mut events = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    for task in decoding {
        let decoded = task
            .await
            .map_err(|e| protocol(&format!("decode task: {e}")))?;
        events.extend(decoded?);
    }
    Ok(events)
}

/// Rows being encoded for `COPY … FROM STDIN (FORMAT binary)`: the header,
/// then per row its field count and each field as a length and its bytes in
/// the column type's binary form, then the trailer ([`CopyRows::finish`]).
pub(super) struct CopyRows {
    bytes: Vec<u8>,
}

impl CopyRows {
    /// An empty copy, with room for about `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity + SIGNATURE.len() + 10);
        bytes.extend_from_slice(SIGNATURE);
        bytes.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        bytes.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Self { bytes }
    }

    /// Start a row of `fields` fields (the caller then writes each).
    pub(super) fn row(&mut self, fields: i16) {
        self.bytes.extend_from_slice(&fields.to_be_bytes());
    }

    /// A field's length, refused (rather than wrapped) from 2 GiB on.
    fn len(value: &[u8], extra: usize) -> Result<[u8; 4], StoreError> {
        i32::try_from(value.len() + extra)
            .map(i32::to_be_bytes)
            .map_err(|_| protocol("a field of 2 GiB or more"))
    }

    fn fixed(&mut self, value: &[u8]) {
        // At most 16 bytes.
        self.bytes
            .extend_from_slice(&(value.len() as i32).to_be_bytes());
        self.bytes.extend_from_slice(value);
    }

    pub(super) fn int8(&mut self, value: i64) {
        self.fixed(&value.to_be_bytes());
    }

    pub(super) fn int4(&mut self, value: i32) {
        self.fixed(&value.to_be_bytes());
    }

    pub(super) fn uuid(&mut self, value: Uuid) {
        self.fixed(value.as_bytes());
    }

    /// `text`, or NULL for `None`.
    pub(super) fn text(&mut self, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(value) => {
                self.bytes
                    .extend_from_slice(&Self::len(value.as_bytes(), 0)?);
                self.bytes.extend_from_slice(value.as_bytes());
            }
            None => self.bytes.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        Ok(())
    }

    /// `timestamptz`: microseconds since PostgreSQL's epoch, rounded down
    /// as SQLite's stored text rounds (so both backends keep the same
    /// instant of a time with nanoseconds, also before 1970 or 2000).
    pub(super) fn timestamptz(&mut self, value: DateTime<Utc>) -> Result<(), StoreError> {
        let micros = value
            .timestamp_micros()
            .checked_sub(POSTGRES_EPOCH_US)
            .ok_or_else(|| protocol(&format!("timestamp {value} out of range")))?;
        self.int8(micros);
        Ok(())
    }

    /// `jsonb` from JSON text: format version 1, then the text.
    pub(super) fn jsonb(&mut self, json: &str) -> Result<(), StoreError> {
        self.bytes
            .extend_from_slice(&Self::len(json.as_bytes(), 1)?);
        self.bytes.push(1);
        self.bytes.extend_from_slice(json.as_bytes());
        Ok(())
    }

    /// The whole copy, trailer included.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&(-1i16).to_be_bytes());
        self.bytes
    }
}

fn protocol(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "binary copy of events: {what}"
    )))
}

/// The header's length once `bytes` hold all of it.
fn header_len(bytes: &[u8]) -> Result<Option<usize>, StoreError> {
    // Signature, flags (32 bits), extension length (32 bits), extension.
    if bytes.len() < SIGNATURE.len() + 8 {
        return Ok(None);
    }
    if &bytes[..SIGNATURE.len()] != SIGNATURE {
        return Err(protocol("no binary copy signature"));
    }
    // Bits 16-31 of the flags mark format changes a reader must not ignore
    // (bit 16: rows carry OIDs).
    if be_i32(&bytes[SIGNATURE.len()..]) as u32 & 0xffff_0000 != 0 {
        return Err(protocol("a copy format this reader does not know"));
    }
    let extension = be_i32(&bytes[SIGNATURE.len() + 4..]);
    let Ok(extension) = usize::try_from(extension) else {
        return Err(protocol("a negative header extension length"));
    };
    let len = SIGNATURE.len() + 8 + extension;
    Ok((bytes.len() >= len).then_some(len))
}

/// The length of the row `bytes` start with, once they hold all of it:
/// `Some(Some(len))`, or `Some(None)` for the end of the copy.
fn next_row(bytes: &[u8]) -> Result<Option<Option<usize>>, StoreError> {
    if bytes.len() < 2 {
        return Ok(None);
    }
    match be_i16(bytes) {
        -1 => return Ok(Some(None)),
        COLUMNS => {}
        other => return Err(protocol(&format!("a row of {other} columns"))),
    }
    let mut at = 2;
    for _ in 0..COLUMNS {
        if bytes.len() < at + 4 {
            return Ok(None);
        }
        let len = be_i32(&bytes[at..]);
        at += 4;
        match usize::try_from(len) {
            Ok(len) => at += len,
            Err(_) if len == -1 => {}
            Err(_) => return Err(protocol(&format!("a field of length {len}"))),
        }
    }
    Ok((bytes.len() >= at).then_some(Some(at)))
}

/// Parse and decode `rows` whole rows (as [`next_row`] found them).
fn decode(bytes: &[u8], rows: usize) -> Result<Vec<ReplayedEvent>, StoreError> {
    let mut fields = Fields(bytes);
    let mut events = Vec::with_capacity(rows);
    for _ in 0..rows {
        fields.take(2)?; // the column count, checked by `next_row`
        let position = be_i64(fields.value(8, "global_position")?);
        let micros = be_i64(fields.value(8, "occurred_at")?);
        let occurred_at = micros
            .checked_add(POSTGRES_EPOCH_US)
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| protocol(&format!("occurred_at {micros} µs out of range")))?;
        let org_id = fields.field()?.map(text).transpose()?.map(str::to_owned);
        let event_type = text(fields.required("event_type")?)?;
        let schema_version = be_i32(fields.value(4, "schema_version")?);
        let payload = text(fields.required("payload")?)?;
        events.push(replayed(
            position,
            occurred_at,
            org_id,
            event_type,
            schema_version,
            payload,
        )?);
    }
    Ok(events)
}

/// The fields of rows, read in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(protocol("a row cut short"));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    /// The next field; `None` when it is NULL.
    fn field(&mut self) -> Result<Option<&'a [u8]>, StoreError> {
        let len = be_i32(self.take(4)?);
        if len == -1 {
            return Ok(None);
        }
        let len =
            usize::try_from(len).map_err(|_| protocol(&format!("a field of length {len}")))?;
        self.take(len).map(Some)
    }

    fn required(&mut self, column: &str) -> Result<&'a [u8], StoreError> {
        self.field()?
            .ok_or_else(|| protocol(&format!("{column} is NULL")))
    }

    /// The next field, which must be `len` bytes.
    fn value(&mut self, len: usize, column: &str) -> Result<&'a [u8], StoreError> {
        let value = self.required(column)?;
        if value.len() != len {
            return Err(protocol(&format!("{column} of {} bytes", value.len())));
        }
        Ok(value)
    }
}

fn text(bytes: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(bytes).map_err(|_| protocol("text that is not UTF-8"))
}

// Callers pass at least as many bytes as each reads.
fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.extend_from_slice(&0i32.to_be_bytes());
        h.extend_from_slice(&0i32.to_be_bytes());
        h
    }

    fn row(position: i64, org: Option<&str>, payload: &str) -> Vec<u8> {
        let mut r = COLUMNS.to_be_bytes().to_vec();
        let mut field = |value: Option<&[u8]>| match value {
            Some(v) => {
                r.extend_from_slice(&(v.len() as i32).to_be_bytes());
                r.extend_from_slice(v);
            }
            None => r.extend_from_slice(&(-1i32).to_be_bytes()),
        };
        field(Some(&position.to_be_bytes()));
        field(Some(&0i64.to_be_bytes()));
        field(org.map(str::as_bytes));
        field(Some(b"OrganizationCreated"));
        field(Some(&1i32.to_be_bytes()));
        field(Some(payload.as_bytes()));
        r
    }

    #[test]
    fn rows_are_found_only_once_whole_and_the_end_is_recognised() {
        assert_eq!(header_len(&header()[..10]).unwrap(), None);
        assert_eq!(header_len(&header()).unwrap(), Some(19));
        assert!(header_len(b"PGCOPY\nxxxxxxxxxxxxxx").is_err());
        let mut with_oids = header();
        with_oids[SIGNATURE.len()..SIGNATURE.len() + 4]
            .copy_from_slice(&(1i32 << 16).to_be_bytes());
        assert!(
            header_len(&with_oids).is_err(),
            "rows with OIDs are refused"
        );
        let r = row(7, Some("acme"), "{}");
        for cut in 0..r.len() {
            assert_eq!(next_row(&r[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(next_row(&r).unwrap(), Some(Some(r.len())));
        assert_eq!(next_row(&(-1i16).to_be_bytes()).unwrap(), Some(None));
        assert!(next_row(&3i16.to_be_bytes()).is_err());
    }

    #[test]
    fn a_row_is_decoded_from_its_fields_and_bad_fields_are_errors_not_panics() {
        let payload = r#"{"org_id":"acme","name":"Acme","currency":"USD","billing_anchor":"2025-01-01T00:00:00Z"}"#;
        let r = row(7, Some("acme"), payload);
        let events = decode(&r, 1).unwrap();
        assert_eq!(events[0].global_position, 7);
        assert_eq!(events[0].org_id.as_deref(), Some("acme"));
        assert_eq!(
            events[0].occurred_at.to_rfc3339(),
            "2000-01-01T00:00:00+00:00"
        );
        // Every prefix of a row is an error, never a panic.
        for cut in 0..r.len() {
            assert!(decode(&r[..cut], 1).is_err(), "cut at {cut}");
        }
        // A NULL where a value must be, a timestamp out of range.
        let mut null_type = row(7, None, payload);
        let at = 2 + 12 + 12 + 4;
        null_type.splice(at..at + 4 + 19, (-1i32).to_be_bytes());
        assert!(decode(&null_type, 1).is_err());
        let mut infinite = r.clone();
        infinite[2 + 12 + 4..2 + 12 + 12].copy_from_slice(&i64::MAX.to_be_bytes());
        assert!(decode(&infinite, 1).is_err());
    }

    #[test]
    fn rows_written_for_a_copy_are_the_format_the_reader_reads() {
        let payload = r#"{"org_id":"acme","name":"Acme","currency":"USD","billing_anchor":"2025-01-01T00:00:00Z"}"#;
        let mut copy = CopyRows::new(0);
        copy.row(COLUMNS);
        copy.int8(7);
        copy.timestamptz("2000-01-01T00:00:00Z".parse().unwrap())
            .unwrap();
        copy.text(Some("acme")).unwrap();
        copy.text(Some("OrganizationCreated")).unwrap();
        copy.int4(1);
        copy.text(Some(payload)).unwrap();
        let bytes = copy.finish();
        let mut expected = header();
        expected.extend(row(7, Some("acme"), payload));
        expected.extend((-1i16).to_be_bytes());
        assert_eq!(bytes, expected);

        // jsonb: a length, format version 1, then the JSON text.
        let mut copy = CopyRows::new(0);
        copy.jsonb(r#"{"a":1}"#).unwrap();
        copy.text(None).unwrap();
        copy.uuid(Uuid::from_u128(1));
        let bytes = copy.finish();
        let fields = &bytes[header().len()..];
        assert_eq!(&fields[..4], &8i32.to_be_bytes());
        assert_eq!(&fields[4..12], b"\x01{\"a\":1}");
        assert_eq!(&fields[12..16], &(-1i32).to_be_bytes());
        assert_eq!(&fields[16..20], &16i32.to_be_bytes());
        assert_eq!(fields[35], 1);
        assert_eq!(&fields[36..], &(-1i16).to_be_bytes());
    }
}
