-- PostgreSQL's 0012 makes the event table's identifiers compare byte by
-- byte (COLLATE "C"). SQLite's text columns already do (BINARY, the
-- default collation), so there is nothing to change here; the file keeps
-- the two schemas' version numbers in step.
SELECT 1;
