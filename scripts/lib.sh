# Sourced by every script: strict mode, and a failure that names its step, command and line
# instead of a bare exit status. `step "what"` announces a step and names it in any failure.
set -Eeuo pipefail
STEP="${STEP:-start}"
step() {
    STEP="$*"
    printf '\n==> %s\n' "$*" >&2
}
on_error() {
    local rc=$1 line=$2 cmd=$3 file=$4
    # In a subshell or command substitution the caller decides (it may be a condition).
    [ "$BASH_SUBSHELL" -eq 0 ] || return 0
    printf '\n%s: FAILED during "%s" (exit %s)\n  at %s:%s: %s\n' \
        "${0##*/}" "$STEP" "$rc" "$file" "$line" "$cmd" >&2
    exit "$rc"
}
trap 'on_error $? $LINENO "$BASH_COMMAND" "${BASH_SOURCE[0]:-$0}"' ERR
