#!/usr/bin/env python3
"""Cold-start probe: a minimal Lambda Runtime API and a launcher, Python 3 standard library only.

Used by scripts/coldstart.sh; it can also be run on its own:

    python3 scripts/coldstart_runtime.py run --binary target/release/leads \
        --event events/leads/health.json --runs 20 --env-file /tmp/env --log /tmp/leads.log
    python3 scripts/coldstart_runtime.py summary results.jsonl   # Markdown rows from run output

One run = one cold start:
  1. a Runtime API (version 2018-06-01) starts on a free loopback port (port 0, kernel-chosen);
  2. the function binary is spawned with AWS_LAMBDA_RUNTIME_API pointing at it, in a clean
     environment (Lambda's variables plus the --env-file ones, nothing from the caller's shell);
  3. GET /2018-06-01/runtime/invocation/next hands it the event, with the headers Lambda sends
     (Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id);
  4. POST /2018-06-01/runtime/invocation/{id}/response (or /error) ends the measurement; the
     next /next call is held open, so the process sits idle, as in a frozen sandbox
     (with --warm, that next call gets the same event once more, timed as a warm invocation,
     and the one after it is held);
  5. peak RSS (VmHWM) and current RSS are read from /proc/<pid>/status (with --warm, when the
     runtime asks for the second event, i.e. after the cold invocation), then it is killed
     with its process group. POST /2018-06-01/runtime/init/error is recorded as a failure.

All times come from one clock (time.monotonic_ns in this process), taken just before the
spawn and when each request has been read in full, so no clock is compared with another:
  ready_ms    spawn -> first GET /next received  (init: main() up to the runtime loop)
  invoke_ms   first GET /next received -> its response read  (the cold invocation)
  first_ms    spawn -> first response read       (what issue #7 targets: < 30 ms locally)
  spawn_ms    Popen's own cost (fork + exec), included in the above
  warm_invoke_ms  with --warm: second GET /next received -> its response read

Each run prints one JSON object per line on stdout; errors go to stderr with the function's
log tail, and the exit status is non-zero when any run failed.
"""

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{name}"


class Probe:
    """State of one cold start, shared by the server threads and the launcher."""

    def __init__(self, event: bytes, function_name: str, timeout_s: float, invocations: int):
        self.event = event
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.invocations = invocations  # 1: the cold one; 2: and a warm one after it
        self.request_ids = [str(uuid.uuid4()) for _ in range(invocations)]
        self.lock = threading.Lock()
        self.done = threading.Event()  # last response, an error, or an init error arrived
        self.release = threading.Event()  # set at teardown: held /next calls return
        self.pid = None
        self.next_calls = 0
        self.t_next = []  # monotonic ns at which each served GET /next was read
        self.t_done = []  # monotonic ns at which each response body was read in full
        self.mem_after_first = {}  # /proc status when the runtime asked for the 2nd event
        self.outcome = None  # "response" | "error" | "init_error"
        self.body = b""  # the first response's body (or the error's)
        self.error_type = None
        self.unexpected = []  # requests this emulator does not know


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Rust runtime's pooled client expects
    server_version = "coldstart-runtime-api"
    sys_version = ""

    def setup(self):
        super().setup()
        # One write per answer and no Nagle: small writes must not wait for delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet; failures are reported by the launcher
        pass

    @property
    def probe(self) -> Probe:
        return self.server.probe

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers (streaming responses report errors there)
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, body: bytes = b"", headers=()):
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        head += [f"{k}: {v}" for k, v in headers]
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        self.wfile.write("\r\n".join(head).encode() + body)
        self.wfile.flush()

    def do_GET(self):
        now = time.monotonic_ns()
        p = self.probe
        if self.path != f"{API}/invocation/next":
            return self.unknown()
        with p.lock:
            p.next_calls += 1
            n = p.next_calls
            if n == 2 and p.invocations >= 2:
                # The cold invocation is over and the instance idle: its footprint so far.
                p.mem_after_first = proc_status(p.pid)
            if n <= p.invocations:
                p.t_next.append(now)
        if n > p.invocations:
            # The measurement is over: hold the call, as Lambda does between invocations.
            p.release.wait()
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000 + p.timeout_s * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        self.answer(
            200,
            p.event,
            [
                ("Lambda-Runtime-Aws-Request-Id", p.request_ids[n - 1]),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN.format(name=p.function_name)),
                ("Lambda-Runtime-Trace-Id", trace),
            ],
        )

    def do_POST(self):
        p = self.probe
        body = self.read_body()
        now = time.monotonic_ns()
        path = self.path
        outcome, index = None, None
        for i, request_id in enumerate(p.request_ids):
            prefix = f"{API}/invocation/{request_id}/"
            if path in (prefix + "response", prefix + "error"):
                outcome, index = path[len(prefix):], i
        if path == f"{API}/init/error":
            outcome = "init_error"
        if outcome is None:
            return self.unknown(body)
        with p.lock:
            if outcome == "response" and index == len(p.t_done):
                p.t_done.append(now)
                if index == 0:
                    p.outcome, p.body = outcome, body
                finished = len(p.t_done) == p.invocations
            else:  # an error ends the run; the first one is reported
                if p.outcome in (None, "response"):
                    p.outcome, p.body = outcome, body
                    p.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                finished = True
        self.answer(202, b'{"status":"OK"}')
        if finished:
            p.done.set()

    def unknown(self, body=b""):
        self.probe.unexpected.append(f"{self.command} {self.path}")
        self.answer(404, json.dumps({"errorType": "NotFound", "errorMessage": self.path}).encode())


def read_env_file(path):
    env = {}
    if path:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key] = value
    return env


def proc_status(pid):
    """VmHWM (peak RSS) and VmRSS in KiB, from /proc/<pid>/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def one_run(args, event: bytes, base_env: dict, run: int) -> dict:
    probe = Probe(event, args.function_name, args.timeout, 2 if args.warm else 1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.probe = probe
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    env = dict(base_env)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    log = open(args.log, "ab") if args.log else subprocess.DEVNULL
    result = {"function": args.function_name, "event": args.event_name, "run": run}
    proc = None
    try:
        if args.log:
            log.write(f"--- run {run} ({args.event_name}) ---\n".encode())
            log.flush()
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(
            [args.binary], env=env, cwd=args.cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # its own process group: teardown kills anything it started
        )
        t_spawned = time.monotonic_ns()
        probe.pid = proc.pid
        deadline = time.monotonic() + args.timeout
        while not probe.done.wait(0.01):
            if proc.poll() is not None:
                # Exited before answering: a startup failure (config, panic, init error).
                probe.done.wait(0.2)  # an init/error post may still be in flight
                if probe.outcome is None:
                    raise RuntimeError(f"the function exited with status {proc.returncode} before "
                                       f"responding ({probe.next_calls} /next calls)")
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no response within {args.timeout:g} s "
                                   f"({probe.next_calls} /next calls)")
        if probe.outcome != "response":
            raise RuntimeError(f"the function posted {probe.outcome} "
                               f"({probe.error_type}): {probe.body[:500].decode(errors='replace')}")
        # Let the runtime post its next /next (now held), so the sample is of an idle instance.
        settle = time.monotonic() + 0.5
        while probe.next_calls <= probe.invocations and time.monotonic() < settle and proc.poll() is None:
            time.sleep(0.002)
        mem_end = proc_status(proc.pid)
        mem = probe.mem_after_first if args.warm else mem_end
        if proc.poll() is not None or "VmHWM" not in mem:
            raise RuntimeError(f"the function exited (status {proc.returncode}) after responding")
        try:
            status_code = json.loads(probe.body).get("statusCode")
        except (ValueError, AttributeError):
            status_code = None
        ms = lambda ns: round(ns / 1e6, 3)  # noqa: E731
        result.update(
            ok=True,
            first_ms=ms(probe.t_done[0] - t0),
            ready_ms=ms(probe.t_next[0] - t0),
            invoke_ms=ms(probe.t_done[0] - probe.t_next[0]),
            spawn_ms=ms(t_spawned - t0),
            peak_rss_kib=mem["VmHWM"],
            rss_kib=mem.get("VmRSS"),
            status_code=status_code,
            response_bytes=len(probe.body),
            held_next=probe.next_calls > probe.invocations,
        )
        if args.warm:
            result.update(warm_invoke_ms=ms(probe.t_done[1] - probe.t_next[1]),
                          peak_rss_kib_after_warm=mem_end.get("VmHWM"))
        if probe.unexpected:
            result["unexpected_requests"] = probe.unexpected
        return result
    except RuntimeError as e:
        result.update(ok=False, error=str(e))
        return result
    finally:
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        probe.release.set()
        server.shutdown()
        server.server_close()
        if args.log:
            log.close()


def cmd_run(args) -> int:
    with open(args.event, "rb") as f:
        event = f.read()
    json.loads(event)  # fail early on a malformed event file
    args.event_name = args.event_name or os.path.splitext(os.path.basename(args.event))[0]
    args.function_name = args.function_name or os.path.basename(args.binary)
    base_env = read_env_file(args.env_file)
    failed = 0
    for run in range(1, args.runs + 1):
        result = one_run(args, event, base_env, run)
        print(json.dumps(result), flush=True)
        if not result["ok"]:
            failed += 1
            print(f"coldstart: {args.function_name} {args.event_name} run {run}: {result['error']}",
                  file=sys.stderr)
            if args.log:
                print(f"--- last lines of {args.log} ---\n{tail(args.log)}", file=sys.stderr)
            if args.fail_fast:
                break
    return 1 if failed else 0


def p90(values):
    """Nearest-rank 90th percentile: the smallest value >= 90 % of the samples."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def cmd_summary(args) -> int:
    rows = {}
    for path in args.results:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows.setdefault((r["function"], r["event"]), []).append(r)
    extra = {}
    for item in args.extra or []:  # function=text: the size columns, computed by the shell
        key, _, value = item.partition("=")
        extra[key] = value.split("|")
    for (function, event), runs in rows.items():
        ok = [r for r in runs if r.get("ok")]
        sizes = extra.get(function, ["?", "?"])
        if not ok:
            print(f"| {function} | {event} | 0/{len(runs)} | failed | | | | | {' | '.join(sizes)} |")
            continue

        def fmt(key):
            values = [r[key] for r in ok]
            return f"{statistics.median(values):.1f} / {p90(values):.1f}"

        peak = [r["peak_rss_kib"] / 1024 for r in ok]
        codes = sorted({str(r.get("status_code")) for r in ok})
        warm = [r["warm_invoke_ms"] for r in ok if "warm_invoke_ms" in r]
        warm = f"{statistics.median(warm):.1f}" if warm else "-"
        print(f"| {function} | {event} ({'/'.join(codes)}) | {len(ok)}/{len(runs)} | {fmt('first_ms')} | "
              f"{fmt('ready_ms')} | {fmt('invoke_ms')} | {warm} | "
              f"{statistics.median(peak):.1f} / {max(peak):.1f} | {' | '.join(sizes)} |")
    return 0


def cmd_verdict(args) -> int:
    medians = {}
    with open(args.results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line) if line.strip() else {}
            if r.get("function") == args.function and r.get("ok"):
                medians.setdefault(r["event"], []).append(r["first_ms"])
    if not medians:
        print("no successful run")
        return 0
    event, slowest = max(((e, statistics.median(v)) for e, v in medians.items()), key=lambda x: x[1])
    met = "met" if slowest < args.target_ms else "NOT met"
    print(f"first response in {slowest:.1f} ms (median, slowest event: {event}), "
          f"target < {args.target_ms:g} ms: {met}")
    return 0


def main() -> int:
    # SIGTERM (the shell script's cleanup) unwinds like Ctrl-C, so `finally` kills the function.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="cold-start a function binary N times against the emulator")
    run.add_argument("--binary", required=True)
    run.add_argument("--event", required=True, help="the JSON event handed to the first /next")
    run.add_argument("--runs", type=int, default=20)
    run.add_argument("--env-file", help="KEY=VALUE lines: the function's whole environment")
    run.add_argument("--log", help="append the function's stdout and stderr here")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds per run")
    run.add_argument("--function-name", help="default: the binary's file name")
    run.add_argument("--event-name", help="default: the event file's name without .json")
    run.add_argument("--cwd", default=None)
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    run.add_argument("--warm", action="store_true",
                     help="then hand the same event again and time that warm invocation too "
                          "(peak RSS is still sampled after the first)")
    summary = sub.add_parser("summary", help="Markdown table rows from run output (JSON lines)")
    summary.add_argument("results", nargs="+")
    summary.add_argument("--extra", action="append", help="function=binary size|zip size")
    verdict = sub.add_parser("verdict", help="one function's slowest median against the target")
    verdict.add_argument("results")
    verdict.add_argument("--function", required=True)
    verdict.add_argument("--target-ms", type=float, default=30.0)
    args = parser.parse_args()
    return {"run": cmd_run, "summary": cmd_summary, "verdict": cmd_verdict}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
