#!/usr/bin/env bash
# The one test command: every test of the workspace, against real SQLite
# files and a throwaway PostgreSQL cluster this script starts and removes,
# then the HTTP API fuzzed against its own OpenAPI document (schemathesis,
# scripts/schemathesis.sh). Extra arguments go to `cargo test`; with any,
# the schemathesis run is skipped (a filtered run is not the whole suite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/with-postgres.sh cargo test --workspace "$@"
if [ "$#" -eq 0 ]; then
    scripts/schemathesis.sh
fi
