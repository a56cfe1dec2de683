#!/usr/bin/env bash
# Creates the project's Python virtualenv (.venv, git-ignored) with the local-stack tools:
# - cargo-lambda: its wheel ships the binary and zig (building it with cargo takes >10 min);
# - moto[server]: the SQS emulator (no Docker here);
# - cfn-lint and aws-sam-cli: the template checks (`cfn-lint template.yaml`,
#   `sam validate --lint`; .ci/run);
# - schemathesis: `make fuzz`, the API against its OpenAPI document (scripts/fuzz.sh).
# Pinned together: a fresh install takes about 2 minutes.
# Idempotent: a stamp file records what was installed, so a second run returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PACKAGES=("cargo-lambda==1.9.2" "moto[server]==5.2.5" "cfn-lint==1.58.0" "aws-sam-cli==1.170.0"
    "schemathesis==4.32.5")
STAMP="$VENV/.installed"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${PACKAGES[*]}" ]]; then
    exit 0
fi

echo "setup: installing ${PACKAGES[*]} into $VENV" >&2
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
# Fail here, not later in `make dev`, if a tool did not install a working command.
"$VENV/bin/cargo-lambda" lambda --version >/dev/null
"$VENV/bin/moto_server" --help >/dev/null
"$VENV/bin/cfn-lint" --version >/dev/null
SAM_CLI_TELEMETRY=0 "$VENV/bin/sam" --version >/dev/null
"$VENV/bin/schemathesis" --version >/dev/null
echo "${PACKAGES[*]}" >"$STAMP"
echo "setup: $VENV ready" >&2
