//! The conformance checker rejects what Stripe would, so it cannot pass silently.

use stripe_fake::conformance::{check, check_all};
use stripe_fake::RecordedRequest;

fn post(path: &str, body: &str) -> RecordedRequest {
    RecordedRequest {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        content_type: Some("application/x-www-form-urlencoded".into()),
        body: body.into(),
        idempotency_key: Some("k-1".into()),
        stripe_version: Some("2026-10-28.endive".into()),
        status: Some(200),
    }
}

fn get(path: &str, query: &str) -> RecordedRequest {
    RecordedRequest {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        content_type: None,
        body: String::new(),
        idempotency_key: None,
        stripe_version: Some("2026-10-28.endive".into()),
        status: Some(200),
    }
}

fn problems(request: &RecordedRequest) -> String {
    check(request)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn well_formed_requests_with_nested_parameters_pass() {
    let requests = [
        post(
            "/v1/invoiceitems",
            "customer=cus_1&invoice=in_1&unit_amount_decimal=0.000123456789&quantity=3\
             &period%5Bstart%5D=1&period%5Bend%5D=2&metadata%5Bline_id%5D=L1&expand[]=invoice",
        ),
        post(
            "/v1/invoices",
            "customer=cus_1&collection_method=send_invoice&days_until_due=30&auto_advance=false",
        ),
        post("/v1/invoices/in_1/finalize", ""),
        get(
            "/v1/invoices",
            "customer=cus_1&status=open&limit=100&starting_after=in_2",
        ),
        get(
            "/v1/invoices/search",
            "query=metadata%5B%27k%27%5D%3A%27v%27",
        ),
        get("/v1/invoices/in_1/lines", "limit=100"),
        get("/v1/customers/cus_1", "expand[0]=default_source"),
        RecordedRequest {
            method: "DELETE".into(),
            ..get("/v1/invoiceitems/ii_1", "")
        },
    ];
    assert_eq!(check_all(&requests), Ok(()));
}

#[test]
fn an_unknown_parameter_is_rejected() {
    let found = problems(&post("/v1/invoices", "customer=cus_1&colour=blue"));
    assert!(found.contains("unknown parameter \"colour\""), "{found}");
    let nested = problems(&post("/v1/invoiceitems", "customer=cus_1&period[middle]=5"));
    assert!(nested.contains("period[middle]"), "{nested}");
}

#[test]
fn a_value_outside_the_enum_is_rejected() {
    let found = problems(&post(
        "/v1/invoices",
        "customer=cus_1&collection_method=by_pigeon",
    ));
    assert!(found.contains("by_pigeon"), "{found}");
    let status = problems(&get("/v1/invoices", "status=pending"));
    assert!(status.contains("pending"), "{status}");
}

#[test]
fn a_value_of_the_wrong_type_is_rejected() {
    for (request, needle) in [
        (
            post("/v1/invoiceitems", "customer=cus_1&amount=12.50"),
            "not an integer",
        ),
        (
            post("/v1/invoices", "customer=cus_1&auto_advance=yes"),
            "not a boolean",
        ),
        (
            post("/v1/invoiceitems", "customer=cus_1&unit_amount_decimal=abc"),
            "not a decimal",
        ),
        (
            post(
                "/v1/invoiceitems",
                "customer=cus_1&unit_amount_decimal=0.0000000000001",
            ),
            "12 decimal places",
        ),
        (
            post("/v1/invoiceitems", "customer=cus_1&period=5"),
            "nested keys",
        ),
        (get("/v1/invoices", "limit=ten"), "not an integer"),
    ] {
        let found = problems(&request);
        assert!(found.contains(needle), "{request:?} → {found}");
    }
}

#[test]
fn unknown_operations_json_bodies_and_unkeyed_posts_are_rejected() {
    assert!(problems(&post("/v1/invoices/in_1/add_lines", "")).contains("no such operation"));
    assert!(problems(&RecordedRequest {
        method: "PUT".into(),
        ..get("/v1/invoices", "")
    })
    .contains("no such operation"));
    let json = RecordedRequest {
        content_type: Some("application/json".into()),
        ..post("/v1/customers", "{\"name\":\"Ada\"}")
    };
    assert!(problems(&json).contains("not form-encoded"));
    let unkeyed = RecordedRequest {
        idempotency_key: None,
        ..post("/v1/customers", "name=Ada")
    };
    assert!(problems(&unkeyed).contains("Idempotency-Key"));
}

#[test]
fn a_request_that_does_not_pin_the_api_version_is_rejected() {
    let unpinned = RecordedRequest {
        stripe_version: None,
        ..get("/v1/invoices", "")
    };
    assert!(problems(&unpinned).contains("Stripe-Version"));
}
