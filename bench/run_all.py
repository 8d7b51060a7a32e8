"""``make bench``: every benchmark in turn, then one table of figure, target and verdict.

Each benchmark prepares its own scratch database (``grids_bench``, seeded on first use); the
seed benchmark runs first because it rebuilds that database.  A figure's line is any output
line carrying a PASS or FAIL verdict; a benchmark that crashes is a FAIL.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
ORDER = ["seed", "household_import", "assign", "sync", "sync_envelope", "warnings", "notifications", "tiles",
         "coverage", "ogc", "rankings", "field_app"]
VERDICT = re.compile(r"\b(PASS|FAIL)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(name: str, console: Console) -> tuple[list[str], int, float]:
    """Run one benchmark, echoing its output; (verdict lines, exit code, seconds)."""
    console.rule(f"bench/{name}.py")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(BENCH / f"{name}.py")], cwd=BENCH.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**__import__("os").environ, "COLUMNS": "200"})
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        clean = ANSI.sub("", line).strip()
        if VERDICT.search(clean):
            lines.append(clean)
    return lines, process.wait(), time.perf_counter() - started


def main(argv: list[str]) -> int:
    console = Console()
    names = argv or ORDER
    table = Table("benchmark", "figure vs target", "verdict", "time", title="make bench")
    failed = False
    for name in names:
        lines, code, seconds = run(name, console)
        if code != 0 or not lines:
            failed = True
            table.add_row(name, f"exited with {code}" if code else "no verdict printed", "[red]FAIL[/red]",
                          f"{seconds:.0f} s")
            continue
        for index, line in enumerate(lines):
            verdict = "FAIL" if "FAIL" in line else "PASS"
            failed |= verdict == "FAIL"
            table.add_row(name if index == 0 else "", line, f"[{'red' if verdict == 'FAIL' else 'green'}]{verdict}",
                          f"{seconds:.0f} s" if index == 0 else "")
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
