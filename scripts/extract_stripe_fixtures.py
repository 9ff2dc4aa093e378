#!/usr/bin/env python3
"""Copy the current-API example objects the fake renders out of Stripe's fixtures.

Reads ../shared/stripe/fixtures3.json (relative to the repository root: Stripe's own
example objects for the current API version, the ones stripe-mock serves) and writes
stripe-fake/openapi/stripe-fixtures.json with exactly the RESOURCES below, unchanged.
The fake renders objects with the same fields, and its conformance check compares
responses with these objects (response shapes never come from the OpenAPI description,
whose schemas predate API version 2025-03-31). A test checks that the committed file
still equals the shared one.

Usage (from the repository root):  python3 scripts/extract_stripe_fixtures.py
Stdlib only.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / ".." / "shared" / "stripe" / "fixtures3.json"
TARGET = ROOT / "stripe-fake" / "openapi" / "stripe-fixtures.json"

RESOURCES = ["customer", "invoice", "invoiceitem", "line_item",
             "deleted_customer", "deleted_invoice", "deleted_invoiceitem",
             # Payments (issue 12, round 3): the attempt and its link to the invoice.
             "payment_intent", "invoice_payment"]


def main():
    fixtures = json.loads(SOURCE.read_text(encoding="utf-8"))["resources"]
    out = {
        "x-origin": {
            "source": "../shared/stripe/fixtures3.json",
            "upstream": "Stripe's openapi repository, openapi/fixtures3.json (August 2026)",
            "api_version": "2026-10-28.endive",
            "licence": "MIT (Stripe)",
            "produced_by": "scripts/extract_stripe_fixtures.py",
        },
        "resources": {name: fixtures[name] for name in RESOURCES},
    }
    TARGET.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(RESOURCES)} objects", file=sys.stderr)


if __name__ == "__main__":
    main()
