//! One Stripe event into the ledger: the path both the webhook and the
//! catch-up poller take. Idempotent by Stripe's event id (the event's
//! idempotency key is `stripe-event:<id>`, unique across the store), so a
//! redelivery, a duplicate or the poller finding an event the webhook
//! already brought stores nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ledger::db::{parse_timestamp, Database};
use ledger::event::{
    InvoiceKey, InvoiceMarkedUncollectible, InvoicePaid, InvoicePaymentActionRequired,
    InvoicePaymentFailed, InvoiceRefundRecorded, InvoiceVoidedInStripe, StripeEventUnmatched,
};
use ledger::{EventMetadata, EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use projections::ProjectionTables;

use super::event::{unix, InvoiceObject, RefundObject, StripeEvent};
use crate::error::SyncError;
use crate::snapshot::{META_ORG, META_PERIOD};

/// The stream unmatched Stripe events are kept in, for operators.
pub const UNMATCHED_STREAM: &str = "stripe-unmatched";

/// What applying one Stripe event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new ledger fact about one of our invoices.
    Recorded,
    /// Already applied (same Stripe event id): nothing stored.
    Duplicate,
    /// No invoice of ours matched: kept on the `stripe-unmatched` stream.
    Unmatched,
    /// A type payments do not act on (acknowledged, nothing stored).
    Ignored,
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Duplicate => "duplicate",
            Self::Unmatched => "unmatched",
            Self::Ignored => "ignored",
        }
    }
}

/// Turns Stripe events into ledger facts.
#[derive(Clone)]
pub struct PaymentApplier {
    db: Database,
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
}

/// The idempotency key of a Stripe event's fact.
pub fn event_key(stripe_event_id: &str) -> String {
    format!("stripe-event:{stripe_event_id}")
}

/// The idempotency key of a Stripe event kept as unmatched: a key of its
/// own, so that the event can still be applied under [`event_key`] once its
/// invoice is known.
pub fn unmatched_key(stripe_event_id: &str) -> String {
    format!("stripe-unmatched:{stripe_event_id}")
}

/// Unmatched events read per page when re-examined.
const REEXAMINE_PAGE: u32 = 200;

#[derive(sqlx::FromRow)]
struct SyncKey {
    org_id: String,
    period_start: String,
}

impl PaymentApplier {
    pub fn new(db: &Database) -> Self {
        Self {
            store: db.event_store(),
            tables: projections::tables_for(db),
            db: db.clone(),
        }
    }

    /// Apply `event`; `source` names the path (`webhook`, `catch-up`).
    ///
    /// A matched event is stored under `stripe-event:<id>` (once, ever); an
    /// unmatched one under `stripe-unmatched:<id>` on `stripe-unmatched`,
    /// which leaves the first key free: a redelivery after the invoice became
    /// known, or the catch-up's [`PaymentApplier::reexamine_unmatched`],
    /// applies it then — still once.
    pub async fn apply(&self, event: &StripeEvent, source: &str) -> Result<Applied, SyncError> {
        match self.fact(event).await? {
            Fact::Ignored => Ok(Applied::Ignored),
            Fact::Invoice(key, fact) => {
                let stored = self
                    .append(&key.stream(), &fact, event, event_key(&event.id), source)
                    .await?;
                Ok(if stored {
                    Applied::Recorded
                } else {
                    Applied::Duplicate
                })
            }
            Fact::Unmatched(object, reason) => {
                let stream = StreamId::new(UNMATCHED_STREAM)
                    .map_err(|e| SyncError::Corrupt(e.to_string()))?;
                let fact = LedgerEvent::StripeEventUnmatched(StripeEventUnmatched {
                    stripe_event_id: event.id.clone(),
                    stripe_event_type: event.kind.clone(),
                    stripe_object_id: object,
                    reason,
                    stripe_event: serde_json::to_value(event).ok(),
                });
                let stored = self
                    .append(&stream, &fact, event, unmatched_key(&event.id), source)
                    .await?;
                Ok(if stored {
                    Applied::Unmatched
                } else {
                    Applied::Duplicate
                })
            }
        }
    }

    /// Append one fact of `event` under `key`; `false` if the key was taken.
    pub(crate) async fn append(
        &self,
        stream: &StreamId,
        fact: &LedgerEvent,
        event: &StripeEvent,
        key: String,
        source: &str,
    ) -> Result<bool, SyncError> {
        let metadata = EventMetadata {
            actor: Some("stripe".into()),
            source: Some(format!("stripe:{source}")),
            correlation_id: Some(event.id.clone()),
            causation_id: None,
        };
        let new = NewEvent::from_domain(fact, event.created_at())?
            .with_idempotency_key(key)
            .with_metadata(metadata);
        let outcome = self
            .store
            .append(stream, ExpectedVersion::Any, vec![new])
            .await?;
        Ok(!outcome.results.first().is_some_and(|r| r.is_duplicate()))
    }

    /// Apply every event kept on `stripe-unmatched` (with its body, created
    /// after `since`) whose invoice the ledger knows now. An event still
    /// unmatched stores nothing; one already applied is a duplicate. Returns
    /// how many became facts.
    pub async fn reexamine_unmatched(&self, since: DateTime<Utc>) -> Result<usize, SyncError> {
        let stream =
            StreamId::new(UNMATCHED_STREAM).map_err(|e| SyncError::Corrupt(e.to_string()))?;
        let mut applied = 0;
        let mut from = 0;
        loop {
            let page = self
                .store
                .read_stream(&stream, from, REEXAMINE_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            from = last.stream_version + 1;
            for recorded in &page {
                let Ok(LedgerEvent::StripeEventUnmatched(kept)) = recorded.decode() else {
                    continue;
                };
                let Some(event) = kept
                    .stripe_event
                    .and_then(|v| serde_json::from_value::<StripeEvent>(v).ok())
                else {
                    continue;
                };
                if event.created_at() < since {
                    continue;
                }
                if let Fact::Invoice(key, fact) = self.fact(&event).await? {
                    if self
                        .append(
                            &key.stream(),
                            &fact,
                            &event,
                            event_key(&event.id),
                            "re-examined",
                        )
                        .await?
                    {
                        tracing::info!(stripe_event = %event.id, "an unmatched Stripe event matched");
                        applied += 1;
                    }
                }
            }
            if page.len() < REEXAMINE_PAGE as usize {
                break;
            }
        }
        Ok(applied)
    }

    async fn fact(&self, event: &StripeEvent) -> Result<Fact, SyncError> {
        let at = event.created_at();
        let object = &event.data.object;
        let kind = event.kind.as_str();
        if matches!(kind, "charge.refunded" | "credit_note.created") {
            let refund: RefundObject = match serde_json::from_value(object.clone()) {
                Ok(r) => r,
                Err(e) => return Ok(Fact::Unmatched(None, format!("undecodable object: {e}"))),
            };
            let Some(stripe_invoice) = refund.invoice.as_ref().map(|i| i.id().to_owned()) else {
                return Ok(Fact::Unmatched(Some(refund.id), "no invoice named".into()));
            };
            let Some(key) = self.match_invoice(&stripe_invoice, None).await? else {
                return Ok(Fact::Unmatched(
                    Some(refund.id),
                    format!("Stripe invoice {stripe_invoice} is not one of the ledger's"),
                ));
            };
            let (refund_kind, amount) = if kind == "credit_note.created" {
                ("credit_note", refund.amount)
            } else {
                ("refund", refund.amount_refunded.or(refund.amount))
            };
            return Ok(Fact::Invoice(
                key.clone(),
                LedgerEvent::InvoiceRefundRecorded(InvoiceRefundRecorded {
                    invoice: key,
                    stripe_invoice_id: stripe_invoice,
                    stripe_event_id: event.id.clone(),
                    kind: refund_kind.into(),
                    stripe_object_id: refund.id,
                    amount_minor: amount.unwrap_or(0),
                    currency: refund.currency.unwrap_or_default(),
                }),
            ));
        }
        let acts = matches!(
            kind,
            "invoice.paid"
                | "invoice.payment_failed"
                | "invoice.payment_action_required"
                | "invoice.marked_uncollectible"
                | "invoice.voided"
        );
        if !acts {
            // `invoice.finalized` included: the sync records finalization
            // itself (`InvoiceFinalizedInStripe`) when it finalizes.
            return Ok(Fact::Ignored);
        }
        let invoice: InvoiceObject = match serde_json::from_value(object.clone()) {
            Ok(i) => i,
            Err(e) => return Ok(Fact::Unmatched(None, format!("undecodable invoice: {e}"))),
        };
        let Some(key) = self
            .match_invoice(&invoice.id, invoice.metadata.as_ref())
            .await?
        else {
            return Ok(Fact::Unmatched(
                Some(invoice.id.clone()),
                format!(
                    "Stripe invoice {} carries no ledger metadata the ledger knows and no stored sync row names it",
                    invoice.id
                ),
            ));
        };
        let stripe_invoice_id = invoice.id.clone();
        let stripe_event_id = event.id.clone();
        let next = invoice.next_payment_attempt.and_then(unix);
        let fact = match kind {
            "invoice.paid" => LedgerEvent::InvoicePaid(InvoicePaid {
                invoice: key.clone(),
                stripe_invoice_id,
                stripe_event_id: Some(stripe_event_id),
                paid_at: invoice
                    .status_transitions
                    .as_ref()
                    .and_then(|t| t.paid_at)
                    .and_then(unix)
                    .or(Some(at)),
                paid_out_of_band: invoice.paid_out_of_band.unwrap_or(false),
            }),
            "invoice.payment_failed" => LedgerEvent::InvoicePaymentFailed(InvoicePaymentFailed {
                invoice: key.clone(),
                stripe_invoice_id,
                reason: invoice.failure_reason(),
                stripe_event_id: Some(stripe_event_id),
                failed_at: Some(at),
                attempt_count: invoice.attempt_count,
                next_payment_attempt: next,
            }),
            "invoice.payment_action_required" => {
                LedgerEvent::InvoicePaymentActionRequired(InvoicePaymentActionRequired {
                    invoice: key.clone(),
                    stripe_invoice_id,
                    stripe_event_id,
                    at,
                    next_payment_attempt: next,
                })
            }
            "invoice.marked_uncollectible" => {
                LedgerEvent::InvoiceMarkedUncollectible(InvoiceMarkedUncollectible {
                    invoice: key.clone(),
                    stripe_invoice_id,
                    stripe_event_id,
                })
            }
            _ => LedgerEvent::InvoiceVoidedInStripe(InvoiceVoidedInStripe {
                invoice: key.clone(),
                stripe_invoice_id,
                stripe_event_id,
            }),
        };
        Ok(Fact::Invoice(key, fact))
    }

    /// Our invoice behind a Stripe invoice: its metadata (when it names an
    /// invoice the ledger has), else the sync's stored Stripe id.
    pub(crate) async fn match_invoice(
        &self,
        stripe_invoice_id: &str,
        metadata: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Option<InvoiceKey>, SyncError> {
        if let Some(meta) = metadata {
            if let (Some(org), Some(period)) = (meta.get(META_ORG), meta.get(META_PERIOD)) {
                if let Some(key) = key_of(org, period) {
                    if self
                        .tables
                        .invoice(&key.org_id, key.period_start)
                        .await?
                        .is_some()
                    {
                        return Ok(Some(key));
                    }
                }
            }
        }
        let row = self
            .db
            .query_as::<SyncKey>(
                "SELECT org_id, period_start FROM stripe_invoice_sync WHERE stripe_invoice_id = $1",
            )
            .bind(stripe_invoice_id)
            .fetch_optional()
            .await?;
        Ok(row.and_then(|r| key_of(&r.org_id, &r.period_start)))
    }
}

fn key_of(org: &str, period: &str) -> Option<InvoiceKey> {
    let org_id = OrgId::new(org.to_owned()).ok()?;
    let period_start: DateTime<Utc> = parse_timestamp(period).ok()?;
    Some(InvoiceKey {
        org_id,
        period_start,
    })
}

enum Fact {
    Invoice(InvoiceKey, LedgerEvent),
    Unmatched(Option<String>, String),
    Ignored,
}
