//! [`StripeApi`]: the client's operations as a trait object, so the sync daemon can hold
//! an `Arc<dyn StripeApi>` and tests can drive it with a stand-in.

use async_trait::async_trait;

use super::{
    CreateCustomer, CreateInvoice, CreateInvoiceItem, Customer, Deleted, IdempotencyKey, Invoice,
    InvoiceItem, InvoiceLine, List, ListCustomers, ListInvoiceItems, ListInvoices, ListParams,
    SearchInvoices, SearchResult, StripeClient, StripeError, UpdateInvoice, UpdateInvoiceItem,
};

/// Every Stripe operation the sync uses; [`StripeClient`] is the real implementation.
#[async_trait]
pub trait StripeApi: Send + Sync {
    /// `POST /v1/customers`.
    async fn create_customer(
        &self,
        p: &CreateCustomer,
        key: &IdempotencyKey,
    ) -> Result<Customer, StripeError>;
    /// `GET /v1/customers/{id}`.
    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError>;
    /// `GET /v1/customers`.
    async fn list_customers(&self, p: &ListCustomers) -> Result<List<Customer>, StripeError>;
    /// `POST /v1/invoices`.
    async fn create_invoice(
        &self,
        p: &CreateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError>;
    /// `GET /v1/invoices/{id}`.
    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError>;
    /// `POST /v1/invoices/{id}`.
    async fn update_invoice(
        &self,
        id: &str,
        p: &UpdateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError>;
    /// `GET /v1/invoices`.
    async fn list_invoices(&self, p: &ListInvoices) -> Result<List<Invoice>, StripeError>;
    /// `POST /v1/invoices/{id}/finalize`.
    async fn finalize_invoice(
        &self,
        id: &str,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError>;
    /// `POST /v1/invoices/{id}/void`.
    async fn void_invoice(&self, id: &str, key: &IdempotencyKey) -> Result<Invoice, StripeError>;
    /// `DELETE /v1/invoices/{id}`.
    async fn delete_invoice(&self, id: &str) -> Result<Deleted, StripeError>;
    /// Every line of an invoice, paged.
    async fn all_invoice_lines(&self, id: &str) -> Result<Vec<InvoiceLine>, StripeError>;
    /// `GET /v1/invoices/{id}/lines`, one page.
    async fn list_invoice_lines(
        &self,
        id: &str,
        p: &ListParams,
    ) -> Result<List<InvoiceLine>, StripeError>;
    /// `GET /v1/invoices/search` (eventually consistent).
    async fn search_invoices(
        &self,
        p: &SearchInvoices,
    ) -> Result<SearchResult<Invoice>, StripeError>;
    /// `POST /v1/invoiceitems`.
    async fn create_invoice_item(
        &self,
        p: &CreateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError>;
    /// `GET /v1/invoiceitems/{id}`.
    async fn retrieve_invoice_item(&self, id: &str) -> Result<InvoiceItem, StripeError>;
    /// `POST /v1/invoiceitems/{id}`.
    async fn update_invoice_item(
        &self,
        id: &str,
        p: &UpdateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError>;
    /// `DELETE /v1/invoiceitems/{id}`.
    async fn delete_invoice_item(&self, id: &str) -> Result<Deleted, StripeError>;
    /// `GET /v1/invoiceitems`.
    async fn list_invoice_items(
        &self,
        p: &ListInvoiceItems,
    ) -> Result<List<InvoiceItem>, StripeError>;
    /// `GET /v1/events`, one page.
    async fn list_events(
        &self,
        p: &super::ListEvents,
    ) -> Result<List<crate::payments::StripeEvent>, StripeError>;
    /// An invoice's payments, newest first (`GET /v1/invoices/{id}?expand[]=payments`).
    async fn invoice_payments(&self, id: &str) -> Result<Vec<super::InvoicePayment>, StripeError>;
    /// `GET /v1/payment_intents/{id}`.
    async fn retrieve_payment_intent(&self, id: &str) -> Result<super::PaymentIntent, StripeError>;
}

#[async_trait]
impl StripeApi for StripeClient {
    async fn invoice_payments(&self, id: &str) -> Result<Vec<super::InvoicePayment>, StripeError> {
        StripeClient::invoice_payments(self, id).await
    }
    async fn retrieve_payment_intent(&self, id: &str) -> Result<super::PaymentIntent, StripeError> {
        StripeClient::retrieve_payment_intent(self, id).await
    }
    async fn list_events(
        &self,
        p: &super::ListEvents,
    ) -> Result<List<crate::payments::StripeEvent>, StripeError> {
        StripeClient::list_events(self, p).await
    }
    async fn create_customer(
        &self,
        p: &CreateCustomer,
        key: &IdempotencyKey,
    ) -> Result<Customer, StripeError> {
        StripeClient::create_customer(self, p, key).await
    }
    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError> {
        StripeClient::retrieve_customer(self, id).await
    }
    async fn list_customers(&self, p: &ListCustomers) -> Result<List<Customer>, StripeError> {
        StripeClient::list_customers(self, p).await
    }
    async fn create_invoice(
        &self,
        p: &CreateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        StripeClient::create_invoice(self, p, key).await
    }
    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError> {
        StripeClient::retrieve_invoice(self, id).await
    }
    async fn update_invoice(
        &self,
        id: &str,
        p: &UpdateInvoice,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        StripeClient::update_invoice(self, id, p, key).await
    }
    async fn list_invoices(&self, p: &ListInvoices) -> Result<List<Invoice>, StripeError> {
        StripeClient::list_invoices(self, p).await
    }
    async fn finalize_invoice(
        &self,
        id: &str,
        key: &IdempotencyKey,
    ) -> Result<Invoice, StripeError> {
        StripeClient::finalize_invoice(self, id, key).await
    }
    async fn void_invoice(&self, id: &str, key: &IdempotencyKey) -> Result<Invoice, StripeError> {
        StripeClient::void_invoice(self, id, key).await
    }
    async fn delete_invoice(&self, id: &str) -> Result<Deleted, StripeError> {
        StripeClient::delete_invoice(self, id).await
    }
    async fn all_invoice_lines(&self, id: &str) -> Result<Vec<InvoiceLine>, StripeError> {
        StripeClient::all_invoice_lines(self, id).await
    }
    async fn list_invoice_lines(
        &self,
        id: &str,
        p: &ListParams,
    ) -> Result<List<InvoiceLine>, StripeError> {
        StripeClient::list_invoice_lines(self, id, p).await
    }
    async fn search_invoices(
        &self,
        p: &SearchInvoices,
    ) -> Result<SearchResult<Invoice>, StripeError> {
        StripeClient::search_invoices(self, p).await
    }
    async fn create_invoice_item(
        &self,
        p: &CreateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError> {
        StripeClient::create_invoice_item(self, p, key).await
    }
    async fn retrieve_invoice_item(&self, id: &str) -> Result<InvoiceItem, StripeError> {
        StripeClient::retrieve_invoice_item(self, id).await
    }
    async fn update_invoice_item(
        &self,
        id: &str,
        p: &UpdateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError> {
        StripeClient::update_invoice_item(self, id, p, key).await
    }
    async fn delete_invoice_item(&self, id: &str) -> Result<Deleted, StripeError> {
        StripeClient::delete_invoice_item(self, id).await
    }
    async fn list_invoice_items(
        &self,
        p: &ListInvoiceItems,
    ) -> Result<List<InvoiceItem>, StripeError> {
        StripeClient::list_invoice_items(self, p).await
    }
}
