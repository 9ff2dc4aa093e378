//! OpenAPI links: which reads (and writes) a response makes possible, with
//! the parameters taken from the response. Clients — and property-based
//! testers such as schemathesis, whose stateful phase follows them — learn
//! from the document that registering an organization enables its invoice
//! reads, that an invoice names its lines, and so on.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// (from operation, response status, link name, to operation, parameters).
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const ORG_FROM_BODY: &[(&str, &str)] = &[("org_id", "$response.body#/organization/org_id")];
const ORG_FROM_PATH: &[(&str, &str)] = &[("org_id", "$request.path.org_id")];

const LINKS: &[LinkSpec] = &[
    (
        "create_org",
        "201",
        "GetOrganization",
        "get_org",
        ORG_FROM_BODY,
    ),
    (
        "create_org",
        "201",
        "ListInvoices",
        "list_invoices",
        ORG_FROM_BODY,
    ),
    (
        "create_org",
        "201",
        "CurrentInvoice",
        "current_invoice",
        ORG_FROM_BODY,
    ),
    (
        "create_org",
        "201",
        "AddCharge",
        "post_charge",
        ORG_FROM_BODY,
    ),
    (
        "create_org",
        "201",
        "GrantCredit",
        "post_credit",
        ORG_FROM_BODY,
    ),
    (
        "create_org",
        "201",
        "Subscribe",
        "post_subscription",
        ORG_FROM_BODY,
    ),
    ("create_org", "201", "History", "org_events", ORG_FROM_BODY),
    (
        "get_org",
        "200",
        "ListInvoices",
        "list_invoices",
        ORG_FROM_BODY,
    ),
    ("set_price", "201", "ListPrices", "list_prices", &[]),
    (
        "current_invoice",
        "200",
        "GetInvoice",
        "get_invoice",
        &[
            ("org_id", "$request.path.org_id"),
            ("period_start", "$response.body#/invoice/period_start"),
        ],
    ),
    (
        "current_invoice",
        "200",
        "LineEvents",
        "line_events",
        &[
            ("org_id", "$request.path.org_id"),
            ("period_start", "$response.body#/invoice/period_start"),
            ("line_id", "$response.body#/invoice/lines/0/line_id"),
        ],
    ),
    (
        "list_invoices",
        "200",
        "GetInvoice",
        "get_invoice",
        &[
            ("org_id", "$request.path.org_id"),
            ("period_start", "$response.body#/invoices/0/period_start"),
        ],
    ),
    (
        "get_invoice",
        "200",
        "LineEvents",
        "line_events",
        &[
            ("org_id", "$request.path.org_id"),
            ("period_start", "$request.path.period_start"),
            ("line_id", "$response.body#/invoice/lines/0/line_id"),
        ],
    ),
    (
        "post_charge",
        "201",
        "CurrentInvoice",
        "current_invoice",
        ORG_FROM_PATH,
    ),
    (
        "post_credit",
        "201",
        "CurrentInvoice",
        "current_invoice",
        ORG_FROM_PATH,
    ),
    (
        "post_subscription",
        "201",
        "CurrentInvoice",
        "current_invoice",
        ORG_FROM_PATH,
    ),
    (
        "post_usage",
        "200",
        "GetEvent",
        "get_event",
        &[("event_id", "$response.body#/results/0/event_id")],
    ),
    (
        "post_usage",
        "200",
        "CorrectUsage",
        "correct_usage",
        &[
            ("org_id", "$request.body#/records/0/org_id"),
            ("event_id", "$response.body#/results/0/event_id"),
        ],
    ),
    (
        "org_events",
        "200",
        "GetEvent",
        "get_event",
        &[("event_id", "$response.body#/events/0/event_id")],
    ),
];

/// Internally tagged request enums deny unknown fields like the structs do,
/// but utoipa states it only for structs: close their variants too.
const CLOSED_ENUMS: &[&str] = &[
    "SubscriptionRequest",
    "CorrectionRequest",
    "PricingModelBody",
    "ThresholdRequest",
];

/// Mark the variants of [`CLOSED_ENUMS`] `additionalProperties: false`.
pub fn close_enums(doc: &mut OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in CLOSED_ENUMS {
        let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(*name) else {
            continue;
        };
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = item {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Add [`LINKS`] to the document's responses.
pub fn add(doc: &mut OpenApi) {
    for path in doc.paths.paths.values_mut() {
        let operations = [
            path.get.as_mut(),
            path.post.as_mut(),
            path.put.as_mut(),
            path.patch.as_mut(),
            path.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            for (from, status, name, to, parameters) in LINKS {
                if *from != id {
                    continue;
                }
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                else {
                    continue;
                };
                let link = parameters
                    .iter()
                    .fold(LinkBuilder::new().operation_id(*to), |link, (p, v)| {
                        link.parameter(*p, *v)
                    })
                    .build();
                response.links.insert((*name).to_owned(), RefOr::T(link));
            }
        }
    }
}

/// The document as served. utoipa 5.5 serialises a link's `operationId`
/// (and `requestBody`) in snake case; OpenAPI spells them in camel case.
pub fn served(doc: &OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(doc).unwrap_or_default();
    if let Some(paths) = json.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let operations = paths.values_mut().filter_map(|p| p.as_object_mut());
        for operation in operations.flat_map(|p| p.values_mut()) {
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(|r| r.as_object_mut())
            else {
                continue;
            };
            for response in responses.values_mut() {
                let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
                    continue;
                };
                for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                    for (snake, camel) in [
                        ("operation_id", "operationId"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(value) = link.remove(snake) {
                            link.insert(camel.to_owned(), value);
                        }
                    }
                }
            }
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_joins_two_documented_operations_by_their_parameters() {
        let (_, doc) = super::super::routes();
        let ids: Vec<String> = doc
            .paths
            .paths
            .values()
            .flat_map(|p| [&p.get, &p.post, &p.put, &p.patch, &p.delete])
            .flatten()
            .filter_map(|o| o.operation_id.clone())
            .collect();
        for (from, _, name, to, _) in LINKS {
            assert!(ids.iter().any(|i| i == from), "{name}: no operation {from}");
            assert!(ids.iter().any(|i| i == to), "{name}: no operation {to}");
        }
        let json = served(&doc);
        let links = &json["paths"]["/v1/organizations"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["CurrentInvoice"]["operationId"], "current_invoice");
        assert!(links["CurrentInvoice"].get("operation_id").is_none());
        assert_eq!(
            links["CurrentInvoice"]["parameters"]["org_id"],
            "$response.body#/organization/org_id"
        );
    }
}
