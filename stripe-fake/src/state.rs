//! State shared by the server, its handle and the control endpoints.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::faults::Fault;
use crate::idempotency::IdempotencyTable;
use crate::store::Store;
use crate::FakeConfig;

/// One request the fake received, as sent (for conformance checks and debugging).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// Path without the query, e.g. `/v1/invoices/in_123/finalize`.
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Raw body (UTF-8, lossy).
    pub body: String,
    /// `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// `Stripe-Version` header, if any.
    #[serde(default)]
    pub stripe_version: Option<String>,
    /// Status answered; `None` if no response was sent (dropped connection).
    pub status: Option<u16>,
}

pub(crate) struct Shared {
    pub config: FakeConfig,
    pub store: Mutex<Store>,
    pub idempotency: Mutex<IdempotencyTable>,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub outbox: Mutex<crate::webhooks::Outbox>,
}

/// Locks a mutex; a panic elsewhere while holding it does not make the data unusable
/// for a test fake, so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(config: FakeConfig) -> Self {
        Self {
            config,
            store: Mutex::default(),
            idempotency: Mutex::default(),
            faults: Mutex::default(),
            log: Mutex::default(),
            outbox: Mutex::default(),
        }
    }

    /// Adds a fault; one that applies to no request (`times: 0`) is refused.
    pub fn add_fault(&self, fault: Fault) -> bool {
        if fault.times == 0 {
            return false;
        }
        lock(&self.faults).push(fault);
        true
    }

    /// Takes one use of the first fault matching the request.
    pub fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let idx = faults.iter().position(|f| f.matches(method, path))?;
        let fault = faults[idx].clone();
        faults[idx].times = faults[idx].times.saturating_sub(1);
        if faults[idx].times == 0 {
            faults.remove(idx);
        }
        Some(fault)
    }

    pub fn record(&self, request: RecordedRequest) -> usize {
        let mut log = lock(&self.log);
        log.push(request);
        log.len() - 1
    }

    pub fn set_status(&self, idx: usize, status: u16) {
        if let Some(r) = lock(&self.log).get_mut(idx) {
            r.status = Some(status);
        }
    }

    pub fn reset(&self) {
        *lock(&self.store) = Store::default();
        *lock(&self.idempotency) = IdempotencyTable::default();
        lock(&self.faults).clear();
        lock(&self.log).clear();
        *lock(&self.outbox) = crate::webhooks::Outbox::default();
    }
}
