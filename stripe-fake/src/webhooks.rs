//! Delivery of events to registered webhook endpoints, signed as Stripe signs them
//! (`Stripe-Signature: t=…,v1=HMAC-SHA256("{t}.{body}")`), retried with exponential
//! backoff on anything but a 2xx, with injectable delivery faults.
//!
//! A task polls the event log; each (event, endpoint) pair becomes a delivery, which
//! a [`WebhookFault`] may drop, duplicate, hold back until the next delivery has gone
//! (reorder) or delay.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::render_event;
use crate::state::{lock, Shared};
use crate::store::now_unix;

/// What to do to a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeliveryFaultKind {
    /// Never delivered (still listed by `GET /v1/events`).
    Drop,
    /// Delivered twice.
    Duplicate,
    /// Held back until the next delivery has been sent.
    Reorder,
    /// Sent after this many milliseconds.
    Delay { ms: u64 },
}

/// A delivery fault for the next `times` deliveries (of `event_type`, if given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFault {
    pub kind: DeliveryFaultKind,
    #[serde(default)]
    pub event_type: Option<String>,
    pub times: u32,
}

/// One delivery attempt's state.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempt: u32,
    pub due: Instant,
    pub held: bool,
}

/// What the delivery task keeps between rounds.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Events up to this sequence number have been turned into deliveries.
    pub cursor: u64,
    pub pending: Vec<Delivery>,
    pub faults: Vec<WebhookFault>,
    /// Deliveries answered 2xx, for tests.
    pub delivered: u64,
}

impl Outbox {
    fn take_fault(&mut self, event_type: &str) -> Option<DeliveryFaultKind> {
        let idx = self
            .faults
            .iter()
            .position(|f| f.times > 0 && f.event_type.as_deref().is_none_or(|t| t == event_type))?;
        let kind = self.faults[idx].kind.clone();
        self.faults[idx].times -= 1;
        if self.faults[idx].times == 0 {
            self.faults.remove(idx);
        }
        Some(kind)
    }
}

/// The `Stripe-Signature` header for `body` at `t`.
pub fn signature_header(secret: &str, t: i64, body: &str) -> String {
    let hex = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(format!("{t}.").as_bytes());
            mac.update(body.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("t={t},v1={hex}")
}

/// Turn new events into deliveries (applying faults).
fn collect(shared: &Shared) {
    let store = lock(&shared.store);
    let mut outbox = lock(&shared.outbox);
    let cursor = outbox.cursor;
    let now = Instant::now();
    for event in store.events.iter().filter(|e| e.seq > cursor) {
        outbox.cursor = outbox.cursor.max(event.seq);
        let body = render_event(event).to_string();
        for endpoint in store.endpoints.iter().filter(|ep| ep.wants(&event.kind)) {
            let delivery = Delivery {
                url: endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                body: body.clone(),
                attempt: 0,
                due: now,
                held: false,
            };
            match outbox.take_fault(&event.kind) {
                Some(DeliveryFaultKind::Drop) => {}
                Some(DeliveryFaultKind::Duplicate) => {
                    outbox.pending.push(delivery.clone());
                    outbox.pending.push(delivery);
                }
                Some(DeliveryFaultKind::Reorder) => outbox.pending.push(Delivery {
                    held: true,
                    ..delivery
                }),
                Some(DeliveryFaultKind::Delay { ms }) => outbox.pending.push(Delivery {
                    due: now + Duration::from_millis(ms),
                    ..delivery
                }),
                None => outbox.pending.push(delivery),
            }
        }
    }
}

/// Deliveries due now (held ones stay), removed from the outbox.
fn due(shared: &Shared) -> Vec<Delivery> {
    let mut outbox = lock(&shared.outbox);
    let now = Instant::now();
    let (ready, wait): (Vec<_>, Vec<_>) = outbox
        .pending
        .drain(..)
        .partition(|d| !d.held && d.due <= now);
    outbox.pending = wait;
    ready
}

async fn send(client: &reqwest::Client, d: &Delivery) -> bool {
    let header = signature_header(&d.secret, now_unix(), &d.body);
    match client
        .post(&d.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", header)
        .body(d.body.clone())
        .send()
        .await
    {
        Ok(response) => response.status().is_success(),
        Err(error) => {
            tracing::debug!(%error, url = %d.url, "webhook delivery failed");
            false
        }
    }
}

/// The delivery loop, until `shutdown`.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "Stripe fake cannot deliver webhooks");
            return;
        }
    };
    let (base, max_attempts) = (
        shared.config.webhook_retry_base,
        shared.config.webhook_attempts,
    );
    loop {
        collect(&shared);
        let ready = due(&shared);
        let sent_any = !ready.is_empty();
        for delivery in ready {
            let ok = send(&client, &delivery).await;
            let mut outbox = lock(&shared.outbox);
            if ok {
                outbox.delivered += 1;
            } else if delivery.attempt + 1 < max_attempts {
                let wait = base.saturating_mul(2u32.saturating_pow(delivery.attempt.min(16)));
                outbox.pending.push(Delivery {
                    attempt: delivery.attempt + 1,
                    due: Instant::now() + wait,
                    ..delivery
                });
            }
        }
        if sent_any {
            // A held (reordered) delivery goes after the one that overtook it.
            for d in lock(&shared.outbox).pending.iter_mut().filter(|d| d.held) {
                d.held = false;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}
