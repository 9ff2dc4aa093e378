//! `/v1/customers`.

use serde_json::Value;

use crate::error::StripeErr;
use crate::model::{render_customer, Customer};
use crate::params::{merged_metadata, Params};
use crate::store::{new_id, now_unix, page, Listing, Store};

pub(super) fn create(store: &mut Store, params: &Params) -> Result<Value, StripeErr> {
    let id = new_id("cus");
    let customer = Customer {
        seq: store.next_seq(),
        invoice_prefix: id[5..13].to_ascii_uppercase(),
        id,
        created: now_unix(),
        email: params.str("email").map(str::to_owned),
        name: params.str("name").map(str::to_owned),
        description: params.str("description").map(str::to_owned),
        metadata: merged_metadata(&Default::default(), params)?,
        next_invoice_sequence: 1,
    };
    let rendered = render_customer(&customer);
    store.customers.push(customer);
    Ok(rendered)
}

pub(super) fn retrieve(store: &Store, id: &str) -> Result<Value, StripeErr> {
    store
        .customer(id)
        .map(render_customer)
        .ok_or_else(|| StripeErr::no_such("customer", id, "id"))
}

pub(super) fn list(store: &Store, params: &Params) -> Result<Value, StripeErr> {
    let email = params.str("email");
    let newest_first: Vec<&Customer> = store
        .customers
        .iter()
        .rev()
        .filter(|c| email.is_none() || c.email.as_deref() == email)
        .collect();
    let listing = Listing {
        items: newest_first,
        seq: |c| c.seq,
        newest_first: true,
        url: "/v1/customers".into(),
        object: "customer",
    };
    let cursor = |id: &str| store.customer(id).map(|c| c.seq);
    page(listing, cursor, render_customer, params)
}
