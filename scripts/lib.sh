# shellcheck shell=bash
# Helpers sourced by the other scripts (not run on its own).

# Loads KEY=VALUE lines from each existing file into the environment, never replacing a
# variable that is already set: so the environment (e.g. `GATEWAY_PORT=9000 make dev`) wins,
# then the first file, then the next; the same precedence crm-admin uses. Lines are parsed, not
# sourced, so a file cannot run code; values may be wrapped in single or double quotes.
load_env_files() {
    local file line key value
    for file in "$@"; do
        [[ -f "$file" ]] || continue
        while IFS= read -r line || [[ -n "$line" ]]; do
            line="${line#"${line%%[![:space:]]*}"}"          # trim leading spaces
            [[ -z "$line" || "$line" == \#* ]] && continue
            line="${line#export }"
            [[ "$line" == *=* ]] || continue
            key="${line%%=*}"
            value="${line#*=}"
            [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
            printenv "$key" >/dev/null && continue
            if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
                value="${BASH_REMATCH[1]}"
            fi
            export "$key=$value"
        done <"$file"
    done
}

# Prints a TCP port that is free on loopback right now (for emulators started by the tests).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_http URL SECONDS [PID]: waits until URL answers 2xx. Fails early if PID (the
# process that should be serving it) has exited, or after SECONDS. One request may take all
# the remaining time: the gateway holds the first one while it builds the function, and
# retrying meanwhile would only queue invocations whose callers are gone.
wait_for_http() {
    local url="$1" deadline=$((SECONDS + $2)) pid="${3:-}"
    until curl -fsS -o /dev/null --max-time $((deadline - SECONDS + 1)) "$url" 2>/dev/null; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            echo "error: the process serving $url exited" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "error: $url did not answer within $2 s" >&2
            return 1
        fi
        sleep 0.5
    done
}

# Background processes started with start_bg are stopped by stop_bg (install it as a trap):
# SIGTERM first, so each can shut down cleanly (cargo-lambda stops its function processes).
# Each runs in its own session, so a Ctrl-C in the terminal reaches only the script, whose
# trap then stops them in order, rather than all of them at once in no particular order.
BG_PIDS=()
start_bg() {
    setsid "$@" &
    BG_PIDS+=("$!")
}
stop_bg() {
    local pid i
    # Newest first: the gateway goes before the emulator it uses.
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid="${BG_PIDS[i]}"
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        # Give each up to 10 s to exit, then insist.
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
}
