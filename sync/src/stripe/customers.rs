//! Customers: create, retrieve, list.

use tracing::instrument;

use super::{
    CreateCustomer, Customer, IdempotencyKey, List, ListCustomers, StripeClient, StripeError,
};

impl StripeClient {
    /// `POST /v1/customers`.
    #[instrument(skip_all, fields(idempotency_key = key.as_str()))]
    pub async fn create_customer(
        &self,
        params: &CreateCustomer,
        key: &IdempotencyKey,
    ) -> Result<Customer, StripeError> {
        self.post(&["v1", "customers"], params, key).await
    }

    /// `GET /v1/customers/{id}`.
    #[instrument(skip(self))]
    pub async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError> {
        self.get(&["v1", "customers", id], &()).await
    }

    /// `GET /v1/customers`: one page, newest first.
    #[instrument(skip_all)]
    pub async fn list_customers(
        &self,
        params: &ListCustomers,
    ) -> Result<List<Customer>, StripeError> {
        self.get(&["v1", "customers"], params).await
    }
}
