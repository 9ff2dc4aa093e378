//! OpenAPI schemas of the ledger's value types, so the HTTP API can derive
//! its documents from the types it serves. Validated newtypes serialise as
//! strings; their schemas say so (response side: any value the type holds).

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::event::{OrgId, StreamId};
use crate::money::{Amount, Currency, NonNegativeAmount, Quantity, UnitPrice};
use crate::pricing::Tiers;

fn string(description: &str, format: Option<&str>, example: &str) -> RefOr<Schema> {
    let mut builder = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([serde_json::Value::String(example.to_owned())]);
    if let Some(format) = format {
        builder = builder.format(Some(SchemaFormat::Custom(format.to_owned())));
    }
    RefOr::T(Schema::Object(builder.build()))
}

macro_rules! string_schema {
    ($ty:ty, $name:literal, $description:literal, $format:expr, $example:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                string($description, $format, $example)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_schema!(
    OrgId,
    "OrgId",
    "The platform's organization id.",
    None,
    "acme"
);
string_schema!(
    StreamId,
    "StreamId",
    "An event stream (org-…, usage-…, invoice-…, catalog).",
    None,
    "org-acme"
);
string_schema!(Currency, "Currency", "ISO 4217 currency code.", None, "USD");
string_schema!(
    Quantity,
    "Quantity",
    "A non-negative decimal quantity, as a string (at most 12 decimal places).",
    Some("decimal"),
    "3600"
);
string_schema!(
    UnitPrice,
    "UnitPrice",
    "A non-negative price per unit in currency units, as a decimal string.",
    Some("decimal"),
    "0.0000022"
);
string_schema!(
    Amount,
    "Amount",
    "An amount of money in currency units, as a decimal string.",
    Some("decimal"),
    "12.50"
);
string_schema!(
    NonNegativeAmount,
    "NonNegativeAmount",
    "A non-negative amount of money in currency units, as a decimal string.",
    Some("decimal"),
    "5.00"
);

impl PartialSchema for Tiers {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(crate::pricing::Tier::schema())
            .min_items(Some(1))
            .max_items(Some(crate::pricing::MAX_TIERS))
            .description(Some(
                "Tiers in ascending order of `up_to`; only the last one open-ended.",
            ))
            .into()
    }
}

impl ToSchema for Tiers {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Tiers")
    }
}
