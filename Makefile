# Developer entry points; the logic lives in scripts/.
.PHONY: dev test lint setup clean-data openapi fuzz loadtest

# The whole local stack: DynamoDB emulator, table, demo tenant + token, functions on :8007.
dev:
	bash scripts/dev.sh

# Every test; starts and stops whatever the tests need.
test:
	bash scripts/test.sh

# The OpenAPI document (openapi.json), built from the code (crm-openapi); a test fails when
# the committed file is stale.
openapi:
	cargo run -q -p crm-openapi > openapi.json.tmp || { rm -f openapi.json.tmp; exit 1; }
	mv openapi.json.tmp openapi.json

# Schemathesis over every operation of openapi.json against a local stack of its own.
fuzz:
	bash scripts/fuzz.sh

# Requests/s, latency, CPU and DynamoDB cost per request of fixed scenarios against
# release builds (wrk; tenants of 1,000 and 20,000 leads). Figures: docs/benchmark.md.
loadtest:
	bash scripts/loadtest.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The Python virtualenv (.venv) with cargo-lambda and moto.
setup:
	bash scripts/setup.sh

# Forget the local data (emulator database and demo tenant); stop `make dev` first.
clean-data:
	rm -rf .local

.PHONY: build validate

# arm64 release zips of every function for Lambda (target/lambda/<bin>/bootstrap.zip), with sizes.
build:
	bash scripts/build.sh

# The template checks CI runs (no AWS credentials needed).
validate: setup
	.venv/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint
