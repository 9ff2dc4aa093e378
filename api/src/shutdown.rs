//! One shutdown path for every long-running command: SIGINT and SIGTERM
//! cancel a token. The handlers are registered before [`on_signals`]
//! returns — call it first thing, before anything starts — so a signal that
//! arrives during start-up stops the process cleanly instead of killing it
//! with the default action.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// A token cancelled by the first SIGINT (Ctrl-C) or SIGTERM.
pub fn on_signals() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let cancel = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown requested: finishing in-flight work");
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing in-flight work");
        cancel.cancel();
    });
    Ok(token)
}
