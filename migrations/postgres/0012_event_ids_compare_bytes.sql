-- The event table's identifiers compare byte by byte (COLLATE "C"), as
-- they do in SQLite (BINARY).
--
-- They are ids, never text to sort for a reader: stream ids, event types,
-- organization ids and idempotency keys. Under a database's linguistic
-- collation (en_US.UTF-8, or even C.UTF-8, which PostgreSQL 15 compares
-- through strcoll) every B-tree comparison on them goes through the C
-- library's strcoll on NUL-terminated copies; a profile of a batched
-- append showed the server spending about a tenth of its time in those
-- comparisons, maintaining the unique indexes and looking stream versions
-- up. Byte order costs a memcmp, and orders ids the same way on both
-- backends (audit pages, listings by organization).
ALTER TABLE event
    ALTER COLUMN stream_id TYPE TEXT COLLATE "C",
    ALTER COLUMN event_type TYPE TEXT COLLATE "C",
    ALTER COLUMN org_id TYPE TEXT COLLATE "C",
    ALTER COLUMN idempotency_key TYPE TEXT COLLATE "C";
