//! One Stripe fake per test on port 0, a client pointed at it, and a conformance check
//! of every request the test sent.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use stripe_fake::{conformance, FakeConfig, FakeHandle};
use sync::stripe::{
    CreateCustomer, CreateInvoice, CreateInvoiceItem, Customer, IdempotencyKey, Invoice,
    InvoiceItem, ItemPrice, StripeClient, StripeConfig,
};

pub struct Harness {
    pub fake: FakeHandle,
    pub client: StripeClient,
}

pub async fn harness() -> Harness {
    harness_with(FakeConfig::default(), Duration::from_secs(5)).await
}

pub async fn harness_with(config: FakeConfig, request_timeout: Duration) -> Harness {
    let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
    let fake = stripe_fake::spawn(bind, config).await.expect("fake starts");
    let client = client_for(&fake, request_timeout);
    Harness { fake, client }
}

pub fn client_for(fake: &FakeHandle, request_timeout: Duration) -> StripeClient {
    let mut config = StripeConfig::new(fake.base_url(), SecretString::from("sk_test_fake"));
    config.request_timeout = request_timeout;
    config.connect_timeout = Duration::from_secs(2);
    StripeClient::new(&config).expect("client builds")
}

pub fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).expect("valid key")
}

/// A unique key per call, for setup steps.
pub fn fresh_key() -> IdempotencyKey {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    key(&format!(
        "setup-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Harness {
    pub async fn customer(&self) -> Customer {
        let params = CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada".into()),
            metadata: [("customer_id".to_owned(), "c-1".to_owned())].into(),
            ..CreateCustomer::default()
        };
        self.client
            .create_customer(&params, &fresh_key())
            .await
            .expect("customer")
    }

    pub async fn draft(&self, customer: &Customer) -> Invoice {
        let mut params = CreateInvoice::for_customer(&customer.id);
        params.currency = Some("eur".into());
        params.auto_advance = Some(false);
        self.client
            .create_invoice(&params, &fresh_key())
            .await
            .expect("draft")
    }

    pub async fn item(&self, invoice: &Invoice, amount: i64) -> InvoiceItem {
        let params = item_params(invoice, ItemPrice::Amount { amount });
        self.client
            .create_invoice_item(&params, &fresh_key())
            .await
            .expect("item")
    }

    /// Asserts every request sent in the test conforms to Stripe's OpenAPI description.
    pub async fn finish(self) {
        let requests = self.fake.requests();
        assert!(!requests.is_empty(), "the test sent no request");
        if let Err(violations) = conformance::check_all(&requests) {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            panic!(
                "requests that do not conform to Stripe's OpenAPI:\n{}",
                list.join("\n")
            );
        }
        self.fake.shutdown().await;
    }
}

pub fn item_params(invoice: &Invoice, price: ItemPrice) -> CreateInvoiceItem {
    CreateInvoiceItem {
        customer: invoice.customer.clone(),
        invoice: Some(invoice.id.clone()),
        currency: Some(invoice.currency.clone()),
        description: Some("usage".into()),
        period: None,
        metadata: Default::default(),
        price,
    }
}
