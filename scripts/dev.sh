#!/usr/bin/env bash
# `make dev`: the whole stack on loopback, no Docker, no AWS account.
#   DynamoDB emulator (crm-local dynamodb, data kept in .local/) -> table -> demo tenant + token
#   -> SQS emulator (moto) -> queues -> the functions behind `cargo lambda watch` on
#   127.0.0.1:$GATEWAY_PORT (reloads on edits) -> the poller feeding the queues to the workers
#   -> the stream reader feeding the table's stream to the changes worker.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

bash scripts/setup.sh
# Your shell's variables win, then .env (your overrides, git-ignored), then .env.example.
# All are exported, so crm-admin and the functions (cargo-lambda passes its environment on to
# them) see the same configuration.
load_env_files .env .env.example
export PATH="$PWD/.venv/bin:$PATH"

echo "dev: building the workspace binaries" >&2
cargo build --workspace --bins
ADMIN=target/debug/crm-admin

mkdir -p .local
DATA=.local/dynamodb.sqlite
TENANT_FILE=.local/demo-tenant.json
# The saved demo tenant lives in the data file: without it, it is stale.
[[ -f "$DATA" ]] || rm -f "$TENANT_FILE"

trap stop_bg EXIT
trap 'exit 130' INT TERM HUP

start_bg target/debug/crm-local dynamodb --host 127.0.0.1 --port "$DYNAMODB_PORT" --data "$DATA"
wait_for_http "http://127.0.0.1:$DYNAMODB_PORT/" 30 "${BG_PIDS[-1]}"

"$ADMIN" table create
if [[ ! -f "$TENANT_FILE" ]]; then
    "$ADMIN" tenant create --name "Demo Company" >"$TENANT_FILE.tmp" || {
        echo "dev: could not create the demo tenant; \`make clean-data\` starts afresh" >&2
        exit 1
    }
    mv "$TENANT_FILE.tmp" "$TENANT_FILE"
    # The professional plan: room to try things (1,200 requests a minute, 100,000 leads).
    "$ADMIN" tenant set-plan --id "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$TENANT_FILE")" \
        --tier professional >/dev/null
fi
TENANT_ID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$TENANT_FILE")
TOKEN=$("$ADMIN" token --tenant "$TENANT_ID" --user demo-owner --role owner --email owner@demo.example)
# A demo owner who signs in with email and password (POST /api/auth/login/). Dev-only values.
DEMO_EMAIL=owner@demo.example
DEMO_PASSWORD=demo-owner-password
"$ADMIN" user create --email "$DEMO_EMAIL" --password "$DEMO_PASSWORD" \
    --first-name Demo --last-name Owner --if-absent >/dev/null
"$ADMIN" member add --tenant "$TENANT_ID" --email "$DEMO_EMAIL" --role owner --if-absent >/dev/null

# SQS: moto keeps its queues in memory; they are created afresh at every start.
# Its request log is noise here; it goes to .local/sqs.log.
start_bg .venv/bin/moto_server -H 127.0.0.1 -p "$SQS_PORT" >.local/sqs.log 2>&1
wait_for_http "http://127.0.0.1:$SQS_PORT/moto-api/" 60 "${BG_PIDS[-1]}"
while IFS= read -r line; do
    export "${line?}"
done < <(target/debug/crm-local queues --prefix "$QUEUE_PREFIX")

# Webhooks may call http and loopback receivers here (never in AWS).
export WEBHOOK_ALLOW_PRIVATE=true

# Call the cargo-lambda binary itself, not `cargo lambda`: cargo does not pass SIGTERM on,
# while cargo-lambda stops the function processes it started when it gets one.
start_bg cargo-lambda lambda watch -A 127.0.0.1 -P "$GATEWAY_PORT"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
# The first request starts (and if needed compiles) the function: allow for a build.
wait_for_http "$GATEWAY/health/" 600 "${BG_PIDS[-1]}"

# Lambda's SQS event source mappings: scoring, insights and webhook deliveries to their workers.
start_bg target/debug/crm-local poll --prefix "$QUEUE_PREFIX" --gateway "$GATEWAY"
# Lambda's DynamoDB stream event source mapping: committed changes to the changes worker,
# which sends the scoring and insight requests (its position is kept in .local/).
start_bg target/debug/crm-local stream --endpoint "http://127.0.0.1:$DYNAMODB_PORT" \
    --table "$TABLE_NAME" --gateway "$GATEWAY"

cat <<MSG

==> Local CRM ready at $GATEWAY  (DynamoDB emulator on 127.0.0.1:$DYNAMODB_PORT, data in $DATA;
    SQS emulator on 127.0.0.1:$SQS_PORT, workers fed by the local poller and stream reader)
Demo tenant id: $TENANT_ID
Owner token (24 h): $TOKEN

Sign in as the demo owner ($DEMO_EMAIL, password $DEMO_PASSWORD): the answer's "token"
(15 min) works on every route, "refresh" renews it at /api/auth/refresh/:
curl -s -X POST $GATEWAY/api/auth/login/ -H 'Content-Type: application/json' -d '{"email":"$DEMO_EMAIL","password":"$DEMO_PASSWORD"}'

Create a lead:
curl -i -X POST $GATEWAY/api/leads/api/v1/leads/ -H 'Authorization: Bearer $TOKEN' -H 'X-Tenant-Id: $TENANT_ID' -H 'Content-Type: application/json' -d '{"first_name":"John","last_name":"Doe","email":"john@company.com","company":"Acme Corp","source":"website"}'

A second or two later the lead has its score (GET it), and its insights:
curl -i $GATEWAY/api/leads/api/v1/leads/<id>/ai-insights/ -H 'Authorization: Bearer $TOKEN'

Press Ctrl-C to stop.
MSG

# Run until Ctrl-C, or until a service stops by itself (then the trap stops the other).
status=0
wait -n "${BG_PIDS[@]}" || status=$?
echo "dev: a service stopped (exit status $status); stopping the rest" >&2
exit 1
