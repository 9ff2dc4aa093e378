//! Our own accept loop (hyper-util), so a handler can close its connection unanswered.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::faults::Fault;
use crate::state::{lock, RecordedRequest, Shared};
use crate::{FakeConfig, FakeError};

/// Lets a request handler close the connection it arrived on without a response.
#[derive(Clone)]
pub(crate) struct ConnControl(CancellationToken);

impl ConnControl {
    pub fn drop_connection(&self) {
        self.0.cancel();
    }
}

/// A running fake. Dropping it stops the server (as [`FakeHandle::shutdown`] does,
/// without waiting).
pub struct FakeHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Starts the fake on `bind` (port 0 picks a free port) and serves until shut down.
pub async fn spawn(bind: SocketAddr, config: FakeConfig) -> Result<FakeHandle, FakeError> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| FakeError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(FakeError::LocalAddr)?;
    let shared = Arc::new(Shared::new(config));
    let router = crate::router(Arc::clone(&shared));
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::webhooks::run(Arc::clone(&shared), shutdown.clone()));
    let task = tokio::spawn(accept_loop(listener, router, shutdown.clone()));
    tracing::info!(%addr, "Stripe fake listening");
    Ok(FakeHandle {
        addr,
        shared,
        shutdown,
        task: Some(task),
    })
}

async fn accept_loop(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(
                    stream,
                    router.clone(),
                    shutdown.child_token(),
                ));
            }
            Err(error) => tracing::warn!(%error, "Stripe fake could not accept a connection"),
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router, shutdown: CancellationToken) {
    let drop_now = CancellationToken::new();
    let control = ConnControl(drop_now.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(control.clone());
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "Stripe fake connection ended with an error");
            }
        }
        // Returning drops the connection: the socket closes with no response sent.
        () = drop_now.cancelled() => {}
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            if let Err(error) = connection.await {
                tracing::debug!(%error, "Stripe fake connection ended with an error");
            }
        }
    }
}

impl FakeHandle {
    /// The address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, to use as `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a fault for the next `fault.times` matching requests (`times: 0` is ignored).
    pub fn inject(&self, fault: Fault) {
        if !self.shared.add_fault(fault) {
            tracing::warn!("ignored a fault with times = 0");
        }
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every `/v1` request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// A fault for the next `fault.times` webhook deliveries.
    pub fn inject_webhook_fault(&self, fault: crate::WebhookFault) {
        lock(&self.shared.outbox).faults.push(fault);
    }

    /// Fake-only: the next payment attempt of `invoice` fails with `decline_code`.
    pub fn fail_next_payment(&self, invoice: &str, decline_code: &str) {
        lock(&self.shared.store)
            .fail_next
            .insert(invoice.to_owned(), decline_code.to_owned());
    }

    /// Webhook deliveries answered with a 2xx so far.
    pub fn webhooks_delivered(&self) -> u64 {
        lock(&self.shared.outbox).delivered
    }

    /// Forgets all objects, idempotency keys, faults and recorded requests.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, lets open connections finish their current request, and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "Stripe fake accept loop failed");
            }
        }
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
