#!/usr/bin/env bash
# Property-based testing of the HTTP API against the OpenAPI document it
# serves: schemathesis (`st`, from PyPI) with every check and every phase,
# stateful included (it follows the document's links from registering an
# organization to its invoices). Starts `billing serve` on a throwaway
# SQLite database with an admin token, and fails on any finding.
#
#   scripts/schemathesis.sh            # after `cargo build`
#   ST_MAX_EXAMPLES=200 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v st >/dev/null 2>&1; then
    echo "error: schemathesis is not installed (the \`st\` command); install it with: pip install schemathesis" >&2
    exit 1
fi
BIN=${BILLING_BIN:-${CARGO_TARGET_DIR:-target}/debug/billing}
if [ ! -x "$BIN" ]; then
    cargo build --bin billing
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ledger-st.XXXXXX")
SERVER=""
cleanup() {
    local status=$?
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DATABASE_URL="sqlite://$DIR/schemathesis.db"
export RUST_LOG=${RUST_LOG:-warn}
"$BIN" migrate >/dev/null
TOKEN=$("$BIN" token create --role admin --name schemathesis | tail -n 1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$BIN" serve --bind "127.0.0.1:$PORT" --no-sync --close-interval-secs 3600 >"$DIR/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/readyz')" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

st run "http://127.0.0.1:$PORT/v1/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --header "Authorization: Bearer $TOKEN" \
    --max-examples "${ST_MAX_EXAMPLES:-50}" \
    --workers 1 \
    --seed "${ST_SEED:-20261201}" \
    --request-timeout 30 \
    --no-color \
    || { echo "--- billing serve log ---" >&2; tail -n 50 "$DIR/serve.log" >&2; exit 1; }
