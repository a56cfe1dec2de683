#!/usr/bin/env python3
"""Lists the Rust source files over 700 lines (test modules included) and the functions
over 80 lines outside tests (`tests/` folders and `#[cfg(test)]` modules), longest first.

    python3 scripts/sizes.py [--files N] [--fns N] [--all]

Exits 1 when something is over the limits. `--all` also lists the longest ones within
them (the top ten of each), to see what comes next.
"""

import argparse
import pathlib
import re
import subprocess
import sys

ROOTS = ["shared", "functions", "admin", "local", "testkit", "checks/src"]
FN = re.compile(r"^\s*(pub(\([a-z:]+\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
TEST_MOD = re.compile(r"^\s*#\[cfg\(test\)\]")


def strip(line):
    """The line without string literals, char literals and `//` comments (roughly)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def block_end(lines, start):
    """The index of the line closing the block that opens at or after `start`."""
    depth = 0
    opened = False
    for i in range(start, len(lines)):
        code = strip(lines[i])
        if not opened and ";" in code and "{" not in code:
            return i  # a declaration without a body
        for ch in code:
            if ch == "{":
                depth += 1
                opened = True
            elif ch == "}":
                depth -= 1
        if opened and depth <= 0:
            return i
    return len(lines) - 1


def measure(path):
    lines = path.read_text().splitlines()
    fns = []
    i = 0
    while i < len(lines):
        if TEST_MOD.match(lines[i]):
            i = block_end(lines, i + 1) + 1
            continue
        m = FN.match(lines[i])
        if m:
            end = block_end(lines, i)
            fns.append((end - i + 1, f"{path}:{i + 1} {m.group(6)}"))
        i += 1
    return len(lines), fns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=700)
    ap.add_argument("--fns", type=int, default=80)
    ap.add_argument("--all", action="store_true")
    args = ap.parse_args()
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *ROOTS],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    files, fns = [], []
    for name in tracked:
        path = pathlib.Path(name)
        if path.suffix != ".rs" or "tests" in path.parts or not path.exists():
            continue
        length, found = measure(path)
        files.append((length, str(path)))
        fns.extend(found)
    files.sort(reverse=True)
    fns.sort(reverse=True)
    over = False
    for title, rows, limit in [("files", files, args.files), ("functions", fns, args.fns)]:
        long = [r for r in rows if r[0] > limit]
        over |= bool(long)
        shown = long if not args.all else rows[: max(10, len(long))]
        print(f"{title} over {limit} lines: {len(long)}")
        for n, where in shown:
            print(f"  {n:5} {where}")
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
