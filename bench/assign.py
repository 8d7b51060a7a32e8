"""Benchmark: optimal chiefs for all 46,000 cells from 56,000 members, against greedy.

Targets (DESIGN.md): ≤ 30 s, ≤ 2 GB, every cell covered, total distance ≤ the greedy
nearest-available baseline computed in the same run.  Uses the scratch database
``grids_bench`` (seeded at full scale on first use); the plan is stored, not applied.
"""
from __future__ import annotations

import resource
import time
import tracemalloc

from common import seeded_bench_app
from rich.console import Console

from grids.assignments.optimiser import solve
from grids.assignments.services import build_problem, create_plan
from grids.seed import CITY_CODE


def main() -> None:
    console = Console()
    app = seeded_bench_app(console)
    with app.app_context():
        tracemalloc.start()
        started = time.perf_counter()
        plan = create_plan(CITY_CODE, keep_existing=False, actor="bench")
        elapsed = time.perf_counter() - started
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        problem, _ = build_problem("6109", keep_existing=False)
        solution = solve(problem)
        figures = {name: getattr(plan, name) for name in ("cells", "covered", "total_distance_km",
                                                           "greedy_total_distance_km", "greedy_covered")}
    plan = type("Figures", (), figures)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"cells {plan.cells:,}, members {len(problem.member_ids):,}, candidate arcs {solution.arcs:,}")
    console.print(f"plan (load, solve, greedy, store): {elapsed:.1f} s; phases of a second solve: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in solution.timings.items()))
    console.print(f"peak memory: process RSS {peak_rss_mb:,.0f} MB, Python allocations {python_peak / 2**20:,.0f} MB")
    console.print(f"covered {plan.covered:,}/{plan.cells:,}; total {plan.total_distance_km:,.1f} km vs greedy "
                  f"{plan.greedy_total_distance_km:,.1f} km ({plan.greedy_covered:,} covered): "
                  f"{plan.total_distance_km / plan.greedy_total_distance_km:.4f}× of greedy")
    checks = {"≤ 30 s": elapsed <= 30, "≤ 2 GB": peak_rss_mb <= 2048, "every cell covered": plan.covered == plan.cells,
              "total ≤ greedy": plan.total_distance_km <= plan.greedy_total_distance_km}
    console.print("  ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
