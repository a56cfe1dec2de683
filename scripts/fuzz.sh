#!/usr/bin/env bash
# `make fuzz`: schemathesis over every operation of the API's OpenAPI document, against a
# local stack of its own on free ports (it does not need, or disturb, `make dev`):
#   DynamoDB emulator (data in a temporary folder) -> table -> a tenant with an owner and a
#   readonly token -> SQS emulator (moto) -> queues -> the functions behind `cargo lambda
#   watch` -> the poller -> records seeded through the API (scripts/fuzz/seed.py).
# Then schemathesis loads the document from the gateway (`/api/schema/`) and runs, as the
# readonly user and then as the owner, the examples, coverage and fuzzing phases with the
# seeded ids (scripts/fuzz/hooks.py), checking every answer: no 5xx, and status codes,
# content types, headers and bodies as documented. Any failure fails the run.
#
# FUZZ_EXAMPLES (default 25) bounds the generated cases per operation and phase,
# FUZZ_SECONDS (default 200) each run's time; FUZZ_SEED makes a run repeatable. FUZZ_KEEP=1
# keeps the stack up afterwards (its URL and tokens printed) to replay a failure against it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

bash scripts/setup.sh
PYTHON=.venv/bin/python

work=$(mktemp -d)
trap 'stop_bg; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

# A stack of its own: free ports and a table and queues named for this run; the defaults of
# .env.example for the rest (not .env: a run must not depend on a developer's overrides).
DYNAMODB_PORT=$(free_port)
SQS_PORT=$(free_port)
GATEWAY_PORT=$(free_port)
export DYNAMODB_PORT SQS_PORT GATEWAY_PORT
export TABLE_NAME="crm-fuzz" QUEUE_PREFIX="crm-fuzz-$$" LOG_LEVEL="${LOG_LEVEL:-warn}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$SQS_PORT"
# Webhook targets on this machine are seeded (and receive test events); domain verification
# asks a nameserver that is not there (the DNS lookup fails at once: a 400, no waiting).
export WEBHOOK_ALLOW_PRIVATE=true DNS_NAMESERVER="127.0.0.1:9"
load_env_files .env.example
export PATH="$PWD/.venv/bin:$PATH" PYTHONDONTWRITEBYTECODE=1

echo "fuzz: building the workspace binaries" >&2
cargo build --workspace --bins
ADMIN=target/debug/crm-admin

start_bg target/debug/crm-local dynamodb --host 127.0.0.1 --port "$DYNAMODB_PORT" \
    --data "$work/dynamodb.sqlite"
wait_for_http "http://127.0.0.1:$DYNAMODB_PORT/" 30 "${BG_PIDS[-1]}"
"$ADMIN" --aws table create
TENANT_ID=$("$ADMIN" --aws tenant create --name "Fuzz Co" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
# Schemathesis sends thousands of requests a minute as one tenant: its plan's rate limit
# would turn its answers into 429s (the limits have their own tests).
"$ADMIN" --aws tenant set-plan --id "$TENANT_ID" --tier enterprise \
    --requests-per-minute 1000000 >/dev/null
token() {
    "$ADMIN" --aws token --tenant "$TENANT_ID" --user "fuzz-$1" --role "$1" \
        --email "$1@fuzz.example"
}
OWNER=$(token owner)
READONLY=$(token readonly)
# Two members for the member routes: `keep` (edited) and `drop` (removed).
member() {
    "$ADMIN" --aws user create --email "fuzz.$1@example.com" --password "fuzz-member-password" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["id"])'
    "$ADMIN" --aws member add --tenant "$TENANT_ID" --email "fuzz.$1@example.com" --role user \
        >/dev/null
}
FUZZ_MEMBERS="$(member keep),$(member drop)"
export FUZZ_MEMBERS

start_bg .venv/bin/moto_server -H 127.0.0.1 -p "$SQS_PORT" >"$work/sqs.log" 2>&1
wait_for_http "http://127.0.0.1:$SQS_PORT/moto-api/" 60 "${BG_PIDS[-1]}"
while IFS= read -r line; do
    export "${line?}"
done < <(target/debug/crm-local queues --prefix "$QUEUE_PREFIX")

# No reloads: nothing here edits the code, and a reload would drop requests in flight.
start_bg cargo-lambda lambda watch --ignore-changes -A 127.0.0.1 -P "$GATEWAY_PORT"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
wait_for_http "$GATEWAY/health/" 600 "${BG_PIDS[-1]}"
start_bg target/debug/crm-local poll --prefix "$QUEUE_PREFIX" --gateway "$GATEWAY"

"$PYTHON" scripts/fuzz/seed.py "$GATEWAY" "$OWNER" >"$work/ids.json"
export FUZZ_IDS="$work/ids.json" FUZZ_TENANT="$TENANT_ID"
export SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz/hooks.py"

# The document as the gateway serves it, fetched once: the function behind it may still be
# starting (on a busy machine, longer than schemathesis waits for a schema to load).
for _ in $(seq 60); do
    curl -fsS --max-time 30 -o "$work/schema.json" "$GATEWAY/api/schema/" && break
    sleep 2
done
[[ -s "$work/schema.json" ]] || { echo "fuzz: $GATEWAY/api/schema/ did not answer" >&2; exit 1; }

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS+=,response_headers_conformance,response_schema_conformance
# One request at a time: the local gateway now and then answers a large response (the
# document, the docs page) with its own 500 while the same function has another request.
run() {
    local role="$1" token="$2"
    echo "==> schemathesis as $role" >&2
    FUZZ_TOKEN="$token" .venv/bin/st run "$work/schema.json" --url "$GATEWAY" \
        --header "Authorization: Bearer $token" \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "${FUZZ_EXAMPLES:-25}" \
        --max-time "${FUZZ_SECONDS:-200}" \
        ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
        --workers 1 \
        --request-timeout 20 --request-retries 2 \
        --generation-database none \
        --report junit --report-dir "$work/report-$role" \
        --no-color
}
# Readonly first: the owner's run deletes the `drop` records. A run stopped by a SIGTERM
# from outside (exit status 143; seen on shared machines) is said so and run once more.
run_role() {
    local code=0
    run "$@" || code=$?
    if ((code == 143)); then
        echo "fuzz: schemathesis as $1 was terminated from outside; running it again" >&2
        code=0
        run "$@" || code=$?
    fi
    return "$code"
}
status=0
run_role readonly "$READONLY" || status=$?
run_role owner "$OWNER" || status=$?
if ((status)); then
    echo "fuzz: schemathesis found failures (above)" >&2
fi
if [[ -n "${FUZZ_KEEP:-}" ]]; then
    printf 'fuzz: the stack stays up at %s (Ctrl-C stops it)\nowner token: %s\nreadonly token: %s\nids: %s\n' \
        "$GATEWAY" "$OWNER" "$READONLY" "$(cat "$FUZZ_IDS")" >&2
    wait -n "${BG_PIDS[@]}" || true
fi
stop_bg
# One line for the whole run: operations checked per role, from the JUnit reports.
"$PYTHON" - "$work" <<'PY'
import glob
import sys
import xml.etree.ElementTree as ET

tests = bad = 0
for path in glob.glob(f"{sys.argv[1]}/report-*/*.xml"):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        bad += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
print(f"fuzz: {tests - bad} passed, {bad} failed")
PY
exit "$status"
