//! The write side: every rule a write must obey, in one layer that the HTTP
//! handlers and the `billing` CLI both call, so no path into the ledger
//! skips them. A command takes typed, validated input, checks what it
//! needs against the ledger, and appends events (or returns a typed
//! rejection); handlers parse, authorise and delegate.
