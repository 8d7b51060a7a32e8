"""Benchmark: fund warnings routed in a burst, and an escalation pass over 100,000 open warnings.

Targets (issue 10): 10,000 warnings created in a burst are routed to members at
≥ 1,000 warnings/s; an escalation pass over 100,000 open warnings takes ≤ 2 s.
The burst goes through the service in batches of 500 (what a police system's push
would send); the baseline routes the same warnings one by one in the same run.
Uses the scratch database ``grids_bench``; the warnings made here are deleted after.
"""
from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

from common import seeded_bench_app
from rich.console import Console
from sqlalchemy import text

from core.extensions import db
from outreach.warnings import services

LEVELS = ("urgent", "high", "medium", "low")


def items_for(households: list[int], prefix: str) -> list[dict]:
    """Warnings about these households, levels in rotation."""
    return [{"external_ref": f"{prefix}-{uuid.uuid4().hex[:16]}", "level": LEVELS[i % 4], "reason": "investment",
             "household_id": household} for i, household in enumerate(households)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=300)
    args = parser.parse_args()
    console = Console()
    app = seeded_bench_app(console)
    with app.app_context():
        households = db.session.execute(text(
            "select id from households tablesample system (30) limit :n"), {"n": args.open}).scalars().all()
        db.session.execute(text("delete from warning_events where by in ('routing', 'escalation')"))
        db.session.execute(text("delete from warnings where created_by = 'bench'"))
        db.session.commit()

        burst = items_for(households[:args.burst], "BURST")
        started = time.perf_counter()
        for start in range(0, len(burst), 500):
            services.create_warnings(burst[start:start + 500], "bench")
        burst_seconds = time.perf_counter() - started
        routed = db.session.execute(text(
            "select count(*) filter (where assigned_member_id is not null), count(*) from warnings "
            "where created_by = 'bench'")).one()

        single = items_for(households[args.burst:args.burst + args.baseline], "ONE")
        started = time.perf_counter()
        for item in single:
            services.create_warnings([item], "bench")
        single_rate = len(single) / (time.perf_counter() - started)

        rest = items_for(households[args.burst + args.baseline:args.open], "OPEN")
        for start in range(0, len(rest), 5000):
            services.create_warnings(rest[start:start + 5000], "bench")
        open_count = db.session.execute(text(
            "select count(*) from warnings where created_by = 'bench' and status <> 'closed'")).scalar()
        started = time.perf_counter()
        moved = services.escalate(datetime.now(UTC) + timedelta(days=4))  # every deadline has passed
        escalate_seconds = time.perf_counter() - started

        db.session.execute(text("delete from warning_events where by in ('routing', 'escalation')"))
        db.session.execute(text("delete from warnings where created_by = 'bench'"))
        db.session.commit()

    burst_rate = len(burst) / burst_seconds
    console.print(f"burst: {len(burst):,} warnings routed in {burst_seconds:.2f} s = {burst_rate:,.0f}/s "
                  f"({routed[0]:,} to a member, {routed[1] - routed[0]:,} to the township); one at a time "
                  f"{single_rate:,.0f}/s → {burst_rate / single_rate:.1f}×; target ≥ 1,000/s: "
                  f"{'PASS' if burst_rate >= 1000 else 'FAIL'}")
    console.print(f"escalation pass: {moved:,} of {open_count:,} open warnings moved in {escalate_seconds:.2f} s; "
                  f"target ≤ 2 s: {'PASS' if escalate_seconds <= 2 else 'FAIL'}")


if __name__ == "__main__":
    main()
