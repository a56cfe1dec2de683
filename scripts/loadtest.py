#!/usr/bin/env python3
"""`make loadtest`: the API's cost per request under load, on this machine, rerunnable.

Started by scripts/loadtest.sh after it has built the release binaries. This script:
- starts the DynamoDB emulator (`crm-local dynamodb`, release) on a fresh data file and
  every HTTP function in one process (`crm-local serve`, release) over plain HTTP;
- for each tenant size (1,000 and 20,000 leads; 100,000 with LOADTEST_LARGE=1) creates a
  tenant on the enterprise plan with a rate limit out of the way, seeds it through the API
  (POST, 8 connections), then runs each scenario with wrk for LOADTEST_SECONDS (10) at
  LOADTEST_CONNECTIONS (8) connections on one thread;
- reports per scenario and size: requests/s, p50/p99 latency, server and emulator CPU
  milliseconds per request (utime+stime from /proc, divided by requests served), DynamoDB
  round trips and capacity units per request (`ReturnConsumedCapacity`, counted by the
  server: `GET /_local/usage`), non-2xx answers, and peak RSS of both processes.

The report is printed and written to target/loadtest/report.md.
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The binaries measured; LOADTEST_BIN_DIR=target/debug tries the script out quickly.
RELEASE = os.environ.get("LOADTEST_BIN_DIR", os.path.join(ROOT, "target", "release"))
LEADS = "/api/leads/api/v1/leads"
SECONDS = int(os.environ.get("LOADTEST_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("LOADTEST_CONNECTIONS", "8"))
SIZES = [int(s) for s in os.environ.get("LOADTEST_SIZES", "1000,20000").split(",") if s]
if os.environ.get("LOADTEST_LARGE") == "1":
    SIZES.append(100_000)
# LOADTEST_KEEP=1 keeps the emulator's file; LOADTEST_SCENARIOS=detail,create runs only those; LOADTEST_PERF=DIR records each scenario's
# server and emulator with `perf record -g` into DIR (build with CARGO_PROFILE_RELEASE_STRIP=none).
ONLY = [s for s in os.environ.get("LOADTEST_SCENARIOS", "").split(",") if s]
PERF_DIR = os.environ.get("LOADTEST_PERF")
TICKS = os.sysconf("SC_CLK_TCK")

COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Zenith", "Stark"]
INDUSTRIES = ["software", "retail", "finance", "health", "education", "logistics"]
STATUSES = ["new", "contacted", "qualified", "proposal", "negotiation"]
PRIORITIES = ["low", "medium", "high", "urgent"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"loadtest: {proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"loadtest: nothing listens on {port} after {seconds} s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def admin(env, *args):
    out = subprocess.run(
        [os.path.join(RELEASE, "crm-admin"), "--aws", *args],
        env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


class Api:
    """A keep-alive HTTP client for one connection."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else None)


def lead_body(n, rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = rng.choice(COMPANIES)
    return {
        "first_name": first,
        "last_name": f"{last}{n}",
        "email": f"{first}.{last}.{n}@{company.lower()}.example".lower(),
        "company": f"{company} {rng.choice(['Corp', 'Labs', 'Group'])}",
        "title": rng.choice(["CTO", "VP Sales", "Engineer", "Founder"]),
        "industry": rng.choice(INDUSTRIES),
        "status": rng.choice(STATUSES),
        "priority": rng.choice(PRIORITIES),
        "phone": f"+1555{n:07d}",
        "notes": "Met at the conference; wants a demo next quarter.",
    }


def seed(port, token, count, label):
    """Creates `count` leads through the API on 8 connections; returns some of their ids."""
    ids, lock, next_n = [], threading.Lock(), [0]
    failures = []

    def work(worker):
        api, rng = Api(port, token), random.Random(worker)
        while True:
            with lock:
                n = next_n[0]
                if n >= count or failures:
                    return
                next_n[0] += 1
            status, body = api.call("POST", f"{LEADS}/", lead_body(n, rng))
            if status != 201:
                failures.append(f"create {n}: {status} {body}")
                return
            if len(ids) < 500:
                with lock:
                    ids.append(body["id"])

    started = time.time()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"loadtest: seeding failed: {failures[0]}")
    print(f"seeded {count} leads in {label} in {time.time() - started:.0f} s", flush=True)
    return ids


LUA_HEADER = """
local ids = {%s}
local token = "%s"
local counter = 0
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
"""

SCENARIOS = {
    # The floors under the others: no DynamoDB call (HTTP, routing, the gateway event and
    # the JSON answer), then a signed-in request making two calls (the rate window and one
    # GetItem of a lead that does not exist: 404, counted under non-2xx).
    "health": """
request = function() return wrk.format("GET", "/health/") end
""",
    "missing lead": """
request = function() return wrk.format("GET", "%(leads)s/00000000-0000-4000-8000-000000000000/") end
""",
    "detail": """
request = function()
  counter = counter + 1
  return wrk.format("GET", "%(leads)s/" .. ids[(counter %% #ids) + 1] .. "/")
end
""",
    "list 20": """
request = function() return wrk.format("GET", "%(leads)s/?page_size=20") end
""",
    "status filter": """
request = function() return wrk.format("GET", "%(leads)s/?status=qualified&page_size=20") end
""",
    "search": """
request = function() return wrk.format("GET", "%(leads)s/?search=acme&page_size=20") end
""",
    "dashboard": """
request = function() return wrk.format("GET", "%(leads)s/dashboard/") end
""",
    "create": """
local run = math.random(1, 1000000000)
request = function()
  counter = counter + 1
  local body = '{"first_name":"Load","last_name":"Test","company":"Acme Load",' ..
    '"email":"load.' .. run .. '.' .. counter .. '@acme.example","status":"new"}'
  return wrk.format("POST", "%(leads)s/", nil, body)
end
""",
    "patch": """
request = function()
  counter = counter + 1
  local body = '{"notes":"Follow-up ' .. counter .. '"}'
  return wrk.format("PATCH", "%(leads)s/" .. ids[(counter %% #ids) + 1] .. "/", nil, body)
end
""",
    "bulk-update 100": """
local statuses = {"contacted", "qualified"}
request = function()
  counter = counter + 1
  local chosen = {}
  for i = 1, 100 do chosen[i] = '"' .. ids[((counter * 7 + i) %% #ids) + 1] .. '"' end
  local body = '{"lead_ids":[' .. table.concat(chosen, ",") .. '],"status":"' ..
    statuses[(counter %% 2) + 1] .. '"}'
  return wrk.format("POST", "%(leads)s/bulk-update/", nil, body)
end
""",
}


def parse_wrk(output):
    def number(pattern):
        m = re.search(pattern, output)
        return float(m.group(1)) if m else None

    def millis(pattern):
        m = re.search(pattern, output)
        if not m:
            return None
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    return {
        "requests": int(number(r"(\d+) requests in") or 0),
        "rps": number(r"Requests/sec:\s+([\d.]+)") or 0.0,
        "p50": millis(r"50%\s+([\d.]+)(us|ms|s|m)\b"),
        "p99": millis(r"99%\s+([\d.]+)(us|ms|s|m)\b"),
        "non_2xx": int(number(r"Non-2xx or 3xx responses: (\d+)") or 0),
    }


def usage(port):
    api = Api(port, "")
    _, body = api.call("GET", "/_local/usage")
    return body


def run_scenario(name, port, token, ids, server, emulator, workdir):
    script = os.path.join(workdir, re.sub(r"\W+", "_", name) + ".lua")
    with open(script, "w") as f:
        f.write(LUA_HEADER % (",".join(f'"{i}"' for i in ids[:200]), token))
        f.write(SCENARIOS[name] % {"leads": LEADS})
    perf = []
    if PERF_DIR:
        os.makedirs(PERF_DIR, exist_ok=True)
        stem = os.path.join(PERF_DIR, time.strftime("%H%M%S-") + re.sub(r"\W+", "_", name))
        for label, proc in (("server", server), ("emulator", emulator)):
            perf.append(subprocess.Popen(
                ["perf", "record", "-g", "-F", "499", "-p", str(proc.pid),
                 "-o", f"{stem}.{label}.data"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
    before = (cpu_seconds(server.pid), cpu_seconds(emulator.pid), usage(port))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "30s", "--latency",
         "-s", script,
         f"http://127.0.0.1:{port}"],
        check=True, capture_output=True, text=True,
    ).stdout
    after = (cpu_seconds(server.pid), cpu_seconds(emulator.pid), usage(port))
    for p in perf:
        p.send_signal(signal.SIGINT)
        p.wait()
    result = parse_wrk(out)
    served = after[2]["requests"] - before[2]["requests"]
    if served == 0:
        sys.exit(f"loadtest: {name}: no request was answered in {SECONDS} s")
    result.update(
        server_cpu_ms=(after[0] - before[0]) * 1000 / served,
        emulator_cpu_ms=(after[1] - before[1]) * 1000 / served,
        round_trips=(after[2]["round_trips"] - before[2]["round_trips"]) / served,
        read_units=(after[2]["read_units"] - before[2]["read_units"]) / served,
        write_units=(after[2]["write_units"] - before[2]["write_units"]) / served,
    )
    return result


def attribute_size(value):
    """DynamoDB's size of one attribute value (its item-size rules), from DynamoDB JSON."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(v.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(v) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_size(x) for k, x in v.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: x}) for x in v)
    return 0


def stored_bytes(path, table):
    """Bytes DynamoDB would store (its item-size rules) in the table and in each of its
    indexes, read from the emulator's file: ({name: (items, bytes)}, leads stored)."""
    import sqlite3
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND (name = ? OR name LIKE ?)",
        (table, f"{table}::gsi::%"))]
    sizes = {}
    leads = 0
    for name in names:
        items, total = 0, 0
        for (item_json,) in conn.execute(f'SELECT item_json FROM "{name}"'):
            item = json.loads(item_json)
            items += 1
            if name == table and item.get("SK") == {"S": "LEAD"}:
                leads += 1
            total += sum(len(k.encode()) + attribute_size(v) for k, v in item.items())
        sizes[name.replace(f"{table}::gsi::", "") if name != table else "table"] = (items, total)
    conn.close()
    return sizes, max(leads, 1)


def fmt(value, digits=2):
    return "" if value is None else f"{value:.{digits}f}"


def main():
    if not shutil.which("wrk"):
        sys.exit("loadtest: wrk is missing (Debian package `wrk`; scripts/loadtest.sh installs it)")
    workdir = tempfile.mkdtemp(prefix="crm-loadtest-")
    db_port, api_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        TABLE_NAME="crm-loadtest",
        JWT_SECRET_KEY="loadtest-jwt-secret-0123456789abcdef0123456789",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{db_port}",
        LOG_LEVEL="warn",
        TENANT_CACHE_SECONDS="30",
    )
    for name in ("SCORING_QUEUE_URL", "INSIGHTS_QUEUE_URL", "AI_AGENTS_URL", "JWKS_URL"):
        env.pop(name, None)
    crm_local = os.path.join(RELEASE, "crm-local")
    procs = []
    try:
        emulator = subprocess.Popen(
            [crm_local, "dynamodb", "--port", str(db_port), "--data",
             os.path.join(workdir, "db.sqlite")],
            env=env, stderr=subprocess.DEVNULL,
        )
        procs.append(emulator)
        wait_for_port(db_port, emulator)
        admin(env, "table", "create")
        server = subprocess.Popen(
            [crm_local, "serve", "--port", str(api_port)], env=env, stderr=subprocess.DEVNULL,
        )
        procs.append(server)
        wait_for_port(api_port, server)

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        lines = [
            f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}"
            f"{' (binaries from ' + RELEASE + ')' if 'LOADTEST_BIN_DIR' in os.environ else ''}, "
            f"{os.cpu_count()} cores; wrk -t1 -c{CONNECTIONS} -d{SECONDS}s per scenario.",
            "",
            "| leads | scenario | req/s | p50 ms | p99 ms | server CPU ms/req | emulator CPU ms/req "
            "| round trips/req | RCU/req | WCU/req | non-2xx |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for size in SIZES:
            tenant = json.loads(admin(env, "tenant", "create", "--name", f"Load {size}"))
            admin(env, "tenant", "set-plan", "--id", tenant["id"], "--tier", "enterprise",
                  "--max-leads", "10000000", "--requests-per-minute", "100000000")
            token = admin(env, "token", "--tenant", tenant["id"], "--user", "load-owner",
                          "--role", "owner", "--ttl", "86400")
            ids = seed(api_port, token, size, tenant["name"])
            for name in (n for n in SCENARIOS if not ONLY or n in ONLY):
                r = run_scenario(name, api_port, token, ids, server, emulator, workdir)
                print(f"{size} {name}: {r}", flush=True)
                lines.append(
                    f"| {size:,} | {name} | {r['rps']:.0f} | {fmt(r['p50'])} | {fmt(r['p99'])} "
                    f"| {fmt(r['server_cpu_ms'])} | {fmt(r['emulator_cpu_ms'])} "
                    f"| {fmt(r['round_trips'], 1)} | {fmt(r['read_units'], 1)} "
                    f"| {fmt(r['write_units'], 1)} | {r['non_2xx']} |"
                )
        sizes, leads = stored_bytes(os.path.join(workdir, "db.sqlite"), "crm-loadtest")
        lines += ["", "Stored bytes (DynamoDB's item-size rules) in the table and its indexes "
                  f"after the run, divided by the leads stored ({leads:,}, the scenarios' "
                  "creates included):", "",
                  "| where | items | bytes | bytes per lead |", "|---|---|---|---|"]
        for name, (items, total) in sorted(sizes.items(), key=lambda kv: kv[0] != "table"):
            lines.append(f"| {name} | {items:,} | {total:,} | {total / leads:,.0f} |")
        everything = sum(total for _, total in sizes.values())
        lines.append(f"| all | | {everything:,} | {everything / leads:,.0f} |")
        lines += [
            "",
            f"Peak RSS: server {peak_rss_mib(server.pid):.0f} MiB, "
            f"emulator {peak_rss_mib(emulator.pid):.0f} MiB.",
        ]
        report = "\n".join(lines) + "\n"
        os.makedirs(os.path.join(ROOT, "target", "loadtest"), exist_ok=True)
        with open(os.path.join(ROOT, "target", "loadtest", "report.md"), "w") as f:
            f.write(report)
        print("\n" + report)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("LOADTEST_KEEP") == "1":
            print(f"loadtest: kept the emulator's data in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
