//! Publishing one claimed invoice: ensure the customer, find or create the
//! Stripe invoice, apply the line diff, finalize (or void) once the ledger
//! has closed the invoice, then record audit facts.
//!
//! Normally the stored snapshot says what Stripe holds. A claim that finds
//! an unrecorded publish (`recovery`) re-reads Stripe instead: the stored
//! invoice id first, else the customer's invoices matched by metadata, then
//! the invoice's lines matched by `ledger_line_id` — never search, which is
//! eventually consistent. So a retry, even after Stripe's 24 h idempotency
//! window, never creates a second invoice or item.

mod audit;
mod find;
mod lease;
mod lines;
mod verify;

use projections::{Invoice, InvoiceStatus};

use crate::error::SyncError;
use crate::pace::Access;
use crate::projector::SyncProjector;
use crate::snapshot::{
    invoice_action_key, invoice_create_key, invoice_metadata, invoice_tag, Snapshot,
};
use crate::state::record::{Attempt, Outcome};
use crate::state::{queue, SyncRow};
use crate::stripe::{CreateInvoice, InvoiceStatus as StripeStatus, PendingInvoiceItemsBehavior};

/// The Stripe invoice as far as this publish knows it.
pub(crate) struct Remote {
    pub id: String,
    pub status: StripeStatus,
    pub snapshot: Snapshot,
}

/// One publish in progress; what it learned survives a failure.
pub(crate) struct Publish<'a> {
    pub(crate) p: &'a SyncProjector,
    pub(crate) row: &'a SyncRow,
    pub(crate) worker: &'a str,
    pub(crate) calls: i64,
    pub(crate) customer: Option<String>,
    pub(crate) invoice: Option<String>,
    pub(crate) version: i64,
    pub(crate) lease: lease::Lease,
    /// A Stripe invoice of ours that recovery found deleted (its create key is spent).
    pub(crate) gone: Option<String>,
    /// Names this attempt in the keys of updates (see `snapshot::item_update_key`).
    pub(crate) attempt: String,
}

fn status_text(s: StripeStatus) -> &'static str {
    match s {
        StripeStatus::Draft => "draft",
        StripeStatus::Open => "open",
        StripeStatus::Paid => "paid",
        StripeStatus::Uncollectible => "uncollectible",
        StripeStatus::Void => "void",
    }
}

impl<'a> Publish<'a> {
    pub(crate) fn new(p: &'a SyncProjector, row: &'a SyncRow, worker: &'a str) -> Self {
        Self {
            p,
            row,
            worker,
            calls: 0,
            customer: row.stripe_customer_id.clone(),
            invoice: row.stripe_invoice_id.clone(),
            version: row.target_version,
            lease: lease::Lease::keep(&p.db, row, worker, p.options.lease, p.clock.clone()),
            gone: None,
            attempt: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// What to record after a failure.
    pub(crate) fn failed(&self, outcome: Outcome, error: String, next_attempt_at: i64) -> Attempt {
        Attempt {
            outcome,
            version: self.version,
            calls: self.calls,
            customer: self.customer.clone(),
            invoice: self.invoice.clone(),
            stripe_status: None,
            snapshot: None,
            error: Some(error),
            next_attempt_at,
        }
    }

    pub(crate) async fn run(&mut self) -> Result<Attempt, SyncError> {
        let org = self.row.org()?;
        let period = self.row.period()?;
        let invoice =
            self.p.tables.invoice(&org, period).await?.ok_or_else(|| {
                SyncError::Unpublishable("the invoice is not in the ledger".into())
            })?;
        self.version = invoice.version;
        let customer = self.ensure_customer(&invoice).await?;
        let remote = self.find_invoice(&invoice, &customer).await?;
        let (outcome, remote) = match invoice.status {
            InvoiceStatus::Void => (Outcome::Voided, self.void(remote).await?),
            InvoiceStatus::Open => {
                let remote = self.draft(&invoice, &customer, remote).await?;
                (
                    Outcome::Published,
                    Some(self.apply_lines(&invoice, remote).await?),
                )
            }
            InvoiceStatus::Finalized | InvoiceStatus::Paid => {
                let remote = self.draft(&invoice, &customer, remote).await?;
                let remote = self.apply_lines(&invoice, remote).await?;
                let remote = self.verify_before_finalizing(&invoice, remote).await?;
                (Outcome::Finalized, Some(self.finalize(remote).await?))
            }
        };
        self.audit(&invoice, outcome, remote.as_ref()).await?;
        Ok(Attempt {
            outcome,
            version: invoice.version,
            calls: self.calls,
            customer: Some(customer),
            invoice: remote.as_ref().map(|r| r.id.clone()),
            stripe_status: Some(
                remote
                    .as_ref()
                    .map_or("deleted", |r| status_text(r.status))
                    .to_owned(),
            ),
            snapshot: Some(serde_json::to_string(
                &remote.map(|r| r.snapshot).unwrap_or_default(),
            )?),
            error: None,
            next_attempt_at: 0,
        })
    }

    /// The Stripe draft to publish into, created if there is none.
    async fn draft(
        &mut self,
        invoice: &Invoice,
        customer: &str,
        remote: Option<Remote>,
    ) -> Result<Remote, SyncError> {
        if let Some(remote) = remote {
            return Ok(remote);
        }
        let tag = invoice_tag(invoice.org_id.as_str(), invoice.period_start);
        let basis = match &self.gone {
            Some(gone) => format!("{customer}\nafter {gone}"),
            None => customer.to_owned(),
        };
        let key = invoice_create_key(&tag, &basis)?;
        let mut params = CreateInvoice::for_customer(customer);
        params.auto_advance = Some(false);
        params.currency = Some(invoice.currency.code().to_ascii_lowercase());
        params.description = Some(format!(
            "Usage from {} to {}",
            invoice.period_start.format("%Y-%m-%d"),
            invoice.period_end.format("%Y-%m-%d")
        ));
        params.metadata = invoice_metadata(invoice);
        params.pending_invoice_items_behavior = Some(PendingInvoiceItemsBehavior::Exclude);
        let caller = self.p.caller.clone();
        let created = caller
            .call(&mut self.calls, &self.lease, Access::Write, |api| {
                api.create_invoice(&params, &key)
            })
            .await?;
        self.invoice = Some(created.id.clone());
        queue::save_ids(&self.p.db, self.row, self.worker, customer, &created.id).await?;
        Ok(Remote {
            id: created.id,
            status: created.status.unwrap_or(StripeStatus::Draft),
            snapshot: Snapshot::new(),
        })
    }

    /// Finalize a draft whose final snapshot is published.
    async fn finalize(&mut self, remote: Remote) -> Result<Remote, SyncError> {
        if remote.status != StripeStatus::Draft {
            return Ok(remote);
        }
        let key = invoice_action_key(&remote.id, "finalize")?;
        let caller = self.p.caller.clone();
        let done = caller
            .call(&mut self.calls, &self.lease, Access::Write, |api| {
                api.finalize_invoice(&remote.id, &key)
            })
            .await?;
        Ok(Remote {
            status: done.status.unwrap_or(StripeStatus::Open),
            ..remote
        })
    }

    /// The ledger voided the invoice: delete a Stripe draft, void an open one.
    async fn void(&mut self, remote: Option<Remote>) -> Result<Option<Remote>, SyncError> {
        let Some(remote) = remote else {
            return Ok(None);
        };
        let caller = self.p.caller.clone();
        match remote.status {
            StripeStatus::Draft => {
                caller
                    .call(&mut self.calls, &self.lease, Access::Write, |api| {
                        api.delete_invoice(&remote.id)
                    })
                    .await?;
                Ok(None)
            }
            StripeStatus::Open => {
                let key = invoice_action_key(&remote.id, "void")?;
                let voided = caller
                    .call(&mut self.calls, &self.lease, Access::Write, |api| {
                        api.void_invoice(&remote.id, &key)
                    })
                    .await?;
                Ok(Some(Remote {
                    status: voided.status.unwrap_or(StripeStatus::Void),
                    ..remote
                }))
            }
            _ => Ok(Some(remote)),
        }
    }
}
