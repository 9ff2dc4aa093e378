//! Invoices: create, retrieve, update, list, finalize, void, delete, lines, search.

use serde::Serialize;
use tracing::instrument;

use super::objects::{InvoicePayment, InvoiceWithPayments, PaymentIntent};
use super::{
    CreateInvoice, Deleted, IdempotencyKey, Invoice, InvoiceLine, List, ListInvoices, ListParams,
    SearchInvoices, SearchResult, StripeClient, StripeError, UpdateInvoice,
};

/// Stripe's largest page.
const MAX_PAGE: u32 = 100;

/// `expand[]`.
#[derive(Serialize)]
struct Expand {
    expand: Vec<String>,
}

/// Finalize and void take no parameters we use.
#[derive(Serialize)]
struct NoParams {}

impl StripeClient {
    /// `POST /v1/invoices`: a one-off draft.
    #[instrument(skip_all, fields(customer = %params.customer, idempotency_key = key.as_str()))]
    pub async fn create_invoice(
        &self,
        params: &CreateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        self.post(&["v1", "invoices"], params, key).await
    }

    /// `GET /v1/invoices/{id}`; `lines` holds only the first lines.
    #[instrument(skip(self))]
    pub async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError> {
        self.get(&["v1", "invoices", id], &()).await
    }

    /// `POST /v1/invoices/{id}`.
    #[instrument(skip(self, params, key), fields(idempotency_key = key.as_str()))]
    pub async fn update_invoice(
        &self,
        id: &str,
        params: &UpdateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        self.post(&["v1", "invoices", id], params, key).await
    }

    /// The invoice's payments, newest first: `GET /v1/invoices/{id}` with
    /// `expand[]=payments` (Stripe's includable list of `invoice_payment`s).
    #[instrument(skip(self))]
    pub async fn invoice_payments(&self, id: &str) -> Result<Vec<InvoicePayment>, StripeError> {
        let query = Expand {
            expand: vec!["payments".to_owned()],
        };
        let invoice: InvoiceWithPayments = self.get(&["v1", "invoices", id], &query).await?;
        Ok(invoice.payments.map(|p| p.data).unwrap_or_default())
    }

    /// `GET /v1/payment_intents/{id}`.
    #[instrument(skip(self))]
    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.get(&["v1", "payment_intents", id], &()).await
    }

    /// `GET /v1/events`: one page, newest first.
    #[instrument(skip_all)]
    pub async fn list_events(
        &self,
        params: &super::ListEvents,
    ) -> Result<List<crate::payments::StripeEvent>, StripeError> {
        self.get(&["v1", "events"], params).await
    }

    /// `GET /v1/invoices`: one page, newest first.
    #[instrument(skip_all)]
    pub async fn list_invoices(&self, params: &ListInvoices) -> Result<List<Invoice>, StripeError> {
        self.get(&["v1", "invoices"], params).await
    }

    /// `POST /v1/invoices/{id}/finalize`: draft → open (or paid when nothing is due).
    #[instrument(skip(self, key), fields(idempotency_key = key.as_str()))]
    pub async fn finalize_invoice(
        &self,
        id: &str,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        self.post(&["v1", "invoices", id, "finalize"], &NoParams {}, key)
            .await
    }

    /// `POST /v1/invoices/{id}/void`: open → void.
    #[instrument(skip(self, key), fields(idempotency_key = key.as_str()))]
    pub async fn void_invoice(
        &self,
        id: &str,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        self.post(&["v1", "invoices", id, "void"], &NoParams {}, key)
            .await
    }

    /// `DELETE /v1/invoices/{id}`: drafts only.
    #[instrument(skip(self))]
    pub async fn delete_invoice(&self, id: &str) -> Result<Deleted, StripeError> {
        self.delete(&["v1", "invoices", id]).await
    }

    /// `GET /v1/invoices/{id}/lines`: one page.
    #[instrument(skip(self, params))]
    pub async fn list_invoice_lines(
        &self,
        id: &str,
        params: &ListParams,
    ) -> Result<List<InvoiceLine>, StripeError> {
        self.get(&["v1", "invoices", id, "lines"], params).await
    }

    /// Every line of an invoice, paging `GET /v1/invoices/{id}/lines` 100 at a time.
    #[instrument(skip(self))]
    pub async fn all_invoice_lines(&self, id: &str) -> Result<Vec<InvoiceLine>, StripeError> {
        let mut lines = Vec::new();
        let mut params = ListParams {
            limit: Some(MAX_PAGE),
            ..ListParams::default()
        };
        loop {
            let page = self.list_invoice_lines(id, &params).await?;
            let last = page.data.last().map(|l| l.id.clone());
            lines.extend(page.data);
            match last {
                Some(last) if page.has_more => params.starting_after = Some(last),
                _ => return Ok(lines),
            }
        }
    }

    /// `GET /v1/invoices/search`. Stripe's search is eventually consistent: an invoice
    /// created a moment ago may be missing, so never use it for read-after-write.
    #[instrument(skip_all, fields(query = %params.query))]
    pub async fn search_invoices(
        &self,
        params: &SearchInvoices,
    ) -> Result<SearchResult<Invoice>, StripeError> {
        self.get(&["v1", "invoices", "search"], params).await
    }
}
