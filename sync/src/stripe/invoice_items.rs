//! Invoice items: create, retrieve, update, delete, list.

use tracing::instrument;

use super::{
    CreateInvoiceItem, Deleted, IdempotencyKey, InvoiceItem, ItemPrice, List, ListInvoiceItems,
    StripeClient, StripeError, UpdateInvoiceItem,
};

/// Stripe accepts at most 12 decimal places in `unit_amount_decimal`.
const MAX_UNIT_AMOUNT_DECIMAL_PLACES: u32 = 12;

fn check_price(price: Option<&ItemPrice>) -> Result<(), StripeError> {
    if let Some(ItemPrice::UnitAmountDecimal {
        unit_amount_decimal,
        ..
    }) = price
    {
        if unit_amount_decimal.normalize().scale() > MAX_UNIT_AMOUNT_DECIMAL_PLACES {
            return Err(StripeError::InvalidRequest(format!(
                "unit_amount_decimal {unit_amount_decimal} has more than \
                 {MAX_UNIT_AMOUNT_DECIMAL_PLACES} decimal places"
            )));
        }
    }
    Ok(())
}

impl StripeClient {
    /// `POST /v1/invoiceitems`: on a draft invoice (or pending, without `invoice`).
    #[instrument(skip_all, fields(invoice = params.invoice.as_deref(), idempotency_key = key.as_str()))]
    pub async fn create_invoice_item(
        &self,
        params: &CreateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError> {
        check_price(Some(&params.price))?;
        self.post(&["v1", "invoiceitems"], params, key).await
    }

    /// `GET /v1/invoiceitems/{id}`.
    #[instrument(skip(self))]
    pub async fn retrieve_invoice_item(&self, id: &str) -> Result<InvoiceItem, StripeError> {
        self.get(&["v1", "invoiceitems", id], &()).await
    }

    /// `POST /v1/invoiceitems/{id}` (items on draft invoices only).
    #[instrument(skip(self, params, key), fields(idempotency_key = key.as_str()))]
    pub async fn update_invoice_item(
        &self,
        id: &str,
        params: &UpdateInvoiceItem,
        key: &IdempotencyKey,
    ) -> Result<InvoiceItem, StripeError> {
        check_price(params.price.as_ref())?;
        self.post(&["v1", "invoiceitems", id], params, key).await
    }

    /// `DELETE /v1/invoiceitems/{id}` (items on draft invoices only).
    #[instrument(skip(self))]
    pub async fn delete_invoice_item(&self, id: &str) -> Result<Deleted, StripeError> {
        self.delete(&["v1", "invoiceitems", id]).await
    }

    /// `GET /v1/invoiceitems`: one page, newest first.
    #[instrument(skip_all)]
    pub async fn list_invoice_items(
        &self,
        params: &ListInvoiceItems,
    ) -> Result<List<InvoiceItem>, StripeError> {
        self.get(&["v1", "invoiceitems"], params).await
    }
}
