//! A bare entry point to the sync daemon, for tests that must kill a real
//! process (`billing sync` runs the same [`sync::daemon::run_daemon`]).
//! Reads `DATABASE_URL`, `STRIPE_*` and `SYNC_*`; stops on SIGINT/SIGTERM.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| ledger::db::default_url());
    let options = match sync::SyncOptions::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    // Register the handlers before anything else runs, so a signal that
    // arrives right after start-up stops the daemon cleanly instead of
    // killing it with the default action.
    let signals = match Signals::register() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: listening for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(async move {
        signals.wait().await;
        signal.cancel();
    });
    match sync::daemon::run_daemon(&url, options, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT and SIGTERM, listened for from the moment of registration.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn register() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
