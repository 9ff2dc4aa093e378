//! Applying the line diff to a Stripe draft: only the calls needed.

use projections::Invoice;

use super::{Publish, Remote};
use crate::error::SyncError;
use crate::pace::Access;
use crate::snapshot::{desired, diff, item_create_key, item_update_key, Change, PublishedLine};
use crate::stripe::{
    CreateInvoiceItem, InvoiceStatus as StripeStatus, ItemPrice, Period, UpdateInvoiceItem,
};

impl Publish<'_> {
    /// Make Stripe's lines equal the ledger's; returns the new snapshot.
    pub(crate) async fn apply_lines(
        &mut self,
        invoice: &Invoice,
        mut remote: Remote,
    ) -> Result<Remote, SyncError> {
        let want = desired(invoice)?;
        let changes = diff(&want, &remote.snapshot);
        if changes.is_empty() {
            return Ok(remote);
        }
        if remote.status != StripeStatus::Draft {
            return Err(SyncError::Unpublishable(format!(
                "Stripe invoice {} is no longer a draft but differs from the ledger in {} line(s)",
                remote.id,
                changes.len()
            )));
        }
        let customer = self.customer.clone().unwrap_or_default();
        let currency = invoice.currency.code().to_ascii_lowercase();
        let period = Period {
            start: invoice.period_start.timestamp(),
            end: invoice.period_end.timestamp(),
        };
        let caller = self.p.caller.clone();
        for change in changes {
            match change {
                Change::Create(line) => {
                    let key = item_create_key(&remote.id, &line)?;
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
                    let item = caller
                        .call(&mut self.calls, &self.lease, Access::Write, |api| {
                            api.create_invoice_item(&params, &key)
                        })
                        .await?;
                    remote.snapshot.insert(
                        line.line_id,
                        PublishedLine {
                            item_id: item.id,
                            amount: line.amount,
                            description: line.description,
                        },
                    );
                }
                Change::Update { item_id, line } => {
                    let key = item_update_key(&item_id, &line, &self.attempt)?;
                    let params = UpdateInvoiceItem {
                        price: Some(ItemPrice::Amount {
                            amount: line.amount,
                        }),
                        description: Some(line.description.clone()),
                        ..UpdateInvoiceItem::default()
                    };
                    caller
                        .call(&mut self.calls, &self.lease, Access::Write, |api| {
                            api.update_invoice_item(&item_id, &params, &key)
                        })
                        .await?;
                    remote.snapshot.insert(
                        line.line_id,
                        PublishedLine {
                            item_id,
                            amount: line.amount,
                            description: line.description,
                        },
                    );
                }
                Change::Delete { line_id, item_id } => {
                    match caller
                        .call(&mut self.calls, &self.lease, Access::Write, |api| {
                            api.delete_invoice_item(&item_id)
                        })
                        .await
                    {
                        Ok(_) => {}
                        Err(SyncError::Stripe(e)) if e.status() == Some(404) => {}
                        Err(e) => return Err(e),
                    }
                    remote.snapshot.remove(&line_id);
                }
            }
        }
        Ok(remote)
    }
}
