//! The HTTP API and the `billing` command line.
//!
//! # Layout
//! - [`cli`]: the `billing` subcommands and their dispatch.
//! - [`cmd`]: one module per subcommand (`migrate`, `events`, `usage`,
//!   `bench`, `stripe-fake`).
//! - [`http`]: the HTTP API (axum) — [`http::Application`] binds, serves
//!   and shuts down gracefully; one module per area of endpoints.
//! - [`tokens`]: bearer tokens (stored hashed) and roles.
//! - [`console`]: the HTML support console and developer billing page.
//! - [`telemetry`]: `tracing` set up once, human-readable or JSON.
//!
//! Every command that needs the schema migrates it first, so a fresh
//! database (or the default SQLite file) works without a separate step.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod commands;
pub mod console;
pub mod http;
pub mod pipeline;
pub mod shutdown;
pub mod telemetry;
pub mod tokens;
