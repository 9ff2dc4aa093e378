//! `billing bench …`: each benchmark measures its own baseline in the same
//! run and prints a ratio, so the figure survives a noisy machine. The last
//! line of output is one JSON object.

mod age;
mod append;
mod ingest;
mod rebuild;
mod scratch;
mod sync;
mod workload;

use std::time::Duration;

pub use scratch::Scratch;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Append usage events through the EventStore vs. the fastest raw insert.
    Append(append::AppendArgs),
    /// Rebuild the invoice projection vs. a raw ordered scan of the events.
    Rebuild(rebuild::RebuildArgs),
    /// POST /v1/usage over loopback HTTP vs. the direct EventStore append.
    Ingest(ingest::IngestArgs),
    /// Stripe calls per invoice vs. per-usage-event syncing.
    Sync(sync::SyncBenchArgs),
    /// Folding usage for an organization with many closed periods vs. one
    /// with one, and invoice reads while clients ingest.
    Age(age::AgeArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Append(args) => append::run(args).await,
        BenchCommand::Rebuild(args) => rebuild::run(args).await,
        BenchCommand::Ingest(args) => ingest::run(args).await,
        BenchCommand::Sync(args) => sync::run(args).await,
        BenchCommand::Age(args) => age::run(args).await,
    }
}

/// Which backend a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Postgres,
    Sqlite,
}

impl BenchBackend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Run `job` over `items` from `writers` tasks, each taking the next item
/// when it is done with one.
pub async fn concurrently<T, F, Fut>(writers: usize, items: Vec<T>, job: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let queue = std::sync::Arc::new(std::sync::Mutex::new(items.into_iter()));
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let queue = queue.clone();
            let job = job.clone();
            tokio::spawn(async move {
                loop {
                    let next = queue
                        .lock()
                        .map_err(|_| anyhow::anyhow!("queue poisoned"))?
                        .next();
                    let Some(item) = next else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    job(item).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// The HTTP API over a benchmark's scratch database, on a loopback port.
pub struct BenchServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl BenchServer {
    pub async fn start(scratch: &Scratch) -> anyhow::Result<Self> {
        let config = crate::http::ApiConfig {
            bind: "127.0.0.1:0".parse()?,
            max_batch: 5_000,
            ..crate::http::ApiConfig::default()
        };
        let app = crate::http::Application::build(scratch.db.clone(), config).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Ok(Self {
            base,
            shutdown,
            task,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task
            .await
            .map_err(|e| anyhow::anyhow!("server task: {e}"))?
    }
}

/// Events per second, guarding against a zero duration.
pub fn rate(events: usize, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64().max(1e-9)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}
