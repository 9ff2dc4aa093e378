#!/usr/bin/env bash
# The one test command: every test of the workspace, against real SQLite
# files and a throwaway PostgreSQL cluster this script starts and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-postgres.sh cargo test --workspace "$@"
