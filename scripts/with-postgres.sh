#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster: initdb into a temp dir,
# start it on a free loopback port, export TEST_DATABASE_URL (and
# BENCH_DATABASE_URL) for the command, and stop and remove the cluster
# afterwards — also when the command fails or is interrupted. PG_DURABLE=1
# keeps fsync and synchronous_commit on (for benchmarks).
#
#   scripts/with-postgres.sh cargo test --workspace
#
# PostgreSQL refuses to run as root; as root the cluster runs as the
# `postgres` OS user (via runuser), otherwise as the current user.
set -euo pipefail

find_pg_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    done
    echo "error: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin." >&2
    echo "       Install them (Debian: apt-get install postgresql) and run again." >&2
    exit 1
}

PG_BIN=$(find_pg_bin)
PGDATA_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ledger-pg.XXXXXX")
PGDATA="$PGDATA_ROOT/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

as_pg() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = "0" ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    chown postgres "$PGDATA_ROOT"
fi

cleanup() {
    local status=$?
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDATA_ROOT"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PGDATA_ROOT/initdb.log" 2>&1 \
    || { cat "$PGDATA_ROOT/initdb.log" >&2; exit 1; }
# Durability is relaxed for speed (the cluster is thrown away) unless
# PG_DURABLE=1, which keeps PostgreSQL's defaults (fsync, synchronous_commit)
# for benchmarks that should reflect production.
SETTINGS="-p $PORT -c listen_addresses=127.0.0.1 -k $PGDATA_ROOT -c max_connections=400 -c shared_buffers=256MB"
if [ "${PG_DURABLE:-0}" != "1" ]; then
    SETTINGS="$SETTINGS -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA_ROOT/server.log" -w -t 60 start -o "$SETTINGS" \
    >/dev/null || { cat "$PGDATA_ROOT/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export BENCH_DATABASE_URL="$TEST_DATABASE_URL"
echo "throwaway PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $TEST_DATABASE_URL" >&2
"$@"
