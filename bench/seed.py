"""Benchmark: seed the full reference data set (scale 1.0) and print the time per phase.

Target (DESIGN.md): 46,000 cells and ~850,000 households in ≤ 90 s on 2 cores.
Runs in a scratch database ``grids_bench``; the application database is untouched.
"""
from __future__ import annotations

import argparse
import time

from common import bench_app
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from core.extensions import db
from grids.cli import run_seed

TARGET_SECONDS = 90.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20241)
    args = parser.parse_args()
    console = Console()
    app = bench_app("grids_bench")
    with app.app_context():
        started = time.perf_counter()
        timings = run_seed(args.scale, args.seed, reset=False, console=console)
        total = time.perf_counter() - started
        counts = db.session.execute(text(
            "select (select count(*) from regions where level = 'county'),"
            " (select count(*) from regions where level = 'township'),"
            " (select count(*) from regions where level = 'village'),"
            " (select count(*) from grids), (select count(*) from households)")).one()
    table = Table("phase", "seconds", title=f"seed ankang --scale {args.scale}")
    for phase, seconds in timings.items():
        table.add_row(phase, f"{seconds:.1f}")
    table.add_row("total", f"{total:.1f}")
    console.print(table)
    console.print(f"counties {counts[0]}, townships {counts[1]}, villages {counts[2]}, "
                  f"cells {counts[3]:,}, households {counts[4]:,}")
    verdict = "PASS" if total <= TARGET_SECONDS else "FAIL"
    console.print(f"total {total:.1f} s vs target {TARGET_SECONDS:.0f} s: "
                  f"{total / TARGET_SECONDS:.2f}× of the budget — {verdict}")


if __name__ == "__main__":
    main()
