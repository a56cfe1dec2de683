# Developer entry points; the logic lives in scripts/.
.PHONY: dev test lint setup clean-data

# The whole local stack: DynamoDB emulator, table, demo tenant + token, functions on :8007.
dev:
	bash scripts/dev.sh

# Every test; starts and stops whatever the tests need.
test:
	bash scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The Python virtualenv (.venv) with cargo-lambda and moto.
setup:
	bash scripts/setup.sh

# Forget the local data (emulator database and demo tenant); stop `make dev` first.
clean-data:
	rm -rf .local
