//! Audit facts in the ledger: "published to Stripe as version V" and
//! "finalized in Stripe", appended with idempotency keys so a retried
//! publish records each fact once.

use ledger::event::{InvoiceFinalizedInStripe, InvoicePublishedToStripe};
use ledger::{EventMetadata, ExpectedVersion, LedgerEvent, NewEvent};
use projections::Invoice;

use super::{Publish, Remote};
use crate::error::SyncError;
use crate::snapshot::invoice_tag;
use crate::state::record::Outcome;

impl Publish<'_> {
    pub(crate) async fn audit(
        &self,
        invoice: &Invoice,
        outcome: Outcome,
        remote: Option<&Remote>,
    ) -> Result<(), SyncError> {
        let Some(remote) = remote else {
            return Ok(());
        };
        let tag = invoice_tag(invoice.org_id.as_str(), invoice.period_start);
        let metadata = EventMetadata {
            actor: Some("billing-sync".into()),
            source: Some(format!("sync:{}", self.worker)),
            ..EventMetadata::default()
        };
        let now = self.p.now();
        let published = LedgerEvent::InvoicePublishedToStripe(InvoicePublishedToStripe {
            invoice: invoice.key(),
            version: invoice.version,
            stripe_invoice_id: remote.id.clone(),
        });
        let mut events = vec![NewEvent::from_domain(&published, now)?
            .with_idempotency_key(format!("stripe-published:{tag}:v{}", invoice.version))
            .with_metadata(metadata.clone())];
        if outcome == Outcome::Finalized {
            let finalized = LedgerEvent::InvoiceFinalizedInStripe(InvoiceFinalizedInStripe {
                invoice: invoice.key(),
                version: invoice.version,
                stripe_invoice_id: remote.id.clone(),
            });
            events.push(
                NewEvent::from_domain(&finalized, now)?
                    .with_idempotency_key(format!("stripe-finalized:{tag}"))
                    .with_metadata(metadata),
            );
        }
        self.p
            .store
            .append(&invoice.key().stream(), ExpectedVersion::Any, events)
            .await?;
        Ok(())
    }
}
