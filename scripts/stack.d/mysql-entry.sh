#!/bin/bash
# Entry point of the ai-server-mysql test container (MariaDB from Debian).
#
# - Initialises /var/lib/mysql once (mariadb-install-db), then, on a temporary
#   server without networking, sets the root password for root@localhost and
#   root@'%' and creates oneapi_db, dify_db, ragflow_db (utf8mb4 /
#   utf8mb4_unicode_ci).
# - On later starts it only re-applies the password if it changed (a hash of
#   it is kept in the data directory), so a regenerated stack.env still works.
# - Finally execs mariadbd in the foreground (PID 1), so `docker stop` shuts
#   it down cleanly. Server options (bind-address, event scheduler...) are in
#   /etc/mysql/mariadb.conf.d/99-ai-backup.cnf.
# The password never appears in a process argument list.
set -euo pipefail

DATADIR=/var/lib/mysql
RUNDIR=/run/mysqld
SETUP_SOCKET="$RUNDIR/setup.sock"
INIT_MARKER="$DATADIR/ai-backup-initialized"
PW_MARKER="$DATADIR/ai-backup-password.sha256"
INIT_DATABASES=(oneapi_db dify_db ragflow_db)

log() { printf 'mysql-entry: %s\n' "$*" >&2; }

if [[ -z "${MARIADB_ROOT_PASSWORD:-}" ]]; then
    log "MARIADB_ROOT_PASSWORD is not set"
    exit 1
fi

mkdir -p "$DATADIR" "$RUNDIR"
chown mysql:mysql "$DATADIR" "$RUNDIR"
chmod 755 "$RUNDIR"

pw_hash() { printf '%s' "$MARIADB_ROOT_PASSWORD" | sha256sum | cut -d' ' -f1; }

# SQL string literal of the password ('...' with \ and ' escaped).
sql_pw() {
    local p="$MARIADB_ROOT_PASSWORD"
    p="${p//\\/\\\\}"
    p="${p//\'/\\\'}"
    printf "'%s'" "$p"
}

setup_sql() {
    local init="$1" pw
    pw="$(sql_pw)"
    cat <<EOF
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY $pw;
ALTER USER 'root'@'%' IDENTIFIED BY $pw;
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
DELETE FROM mysql.global_priv WHERE User='root' AND Host NOT IN ('localhost', '%');
DELETE FROM mysql.proxies_priv WHERE User='root' AND Host NOT IN ('localhost', '%');
EOF
    if [[ "$init" == 1 ]]; then
        echo "DELETE FROM mysql.global_priv WHERE User='';"
        echo "DROP DATABASE IF EXISTS test;"
        for db in "${INIT_DATABASES[@]}"; do
            echo "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        done
    fi
    echo "FLUSH PRIVILEGES;"
}

# Starts a temporary server without networking and without grant checks,
# feeds it the setup SQL on stdin, and shuts it down.
run_setup() {
    local init="$1" pid i
    mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --skip-grant-tables \
        --socket="$SETUP_SOCKET" --pid-file="$RUNDIR/setup.pid" --event-scheduler=OFF \
        --skip-log-bin >"$RUNDIR/setup.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 120; i++)); do
        if mariadb-admin --no-defaults --socket="$SETUP_SOCKET" -uroot ping >/dev/null 2>&1; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "temporary server failed to start:"
            cat "$RUNDIR/setup.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    setup_sql "$init" | mariadb --no-defaults --socket="$SETUP_SOCKET" -uroot --batch
    # Grant checks are back on after FLUSH PRIVILEGES: stop it with a signal.
    kill -TERM "$pid"
    wait "$pid" || true
    rm -f "$RUNDIR/setup.log"
}

if [[ ! -f "$INIT_MARKER" ]]; then
    if [[ -n "$(ls -A "$DATADIR")" ]]; then
        # A previous initialisation was interrupted: no user data yet, start over.
        log "removing a half-initialised data directory"
        find "$DATADIR" -mindepth 1 -delete
    fi
    log "initialising data directory $DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
        --auth-root-authentication-method=normal --skip-name-resolve >/dev/null
    run_setup 1
    pw_hash >"$PW_MARKER"
    touch "$INIT_MARKER"
    log "initialisation done"
elif [[ "$(cat "$PW_MARKER" 2>/dev/null || true)" != "$(pw_hash)" ]]; then
    log "root password changed: updating accounts"
    run_setup 0
    pw_hash >"$PW_MARKER"
fi

unset MARIADB_ROOT_PASSWORD
exec mariadbd --user=mysql --datadir="$DATADIR"
