#!/usr/bin/env bash
# Cold-start benchmark (issue #7; a benchmark, not a test): for each function's release binary,
# the time from process start to the first event handled, against a local Lambda Runtime API
# (scripts/coldstart_runtime.py), and its peak memory; then a Markdown table on stdout.
#
#   bash scripts/coldstart.sh                  # every function under functions/, 20 runs each
#   COLDSTART_RUNS=50 bash scripts/coldstart.sh
#   COLDSTART_EVENTS="leads/health.json leads/list-leads.json" bash scripts/coldstart.sh
#
# Steps: cargo build --release -p <package> for each package under functions/ (found with cargo
# metadata), and of crm-local and crm-admin; a DynamoDB emulator (crm-local) on a free loopback
# port with a fresh data file; the table (crm-admin table create); then, per function and event,
# COLDSTART_RUNS cold starts, each with a new Runtime API on a new port and a new process.
# Method, caveats and the latest figures: docs/cold-start.md. Progress goes to stderr; only the
# table goes to stdout. Exit status 1 if any run failed. Respects CARGO_TARGET_DIR.
#
# Environment:
#   COLDSTART_RUNS     cold starts per function and event (default 20)
#   COLDSTART_EVENTS   event files (relative to events/) to use instead of the default choice:
#                      events/<function>/health*.json, else the first events/<function>/*.json
#   COLDSTART_TIMEOUT  seconds one run may take before it counts as failed (default 30)
#   COLDSTART_LOG_LEVEL  the functions' LOG_LEVEL (default info, as deployed)
#   COLDSTART_FUNCTION_ENV  "KEY=VALUE ..." added to (or replacing in) every function's environment
#   COLDSTART_WARM=0   skip the warm (second) invocation that follows each cold one
#   COLDSTART_RT=1     run the emulators and functions under SCHED_FIFO (a busy, shared machine)
#   COLDSTART_NO_BUILD=1 use the binaries already in the target directory (no cargo build)
#   COLDSTART_KEEP     copy the raw per-run results (JSON lines) to this file
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib.sh disable=SC1091
source scripts/lib.sh

die() {
    echo "coldstart: error: $*" >&2
    exit 1
}
log() { echo "coldstart: $*" >&2; }

RUNS=${COLDSTART_RUNS:-20}
TIMEOUT=${COLDSTART_TIMEOUT:-30}
LOG_LEVEL_FN=${COLDSTART_LOG_LEVEL:-info}
WARM=(--warm)
if [[ "${COLDSTART_WARM:-1}" == 0 ]]; then WARM=(); fi
# COLDSTART_RT=1: the emulators and the functions (not the builds) run under SCHED_FIFO, so
# that on a machine busy with other work the figures show our code rather than the wait for a
# CPU. The kernel's real-time throttling (sched_rt_runtime_us) still leaves other tasks 5 %.
PRIO=()
SCHED=normal
if [[ "${COLDSTART_RT:-0}" == 1 ]]; then
    command -v chrt >/dev/null || die "COLDSTART_RT=1 needs chrt (util-linux)"
    chrt -f 10 true 2>/dev/null || die "COLDSTART_RT=1 needs the right to use SCHED_FIFO (root or CAP_SYS_NICE)"
    PRIO=(chrt -f 10)
    SCHED="SCHED_FIFO 10 (COLDSTART_RT=1)"
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROBE="$ROOT/scripts/coldstart_runtime.py"
# The target of issue #7.
TARGET_FIRST_MS=30
TARGET_ZIP_BYTES=6000000

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "COLDSTART_RUNS must be a positive integer (got '$RUNS')"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "COLDSTART_TIMEOUT must be a positive integer (got '$TIMEOUT')"
for tool in cargo python3 curl setsid; do
    command -v "$tool" >/dev/null || die "$tool is needed and was not found on PATH"
done
[[ -r /proc/self/status ]] || die "/proc is needed (peak RSS comes from /proc/<pid>/status): Linux only"

# --- The functions: "package binary" for each bin target of the crates under functions/. ------
METADATA=$(cargo metadata --no-deps --format-version 1) || die "cargo metadata failed (see above)"
mapfile -t FUNCTIONS < <(python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
functions = os.path.join(meta["workspace_root"], "functions") + os.sep
for package in sorted(meta["packages"], key=lambda p: p["name"]):
    if package["manifest_path"].startswith(functions):
        for target in package["targets"]:
            if "bin" in target["kind"]:
                print(package["name"], target["name"])
' <<<"$METADATA")
((${#FUNCTIONS[@]} > 0)) || die "no function binaries found under functions/ (cargo metadata)"
mapfile -t PACKAGES < <(printf '%s\n' "${FUNCTIONS[@]}" | cut -d' ' -f1 | uniq)
log "functions: $(printf '%s\n' "${FUNCTIONS[@]}" | cut -d' ' -f2 | paste -sd' ')"

# --- Build: each function package on its own (its features, as its own Lambda build), then
# the local tools. Release everywhere: the emulator's speed shows in the DynamoDB round trips.
if [[ "${COLDSTART_NO_BUILD:-}" != 1 ]]; then
    for package in "${PACKAGES[@]}"; do
        log "cargo build --release -p $package (target dir $TARGET_DIR)"
        cargo build --release -p "$package" || die "the release build of $package failed (see above)"
    done
    log "cargo build --release -p crm-local -p crm-admin"
    cargo build --release -p crm-local -p crm-admin || die "the build of crm-local/crm-admin failed"
fi
LOCAL="$TARGET_DIR/release/crm-local"
ADMIN="$TARGET_DIR/release/crm-admin"
for f in "$LOCAL" "$ADMIN"; do
    [[ -x "$f" ]] || die "$f is missing (run without COLDSTART_NO_BUILD=1)"
done

# --- Scratch space and cleanup: every background process and the temporary folder go. -------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/coldstart.XXXXXX")
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local status=$?
    stop_bg
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
mkdir -p "$TMP/home" "$TMP/events" "$TMP/logs"
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"

# --- The local stack: DynamoDB emulator on a free port, fresh data, the table. ----------------
# crm-admin reads .env then .env.example; what is exported here wins over both.
DYNAMODB_PORT=$(free_port)
export TABLE_NAME=crm-coldstart
export JWT_SECRET_KEY=coldstart-only-jwt-secret-0123456789
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=coldstart AWS_SECRET_ACCESS_KEY=coldstart
export AWS_ENDPOINT_URL="http://127.0.0.1:$DYNAMODB_PORT"
export AWS_ENDPOINT_URL_DYNAMODB="$AWS_ENDPOINT_URL"
log "DynamoDB emulator on 127.0.0.1:$DYNAMODB_PORT (data in $TMP)"
start_bg "${PRIO[@]}" "$LOCAL" dynamodb --host 127.0.0.1 --port "$DYNAMODB_PORT" --data "$TMP/dynamodb.sqlite" \
    2>"$TMP/logs/crm-local.log"
wait_for_http "$AWS_ENDPOINT_URL/" 30 "${BG_PIDS[-1]}" || {
    cat "$TMP/logs/crm-local.log" >&2
    die "the DynamoDB emulator did not start"
}
"$ADMIN" table create >&2 || die "crm-admin table create failed"

# The function's whole environment, as Lambda would give it: the runtime's variables, then the
# app's settings from .env.example (not .env: figures must not depend on a developer's
# overrides), with the ones above winning. HOME is an empty folder, so the SDK finds no
# ~/.aws files (there are none in Lambda). Nothing else leaks in from this shell.
function_env() { # function_env BINARY FILE
    local bin="$1"
    env -i \
        PATH=/usr/local/bin:/usr/bin:/bin HOME="$TMP/home" LANG=en_US.UTF-8 TZ=:UTC \
        AWS_LAMBDA_FUNCTION_NAME="$bin" AWS_LAMBDA_FUNCTION_VERSION="\$LATEST" \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="${COLDSTART_MEMORY_MB:-256}" \
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/$bin" AWS_LAMBDA_LOG_STREAM_NAME=coldstart \
        AWS_LAMBDA_INITIALIZATION_TYPE=on-demand _HANDLER=bootstrap \
        LAMBDA_TASK_ROOT="$TARGET_DIR/release" \
        AWS_REGION="$AWS_REGION" AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION" \
        AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        AWS_SESSION_TOKEN=coldstart \
        AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_ENDPOINT_URL_DYNAMODB="$AWS_ENDPOINT_URL_DYNAMODB" \
        TABLE_NAME="$TABLE_NAME" JWT_SECRET_KEY="$JWT_SECRET_KEY" LOG_LEVEL="$LOG_LEVEL_FN" \
        bash -c 'source scripts/lib.sh && load_env_files .env.example && env' |
        grep -Ev '^(PWD|OLDPWD|SHLVL|_|DYNAMODB_PORT|GATEWAY_PORT)=' >"$2"
    # Experiments: COLDSTART_FUNCTION_ENV="KEY=VALUE ..." adds or replaces variables (last wins).
    local kv
    for kv in ${COLDSTART_FUNCTION_ENV:-}; do
        [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "COLDSTART_FUNCTION_ENV: '$kv' is not KEY=VALUE"
        echo "$kv" >>"$2"
    done
}

# The events for one function, one path per line (relative to events/).
choose_events() { # choose_events FUNCTION
    local fn="$1" f
    if [[ -n "${COLDSTART_EVENTS:-}" ]]; then
        for f in $COLDSTART_EVENTS; do
            [[ "$f" == "$fn"/* ]] && echo "$f"
        done
        return 0
    fi
    local health=() all=()
    shopt -s nullglob
    for f in events/"$fn"/health*.json; do health+=("${f#events/}"); done
    for f in events/"$fn"/*.json; do
        [[ "$(basename "$f")" == expected.json ]] || all+=("${f#events/}")
    done
    shopt -u nullglob
    if ((${#health[@]} > 0)); then
        printf '%s\n' "${health[@]}"
    elif ((${#all[@]} > 0)); then
        echo "${all[0]}"
    fi
}

# Copies an event into $TMP, with {{TOKEN}} replaced by a token for the event's own tenant and
# role (requestContext.authorizer.jwt.claims), after creating that tenant. Prints the copy's path.
prepare_event() { # prepare_event PATH-UNDER-events/
    local src="events/$1" dst="$TMP/events/${1//\//_}" claims tenant user role token
    [[ -f "$src" ]] || die "event file $src does not exist"
    if ! grep -q '{{TOKEN}}' "$src"; then
        cp "$src" "$dst"
        echo "$dst"
        return 0
    fi
    claims=$(python3 -c '
import json, sys
event = json.load(open(sys.argv[1]))
headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
tenant = claims.get("tenant_id") or headers.get("x-tenant-id") or ""
print(tenant, claims.get("sub") or "coldstart-user", claims.get("role") or "owner")
' "$src") || die "cannot read the claims of $src"
    read -r tenant user role <<<"$claims"
    [[ -n "$tenant" ]] || die "$src needs a token but names no tenant (claims.tenant_id or X-Tenant-Id)"
    if [[ ! -f "$TMP/tenant-$tenant" ]]; then
        "$ADMIN" tenant create --name "Cold start $tenant" --id "$tenant" >/dev/null ||
            die "cannot create tenant $tenant for $src"
        touch "$TMP/tenant-$tenant"
    fi
    token=$("$ADMIN" token --tenant "$tenant" --user "$user" --role "$role") ||
        die "cannot mint a token for $src"
    sed "s/{{TOKEN}}/$token/g" "$src" >"$dst"
    echo "$dst"
}

human_size() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

# --- Measure. -------------------------------------------------------------------------------
failed=0
EXTRA=()
SKIPPED=()
VERDICTS=()
for entry in "${FUNCTIONS[@]}"; do
    read -r package bin <<<"$entry"
    binary="$TARGET_DIR/release/$bin"
    if [[ ! -x "$binary" ]]; then
        log "error: $binary is missing (COLDSTART_NO_BUILD=1 without a build of $package?)"
        SKIPPED+=("$bin (no binary at $binary)")
        failed=1
        continue
    fi
    bin_size=$(stat -c %s "$binary")
    zip="not built"
    zip_bytes=""
    for candidate in "$TARGET_DIR/lambda/$bin/bootstrap.zip" "$ROOT/target/lambda/$bin/bootstrap.zip"; do
        if [[ -f "$candidate" ]]; then
            zip_bytes=$(stat -c %s "$candidate")
            zip="$(human_size "$zip_bytes") ($(date -u -r "$candidate" +%F))"
            break
        fi
    done
    EXTRA+=(--extra "$bin=$(human_size "$bin_size")|$zip")

    mapfile -t events < <(choose_events "$bin")
    if ((${#events[@]} == 0)) && [[ "$bin" != "$package" ]]; then
        mapfile -t events < <(choose_events "$package")
    fi
    if ((${#events[@]} == 0)) && [[ -n "${COLDSTART_EVENTS:-}" ]]; then
        log "skipping $bin: none of COLDSTART_EVENTS is under events/$bin/"
        SKIPPED+=("$bin (not in COLDSTART_EVENTS)")
        continue
    elif ((${#events[@]} == 0)); then
        log "skipping $bin: no event in events/$bin/ yet (add one, e.g. an SQS batch for a worker)"
        SKIPPED+=("$bin (no events/$bin/*.json yet)")
        continue
    fi
    envfile="$TMP/env-$bin"
    function_env "$bin" "$envfile"
    for event in "${events[@]}"; do
        file=$(prepare_event "$event")
        name=$(basename "$event" .json)
        log "$bin: $RUNS cold starts with events/$event"
        # In the background and waited for, so that Ctrl-C or SIGTERM reaches the cleanup at once.
        start_bg "${PRIO[@]}" python3 "$PROBE" run --binary "$binary" --event "$file" --runs "$RUNS" \
            --env-file "$envfile" --log "$TMP/logs/$bin-$name.log" --timeout "$TIMEOUT" \
            --function-name "$bin" --event-name "$name" --cwd "$TMP" "${WARM[@]}" >>"$RESULTS"
        if ! wait "${BG_PIDS[-1]}"; then
            failed=1
            log "$bin: some runs with $event failed (details above)"
        fi
    done
    # Verdict against the issue's target: the slowest event's median first response, the zip.
    verdict="$bin: $(python3 "$PROBE" verdict "$RESULTS" --function "$bin" --target-ms "$TARGET_FIRST_MS");"
    if [[ -z "$zip_bytes" ]]; then
        verdict+=" arm64 zip not built (make build)"
    elif ((zip_bytes < TARGET_ZIP_BYTES)); then
        verdict+=" zip $(human_size "$zip_bytes") < 6 MB: met"
    else
        verdict+=" zip $(human_size "$zip_bytes") >= 6 MB: NOT met"
    fi
    VERDICTS+=("$verdict")
done

# --- Report. --------------------------------------------------------------------------------
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Cold start, $(date -u '+%F %H:%M UTC'); $(nproc) CPUs, ${cpu:-unknown CPU}; $(uname -sr) $(uname -m); load average $load; scheduling $SCHED; $RUNS runs each"
echo
echo "| function | event (status) | runs ok | first response ms (median / p90) | start → first /next ms (median / p90) | first invoke ms (median / p90) | warm invoke ms (median) | peak RSS MiB (median / max) | x86_64 binary | arm64 zip |"
echo "|---|---|---|---|---|---|---|---|---|---|"
if [[ -s "$RESULTS" ]]; then
    python3 "$PROBE" summary "$RESULTS" "${EXTRA[@]}"
fi
echo
for v in "${VERDICTS[@]}"; do echo "- $v"; done
for s in "${SKIPPED[@]}"; do echo "- skipped: $s"; done
if [[ -n "${COLDSTART_KEEP:-}" ]]; then
    cp "$RESULTS" "$COLDSTART_KEEP"
    log "raw results (JSON lines) copied to $COLDSTART_KEEP"
fi
exit "$failed"
