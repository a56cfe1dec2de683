#!/usr/bin/env bash
# `make loadtest`: release builds of the emulator and of every HTTP function in one process,
# then scripts/loadtest.py (tenants of 1,000 and 20,000 leads, fixed scenarios under wrk, CPU
# and DynamoDB cost per request). LOADTEST_LARGE=1 adds a tenant of 100,000 leads;
# LOADTEST_SECONDS and LOADTEST_CONNECTIONS change each scenario's run. Figures:
# docs/benchmark.md. Keep symbols for perf with CARGO_PROFILE_RELEASE_STRIP=none.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "loadtest: installing wrk (Debian package)" >&2
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
cargo build --release -q -p crm-local -p crm-admin
exec python3 scripts/loadtest.py "$@"
