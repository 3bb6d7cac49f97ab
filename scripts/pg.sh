#!/usr/bin/env bash
# A throwaway PostgreSQL (15+) for CI, listening on 127.0.0.1 only.
#
#   scripts/pg.sh start   initdb + start in $HIGHLIGHTS_PG_DIR (default /tmp/highlights-ci-pg), on a free
#                         port (or $HIGHLIGHTS_PG_PORT); prints the server URL on stdout, nothing else.
#   scripts/pg.sh stop    stops it and deletes its directory.
#
# As root, the server runs as user `postgres` (initdb refuses root). The test suite uses the printed URL
# when it is exported as HIGHLIGHTS_TEST_PG_URL, and makes one database per test on it.
set -euo pipefail

DIR="${HIGHLIGHTS_PG_DIR:-/tmp/highlights-ci-pg}"

bindir() {
    if [ -n "${HIGHLIGHTS_PG_BIN:-}" ]; then echo "$HIGHLIGHTS_PG_BIN"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    echo "pg.sh: PostgreSQL binaries (initdb, pg_ctl) not found; set HIGHLIGHTS_PG_BIN" >&2
    exit 1
}

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin port
    bin="$(bindir)"
    if [ -e "$DIR/data/postmaster.pid" ] && as_server_user "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        echo "pg.sh: a server already runs in $DIR; run 'scripts/pg.sh stop' first" >&2
        exit 1
    fi
    rm -rf "$DIR"  # nothing runs there: whatever a crashed run left goes
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$DIR"; fi
    chmod 700 "$DIR"
    as_server_user "$bin/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync --no-instructions >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    port="${HIGHLIGHTS_PG_PORT:-$(free_port)}"
    as_server_user "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null \
        || { cat "$DIR/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
    if [ -e "$DIR/data/postmaster.pid" ]; then
        as_server_user "$(bindir)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
