//! Finalize only what was verified: before a draft is finalized its lines are read
//! back from Stripe and compared with the ledger's snapshot. Duplicates and stale items
//! are deleted, differing lines corrected, missing ones created; only when Stripe's
//! total equals the ledger's to the cent is the invoice finalized. Otherwise it parks
//! with the difference named (a line that is not ours, a tax or discount Stripe adds).

use projections::Invoice;

use super::{Publish, Remote};
use crate::error::SyncError;
use crate::pace::Access;
use crate::snapshot::{
    desired, idempotency_key, invoice_tag, item_update_key, verify, Change, StripeLine,
    Verification, META_LINE,
};
use crate::stripe::{
    CreateInvoiceItem, InvoiceStatus as StripeStatus, ItemPrice, Period, UpdateInvoiceItem,
};

/// Correct, re-read, compare: this many rounds before giving up.
const ROUNDS: usize = 3;

impl Publish<'_> {
    /// Stripe's total and lines of invoice `id` (the embedded page when it has them all).
    async fn read_back(&mut self, id: &str) -> Result<(i64, Vec<StripeLine>), SyncError> {
        let caller = self.p.caller.clone();
        let inv = caller
            .call(&mut self.calls, &self.lease, Access::Read, |api| {
                api.retrieve_invoice(id)
            })
            .await?;
        let lines = if inv.lines.has_more {
            caller
                .call(&mut self.calls, &self.lease, Access::Read, |api| {
                    api.all_invoice_lines(id)
                })
                .await?
        } else {
            inv.lines.data
        };
        let lines = lines
            .into_iter()
            .map(|l| StripeLine {
                item_id: l.invoice_item().map(str::to_owned),
                ledger_line: l.metadata.get(META_LINE).cloned(),
                line_id: l.id,
                amount: l.amount,
                description: l.description.unwrap_or_default(),
            })
            .collect();
        Ok((inv.total, lines))
    }

    /// Make the draft hold exactly the ledger's lines and check Stripe's total; returns
    /// the verified remote (its snapshot read from Stripe).
    pub(crate) async fn verify_before_finalizing(
        &mut self,
        invoice: &Invoice,
        mut remote: Remote,
    ) -> Result<Remote, SyncError> {
        let want = desired(invoice)?;
        let ours: i64 = want.iter().map(|l| l.amount).sum();
        for round in 0..ROUNDS {
            let (total, lines) = self.read_back(&remote.id).await?;
            let check = verify(&want, &lines);
            if check.matches() && total == ours {
                remote.snapshot = check.snapshot;
                return Ok(remote);
            }
            let fixable = check.corrections() > 0
                && remote.status == StripeStatus::Draft
                && round + 1 < ROUNDS;
            if !fixable {
                return Err(mismatch(&remote.id, total, ours, &check));
            }
            tracing::warn!(invoice = %remote.id, corrections = check.corrections(),
                difference = %check.describe(), "correcting the Stripe draft before finalizing");
            self.correct(invoice, &remote, &lines, &check).await?;
        }
        Err(SyncError::Unpublishable(format!(
            "Stripe invoice {} could not be verified",
            remote.id
        )))
    }

    async fn correct(
        &mut self,
        invoice: &Invoice,
        remote: &Remote,
        seen: &[StripeLine],
        check: &Verification,
    ) -> Result<(), SyncError> {
        let caller = self.p.caller.clone();
        for item in check.duplicates.iter().chain(&check.stale) {
            match caller
                .call(&mut self.calls, &self.lease, Access::Write, |api| {
                    api.delete_invoice_item(item)
                })
                .await
            {
                Ok(_) => {}
                Err(SyncError::Stripe(e)) if e.status() == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        for change in &check.wrong {
            let Change::Update { item_id, line } = change else {
                continue;
            };
            let key = item_update_key(item_id, line, &self.attempt)?;
            let params = UpdateInvoiceItem {
                price: Some(ItemPrice::Amount {
                    amount: line.amount,
                }),
                description: Some(line.description.clone()),
                ..UpdateInvoiceItem::default()
            };
            caller
                .call(&mut self.calls, &self.lease, Access::Write, |api| {
                    api.update_invoice_item(item_id, &params, &key)
                })
                .await?;
        }
        // A line is missing although it may have been created before (and deleted since):
        // the key names what was seen, so it is new for this state of the invoice.
        let seen_items: Vec<&str> = seen.iter().filter_map(|l| l.item_id.as_deref()).collect();
        let customer = self.customer.clone().unwrap_or_default();
        let currency = invoice.currency.code().to_ascii_lowercase();
        let period = Period {
            start: invoice.period_start.timestamp(),
            end: invoice.period_end.timestamp(),
        };
        let tag = invoice_tag(invoice.org_id.as_str(), invoice.period_start);
        for line in &check.missing {
            let basis = format!("{}\n{}", line.content_key(), seen_items.join(","));
            let key = idempotency_key(&tag, 0, "item-verified", &basis)?;
            let params = CreateInvoiceItem {
                customer: customer.clone(),
                invoice: Some(remote.id.clone()),
                currency: Some(currency.clone()),
                description: Some(line.description.clone()),
                period: Some(period),
                metadata: line.metadata.clone(),
                price: ItemPrice::Amount {
                    amount: line.amount,
                },
            };
            caller
                .call(&mut self.calls, &self.lease, Access::Write, |api| {
                    api.create_invoice_item(&params, &key)
                })
                .await?;
        }
        Ok(())
    }
}

fn mismatch(id: &str, total: i64, ours: i64, check: &Verification) -> SyncError {
    let mut detail = format!(
        "Stripe invoice {id} totals {total} but the ledger's {ours} (difference {})",
        total - ours
    );
    if !check.matches() {
        detail.push_str(&format!("; {}", check.describe()));
    }
    SyncError::Unpublishable(format!("not finalized: {detail}"))
}
