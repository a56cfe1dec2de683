#!/usr/bin/env bash
# `make test`: every test of the workspace. The tests start their own in-process DynamoDB
# emulators on free ports. The SQS emulator (moto) runs as a separate process: it is started
# here on a free port, its endpoint exported for the tests (AWS_ENDPOINT_URL_SQS), and
# stopped by the trap whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

log=$(mktemp)
trap 'stop_bg; rm -f "$log"' EXIT
trap 'exit 130' INT TERM HUP

# SQS: moto in server mode (from the project venv) on a free port, for the queue tests.
bash scripts/setup.sh
port=$(free_port)
start_bg .venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1
wait_for_http "http://127.0.0.1:$port/moto-api/" 60 "${BG_PIDS[-1]}"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"

status=0
cargo test --workspace --color never 2>&1 | tee "$log" || status=$?

# One total for the whole workspace (cargo prints one "test result" line per test binary).
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
            if ($(i + 1) ~ /^ignored/) s += $i
        }
        n++
    }
    END { if (n) printf "\nsummary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
