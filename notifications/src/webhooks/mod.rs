//! Outbound webhooks: endpoints, messages, signing and the dispatcher.

pub mod dispatch;
pub mod endpoints;
pub mod messages;
pub mod sealing;
pub mod signing;

pub use dispatch::{DispatchOptions, Dispatcher, DEFAULT_SCHEDULE};
