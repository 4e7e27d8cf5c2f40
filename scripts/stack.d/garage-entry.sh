#!/bin/bash
# Entry point of the ai-server-minio test container: garage, a real
# S3-compatible object store, standing in for MinIO.
#
# - Writes /etc/garage.toml: one node, lmdb metadata and data under
#   /var/lib/garage (a named volume), RPC on 127.0.0.1:3901, S3 API on
#   0.0.0.0:9000 with region us-east-1, admin API on 127.0.0.1:3903.
#   The RPC secret is not written to the file: garage (server and CLI, also
#   under `docker exec`) reads it from GARAGE_RPC_SECRET.
# - Starts `garage server --single-node --default-access-key`. On first start
#   this assigns the layout (this node, zone dc1) and applies it as version 1,
#   and it imports the access key MINIO_ROOT_USER ("GK" + 24 hex digits) with
#   the secret MINIO_ROOT_PASSWORD (64 hex digits) and the create-bucket
#   permission. garage reads the key from the environment variables
#   GARAGE_DEFAULT_ACCESS_KEY / GARAGE_DEFAULT_SECRET_KEY, so the secret never
#   appears in a process argument list (`garage key import` only takes it as
#   an argument). On later starts both steps are no-ops. (garage refuses to
#   start if the key exists with another secret: remove the volume
#   ai-server-minio-data then.)
# - Once the S3 API answers it names the key "ai-backup" and (again) allows it
#   to create buckets, then marks the container ready (/run/garage/ready).
# - Waits on the server; SIGTERM/SIGINT are passed on to it, so `docker stop`
#   stops garage promptly and cleanly.
set -euo pipefail

CONF=/etc/garage.toml
DATA=/var/lib/garage
RUNDIR=/run/garage
READY="$RUNDIR/ready"
KEY_NAME=ai-backup
S3_URL=http://127.0.0.1:9000/
START_TIMEOUT=120

log() { printf 'garage-entry: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

[[ "${GARAGE_RPC_SECRET:-}" =~ ^[0-9a-f]{64}$ ]] || die "GARAGE_RPC_SECRET must be 64 hex digits"
[[ "${MINIO_ROOT_USER:-}" =~ ^GK[0-9a-f]{24}$ ]] || die "MINIO_ROOT_USER must be GK + 24 hex digits"
[[ "${MINIO_ROOT_PASSWORD:-}" =~ ^[0-9a-f]{64}$ ]] || die "MINIO_ROOT_PASSWORD must be 64 hex digits"
export GARAGE_CONFIG_FILE="$CONF"
export NO_COLOR=1   # plain log lines in docker logs

rm -f "$READY"
mkdir -p "$RUNDIR" "$DATA/meta" "$DATA/data"
chmod 700 "$DATA/meta" "$DATA/data"

cat >"$CONF.tmp" <<EOF
# Written by /opt/stack/garage-entry.sh at every start. rpc_secret comes from
# the environment (GARAGE_RPC_SECRET).
metadata_dir = "$DATA/meta"
data_dir = "$DATA/data"
db_engine = "lmdb"
metadata_auto_snapshot_interval = "6h"

replication_factor = 1

rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"

[s3_api]
api_bind_addr = "0.0.0.0:9000"
s3_region = "us-east-1"
root_domain = ".s3.local"

[admin]
api_bind_addr = "127.0.0.1:3903"
EOF
chmod 644 "$CONF.tmp"
mv -f "$CONF.tmp" "$CONF"

GARAGE_DEFAULT_ACCESS_KEY="$MINIO_ROOT_USER" GARAGE_DEFAULT_SECRET_KEY="$MINIO_ROOT_PASSWORD" \
    garage server --single-node --default-access-key &
pid=$!
unset MINIO_ROOT_PASSWORD
# PID 1 gets no default signal actions: pass them on to garage.
stopping=0
trap 'stopping=1; kill -TERM "$pid" 2>/dev/null || true' TERM INT

# garage binds the S3 API only after the layout and the key are in place.
deadline=$((SECONDS + START_TIMEOUT))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$S3_URL" 2>/dev/null || true)" =~ ^[1-5][0-9][0-9]$ ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && rc=0 || rc=$?
        [[ "$stopping" == 1 ]] && exit 0
        die "garage server exited during start-up (status $rc; if it names a secret key" \
            "different from GARAGE_DEFAULT_SECRET_KEY, stack.env has a new MINIO_ROOT_PASSWORD" \
            "for a key in the volume: remove the volume ai-server-minio-data)"
    fi
    ((SECONDS < deadline)) || die "the S3 API did not answer within ${START_TIMEOUT}s"
    sleep 0.5
done

# Name the key and grant bucket creation (idempotent; no secret involved).
name="$(garage key info "$MINIO_ROOT_USER" 2>/dev/null | sed -n 's/^Key name:[[:space:]]*//p' | head -n1 || true)"
if [[ "$name" != "$KEY_NAME" ]]; then
    garage key rename "$MINIO_ROOT_USER" "$KEY_NAME" >/dev/null
fi
garage key allow --create-bucket "$MINIO_ROOT_USER" >/dev/null
touch "$READY"
log "ready: S3 API on :9000 (region us-east-1), key $MINIO_ROOT_USER ($KEY_NAME)"

# `wait` returns early when a trapped signal arrives: wait until garage is gone.
rc=0
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" && rc=0 || rc=$?
done
rm -f "$READY"
exit "$rc"
