#!/usr/bin/env bash
# `make build`: arm64 (Graviton) release builds of every function, zipped for Lambda
# (target/lambda/<binary>/bootstrap.zip), then a table of binary and zip sizes.
# cargo-lambda (from .venv) cross-compiles with the zig it ships: no Docker, no cross
# toolchain. The binaries are the functions' [[bin]] targets (crates under functions/).
# `sam build` does the same through the template's `BuildMethod: rust-cargolambda`.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu

bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" # cargo-lambda and its zig

# The Rust standard library for the target; rustup downloads it once.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "build: adding the Rust target $TARGET" >&2
    if ! rustup target add "$TARGET"; then
        echo "error: cannot install the Rust standard library for $TARGET (rustup target add" >&2
        echo "       $TARGET failed; it needs the Rust distribution server once)." >&2
        exit 1
    fi
fi

# The functions' binaries, from cargo metadata: bin targets of the crates under functions/.
mapfile -t BINS < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
functions = os.path.join(meta["workspace_root"], "functions") + os.sep
for package in meta["packages"]:
    if package["manifest_path"].startswith(functions):
        for target in package["targets"]:
            if "bin" in target["kind"]:
                print(target["name"])
')
if ((${#BINS[@]} == 0)); then
    echo "error: no function binaries found under functions/" >&2
    exit 1
fi
args=()
for bin in "${BINS[@]}"; do args+=(--bin "$bin"); done

echo "build: cargo lambda build --release --arm64 --output-format zip ${args[*]}" >&2
start=$SECONDS
if ! cargo lambda build --release --arm64 --output-format zip "${args[@]}"; then
    echo "error: the arm64 cross-build failed (see above). It needs cargo-lambda's zig" >&2
    echo "       (.venv/bin/python-zig, from scripts/setup.sh) and the $TARGET target." >&2
    exit 1
fi
echo "build: done in $((SECONDS - start)) s" >&2

# Sizes: the stripped release binary and the zip Lambda receives.
echo
printf '| %-10s | %-14s | %-14s | %s\n' function binary zip path
printf '|%s|%s|%s|%s\n' ------------ ---------------- ---------------- -----
for bin in "${BINS[@]}"; do
    binary="target/$TARGET/release/$bin"
    zip="target/lambda/$bin/bootstrap.zip"
    for f in "$binary" "$zip"; do
        [[ -f "$f" ]] || { echo "error: $f is missing" >&2; exit 1; }
    done
    if command -v file >/dev/null && ! file -b "$binary" | grep -q 'ARM aarch64'; then
        echo "error: $binary is not an arm64 executable: $(file -b "$binary")" >&2
        exit 1
    fi
    size() { numfmt --to=iec-i --suffix=B --format='%.1f' "$(stat -c %s "$1")"; }
    printf '| %-10s | %-14s | %-14s | %s\n' "$bin" "$(size "$binary")" "$(size "$zip")" "$zip"
done
