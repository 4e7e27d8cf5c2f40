#!/bin/bash
# Entry point of the ai-server-postgres test container (PostgreSQL 15 from Debian).
#
# - Initialises $PGDATA once (initdb as user postgres, UTF8, locale C.UTF-8,
#   scram-sha-256 for host connections, trust for the local socket), with the
#   superuser role $POSTGRES_USER / $POSTGRES_PASSWORD, and creates the
#   databases n8n_db and ragflow_db owned by that role.
# - On later starts it only re-applies the password if it changed (a hash of
#   it is kept in $PGDATA), so a regenerated stack.env still works.
# - Finally execs postgres in the foreground as user postgres (PID 1), so
#   `docker stop` (SIGINT, see --stop-signal) shuts it down cleanly.
# The password never appears in a process argument list.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
POSTGRES_USER="${POSTGRES_USER:-aiserver}"
SOCKDIR=/var/run/postgresql
INIT_MARKER="$PGDATA/ai-backup-initialized"
PW_MARKER="$PGDATA/ai-backup-password.sha256"
INIT_DATABASES=(n8n_db ragflow_db)

log() { printf 'postgres-entry: %s\n' "$*" >&2; }

if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    log "POSTGRES_PASSWORD is not set"
    exit 1
fi

as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

mkdir -p "$PGDATA" "$SOCKDIR"
chown postgres:postgres "$PGDATA" "$SOCKDIR"
chmod 700 "$PGDATA"
chmod 2775 "$SOCKDIR"

pw_hash() { printf '%s' "$POSTGRES_PASSWORD" | sha256sum | cut -d' ' -f1; }

# The temporary server listens on a private socket only, so that nothing
# (health check, scripts/stack up) sees it as the ready server.
SETUP_SOCKDIR=/tmp/pg-setup
temp_server_start() {
    install -d -o postgres -g postgres -m 700 "$SETUP_SOCKDIR"
    as_pg pg_ctl -D "$PGDATA" -w -t 60 -l "$PGDATA/ai-backup-setup.log" \
        -o "-c listen_addresses='' -c unix_socket_directories=$SETUP_SOCKDIR" start >/dev/null
}
temp_server_stop() {
    as_pg pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    rm -f "$PGDATA/ai-backup-setup.log"
}
# Runs SQL from stdin as the superuser over the local socket.
# psql reads the password from the environment (\getenv), never from argv.
psql_setup() {
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SETUP_SOCKDIR" -U "$POSTGRES_USER" -d postgres \
        -v su="$POSTGRES_USER" >/dev/null
}

if [[ ! -f "$INIT_MARKER" ]]; then
    if [[ -n "$(ls -A "$PGDATA")" ]]; then
        # A previous initialisation was interrupted (container killed during
        # initdb/setup): the directory holds no user data yet, start over.
        log "removing a half-initialised data directory"
        find "$PGDATA" -mindepth 1 -delete
    fi
    log "initialising database cluster in $PGDATA"
    pwfile="$(mktemp /tmp/pgpw.XXXXXX)"
    chmod 600 "$pwfile"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres:postgres "$pwfile"
    as_pg initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    cat >>"$PGDATA/postgresql.conf" <<EOF

# ai-backup test stack
listen_addresses = '*'
unix_socket_directories = '$SOCKDIR'
password_encryption = scram-sha-256
jit = off
EOF
    printf '\n# ai-backup test stack: any address, password auth\nhost all all all scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    temp_server_start
    {
        for db in "${INIT_DATABASES[@]}"; do
            printf 'CREATE DATABASE %s OWNER :"su" ENCODING %s;\n' "$db" "'UTF8'"
        done
    } | psql_setup
    temp_server_stop
    pw_hash >"$PW_MARKER"
    touch "$INIT_MARKER"
    chown postgres:postgres "$PW_MARKER" "$INIT_MARKER"
    log "initialisation done"
elif [[ "$(cat "$PW_MARKER" 2>/dev/null || true)" != "$(pw_hash)" ]]; then
    log "password changed: updating role $POSTGRES_USER"
    temp_server_start
    printf '%s\n' '\getenv pw POSTGRES_PASSWORD' 'ALTER ROLE :"su" WITH PASSWORD :'"'"'pw'"'"';' | psql_setup
    temp_server_stop
    pw_hash >"$PW_MARKER"
fi

# Do not leak the password into the server's environment.
unset POSTGRES_PASSWORD
exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "$PGDATA"
