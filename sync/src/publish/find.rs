//! Finding what Stripe already holds: stored ids first, else listing and
//! matching our metadata.

use ledger::{LedgerEvent, StreamId};
use projections::Invoice;

use super::{Publish, Remote};
use crate::error::SyncError;
use crate::pace::Access;
use crate::snapshot::{idempotency_key, invoice_tag, PublishedLine, Snapshot, META_INVOICE};
use crate::snapshot::{META_LINE, META_ORG};
use crate::state::{customer, millis};
use crate::stripe::{
    CreateCustomer, InvoiceStatus as StripeStatus, ListCustomers, ListInvoices, ListParams,
    StripeError,
};

fn not_found(e: &StripeError) -> bool {
    e.status() == Some(404)
}

impl Publish<'_> {
    /// The organization's Stripe customer: stored, named by the ledger
    /// (`OrganizationCreated.stripe_customer_id`), found by metadata after
    /// an in-doubt create, or created.
    pub(crate) async fn ensure_customer(&mut self, invoice: &Invoice) -> Result<String, SyncError> {
        if let Some(id) = &self.customer {
            return Ok(id.clone());
        }
        let org = invoice.org_id.as_str();
        let db = &self.p.db;
        let stored = customer::get(db, org).await?;
        if let Some(id) = stored.as_ref().and_then(|c| c.stripe_customer_id.clone()) {
            self.customer = Some(id.clone());
            return Ok(id);
        }
        let created = self
            .p
            .store
            .read_stream(&StreamId::organization(&invoice.org_id), 1, 1)
            .await?;
        let named = match created.first().map(|e| e.decode()) {
            Some(Ok(LedgerEvent::OrganizationCreated(c))) => Some(c),
            _ => None,
        };
        let known = named.as_ref().and_then(|c| c.stripe_customer_id.clone());
        let found = match known {
            Some(id) => Some(id),
            None if stored.is_some_and(|c| c.create_attempted) => self.find_customer(org).await?,
            None => None,
        };
        let id = match found {
            Some(id) => id,
            None => {
                customer::mark_attempt(db, org, millis(self.p.now())).await?;
                let params = CreateCustomer {
                    name: named.map(|c| c.name),
                    description: Some(format!("billing ledger organization {org}")),
                    metadata: [(META_ORG.to_owned(), org.to_owned())].into(),
                    ..CreateCustomer::default()
                };
                let key = idempotency_key(org, 0, "customer", "")?;
                let caller = self.p.caller.clone();
                caller
                    .call(&mut self.calls, &self.lease, Access::Write, |api| {
                        api.create_customer(&params, &key)
                    })
                    .await?
                    .id
            }
        };
        customer::save(db, org, &id, millis(self.p.now())).await?;
        self.customer = Some(id.clone());
        Ok(id)
    }

    /// Page through the account's customers for one whose metadata names `org`.
    async fn find_customer(&mut self, org: &str) -> Result<Option<String>, SyncError> {
        let caller = self.p.caller.clone();
        let mut page = ListCustomers {
            page: ListParams {
                limit: Some(100),
                ..ListParams::default()
            },
            ..ListCustomers::default()
        };
        loop {
            let list = caller
                .call(&mut self.calls, &self.lease, Access::Read, |api| {
                    api.list_customers(&page)
                })
                .await?;
            if let Some(c) = list
                .data
                .iter()
                .find(|c| c.metadata.get(META_ORG).map(String::as_str) == Some(org))
            {
                return Ok(Some(c.id.clone()));
            }
            match list.data.last() {
                Some(last) if list.has_more => page.page.starting_after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
    }

    /// The Stripe invoice and what it holds: from the stored snapshot, or
    /// (recovering) re-read from Stripe.
    pub(crate) async fn find_invoice(
        &mut self,
        invoice: &Invoice,
        customer: &str,
    ) -> Result<Option<Remote>, SyncError> {
        let row = self.row;
        if !row.recovery {
            let (Some(id), Some(status)) = (&row.stripe_invoice_id, &row.stripe_status) else {
                return Ok(None);
            };
            let status = match status.as_str() {
                "deleted" => return Ok(None),
                s => serde_json::from_value(serde_json::Value::String(s.to_owned()))?,
            };
            let snapshot: Snapshot = serde_json::from_str(&row.snapshot)?;
            return Ok(Some(Remote {
                id: id.clone(),
                status,
                snapshot,
            }));
        }
        let caller = self.p.caller.clone();
        let found = match self.invoice.clone() {
            Some(id) => {
                match caller
                    .call(&mut self.calls, &self.lease, Access::Read, |api| {
                        api.retrieve_invoice(&id)
                    })
                    .await
                {
                    Ok(inv) => Some(inv),
                    Err(SyncError::Stripe(e)) if not_found(&e) => {
                        // Deleted in Stripe: a new draft must not replay its create.
                        self.gone = Some(id.clone());
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let found = match found {
            Some(inv) => Some(inv),
            None => self.list_for_tag(invoice, customer).await?,
        };
        let Some(found) = found else {
            return Ok(None);
        };
        self.invoice = Some(found.id.clone());
        let status = found.status.unwrap_or(StripeStatus::Draft);
        let snapshot = self.read_lines(&found.id, status).await?;
        Ok(Some(Remote {
            id: found.id,
            status,
            snapshot,
        }))
    }

    /// The customer's invoices whose metadata names this ledger invoice; the
    /// oldest is kept, other drafts (duplicates) are deleted.
    async fn list_for_tag(
        &mut self,
        invoice: &Invoice,
        customer: &str,
    ) -> Result<Option<crate::stripe::Invoice>, SyncError> {
        let tag = invoice_tag(invoice.org_id.as_str(), invoice.period_start);
        let caller = self.p.caller.clone();
        let mut params = ListInvoices {
            customer: Some(customer.to_owned()),
            page: ListParams {
                limit: Some(100),
                ..ListParams::default()
            },
            ..ListInvoices::default()
        };
        let mut matches = Vec::new();
        loop {
            let list = caller
                .call(&mut self.calls, &self.lease, Access::Read, |api| {
                    api.list_invoices(&params)
                })
                .await?;
            let last = list.data.last().map(|i| i.id.clone());
            matches.extend(
                list.data
                    .into_iter()
                    .filter(|i| i.metadata.get(META_INVOICE) == Some(&tag)),
            );
            match last {
                Some(last) if list.has_more => params.page.starting_after = Some(last),
                _ => break,
            }
        }
        // Newest first: keep the oldest.
        let keep = matches.pop();
        for extra in matches {
            if extra.status == Some(StripeStatus::Draft) {
                tracing::warn!(invoice = %extra.id, "deleting a duplicate Stripe draft");
                caller
                    .call(&mut self.calls, &self.lease, Access::Write, |api| {
                        api.delete_invoice(&extra.id)
                    })
                    .await?;
            }
        }
        Ok(keep)
    }

    /// Every line of a Stripe invoice by our `ledger_line_id`; duplicate
    /// items for one line are deleted from a draft.
    async fn read_lines(&mut self, id: &str, status: StripeStatus) -> Result<Snapshot, SyncError> {
        let caller = self.p.caller.clone();
        let lines = caller
            .call(&mut self.calls, &self.lease, Access::Read, |api| {
                api.all_invoice_lines(id)
            })
            .await?;
        let mut snapshot = Snapshot::new();
        for line in lines {
            let (Some(line_id), Some(item)) = (
                line.metadata.get(META_LINE),
                line.invoice_item().map(str::to_owned),
            ) else {
                continue;
            };
            if snapshot.contains_key(line_id) {
                if status == StripeStatus::Draft {
                    tracing::warn!(item = %item, "deleting a duplicate Stripe invoice item");
                    caller
                        .call(&mut self.calls, &self.lease, Access::Write, |api| {
                            api.delete_invoice_item(&item)
                        })
                        .await?;
                }
                continue;
            }
            snapshot.insert(
                line_id.clone(),
                PublishedLine {
                    item_id: item,
                    amount: line.amount,
                    description: line.description.unwrap_or_default(),
                },
            );
        }
        Ok(snapshot)
    }
}
