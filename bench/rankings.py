"""Benchmark: rank every village of the city for a month, and render the city's bulletin PDF.

Targets (issue 19): all 1,925 villages ranked for a month (this month and the month
before, for the previous rank) ≤ 300 ms; the city bulletin PDF ≤ 5 s.  Each is run beside
the same figures computed straight from the visit table in the same process and database
(the scores and ranks must agree village by village), and the ratio is printed.

Runs on the scratch database ``grids_bench`` (``bench/seed.py``); when it has no visits
yet, ``--days`` days of them are generated first through the sync service (on 2 idle cores
about 40,000 visits a day take half a minute).  The month ranked is the one of the latest
stored visit, so the ranking and the one before it both read a history.
"""
from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from common import seeded_bench_app, timed
from rich.console import Console
from sqlalchemy import text

from core.clock import LOCAL
from core.extensions import db
from grids.hierarchy import PREFIX_LENGTH, code_prefix
from outreach.assessment import rankings
from outreach.assessment.scorecard import scorecard_in_force
from outreach.bulletins import pdf
from outreach.bulletins import services as bulletins
from outreach.visits.seed import seed_visits

CITY = "610900000000"
RANK_TARGET_MS = 300
PDF_TARGET_S = 5.0


def coverage_from_visit_table(by: str, start, end) -> list[tuple]:
    """The coverage rows ``rankings.month_rows`` gives for one month, computed from visits, households and
    regions: (code, name, month, households, vulnerable, households visited, vulnerable visited, visits,
    flagged visits, app installed)."""
    length = PREFIX_LENGTH[by]
    start_ts = datetime.combine(start, datetime.min.time(), LOCAL)
    end_ts = datetime.combine(end + timedelta(days=1), datetime.min.time(), LOCAL)
    return db.session.execute(text("""
        with period as (
            select left(v.village_code, :length) as key, v.household_id, v.outcome, v.flags,
                   cardinality(h.tags) > 0 as vulnerable
            from visits v join households h on h.id = v.household_id
            where v.visited_at >= :start and v.visited_at < :end
        ), visited as (
            select key, count(distinct household_id) filter (where outcome = 'completed') as households_visited,
                   count(distinct household_id) filter (where outcome = 'completed' and vulnerable)
                       as vulnerable_visited,
                   count(*) as visits, count(*) filter (where flags <> '{}') as flagged_visits
            from period group by key
        ), latest_app as (
            select distinct on (household_id) household_id, village_code, app_installed from visits
            where app_installed is not null order by household_id, visited_at desc, app_installed desc
        ), apps as (
            select left(l.village_code, :length) as key, count(*) filter (where l.app_installed) as app_installed
            from latest_app l join households h on h.id = l.household_id and h.removed_at is null group by 1
        ), homes as (
            select left(village_code, :length) as key, count(*) as households,
                   count(*) filter (where cardinality(tags) > 0) as vulnerable
            from households where removed_at is null group by 1
        )
        select r.code, r.name, cast(:month as date), coalesce(homes.households, 0), coalesce(homes.vulnerable, 0),
               coalesce(visited.households_visited, 0), coalesce(visited.vulnerable_visited, 0),
               coalesce(visited.visits, 0), coalesce(visited.flagged_visits, 0), coalesce(apps.app_installed, 0)
        from regions r
        left join homes on homes.key = left(r.code, :length) left join visited on visited.key = left(r.code, :length)
        left join apps on apps.key = left(r.code, :length)
        where r.level = :level order by r.code
    """), {"start": start_ts, "end": end_ts, "length": length, "level": by, "month": start}).all()


def months_from_visit_table(prefix: str, by: str, months: list) -> list[tuple]:
    """What ``rankings.month_rows`` gives for months (each its first day), from the visit table."""
    return [row for month in months
            for row in coverage_from_visit_table(by, month, rankings.parse_period(month.strftime("%Y-%m"))[1])]


def with_figures_from_visit_table(function):
    """``function()`` with the ranking's coverage figures computed from the visit table."""
    original = rankings.month_rows
    rankings.month_rows = months_from_visit_table
    try:
        return function()
    finally:
        rankings.month_rows = original


def ranks_from_visit_table(by: str, start, end) -> dict[str, tuple]:
    """code → (score, rank, previous rank) with the coverage figures taken from the visit table."""
    result = with_figures_from_visit_table(lambda: rankings.rank_under("6109", by, start, end))
    return {r["code"]: (r["score"], r["rank"], r["previous_rank"]) for r in result["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=62, help="days of visits to generate when there are none")
    args = parser.parse_args()
    console = Console()
    app = seeded_bench_app(console)
    with app.app_context():
        if not db.session.execute(text("select exists (select 1 from visit_keys)")).scalar():
            console.print(f"no visits in grids_bench: generating {args.days} days through the sync service ...")
            created = seed_visits(args.days, 7, lambda n: None)
            console.print(f"{created:,} visits created")
        visits, latest = db.session.execute(text("select count(*), max(visited_at) from visit_keys")).one()
        start, end = rankings.parse_period(latest.astimezone(LOCAL).strftime("%Y-%m"))
        console.print(f"{visits:,} visits stored; ranking {start:%Y-%m} (previous rank from "
                      f"{rankings.previous_month(start)[0]:%Y-%m}); scorecard v{scorecard_in_force(end).version}")

        fast_seconds, fast = timed(lambda: rankings.rank_under("6109", "village", start, end), 7)
        slow_seconds, slow = timed(lambda: ranks_from_visit_table("village", start, end), 2)
        mine = {r["code"]: (r["score"], r["rank"], r["previous_rank"]) for r in fast["rows"]}
        differ = [code for code in mine if mine[code] != slow.get(code)]
        verdict = "PASS" if fast_seconds * 1000 <= RANK_TARGET_MS else "FAIL"
        console.print(f"rank {len(mine):,} villages for a month: {fast_seconds * 1000:.0f} ms "
                      f"(≤ {RANK_TARGET_MS} ms: {verdict}); from the visit table {slow_seconds * 1000:,.0f} ms "
                      f"→ {slow_seconds / fast_seconds:.1f}×; scores and ranks agree: "
                      f"{'PASS' if not differ else f'FAIL ({len(differ)} differ, e.g. {differ[:3]})'}")

        city = rankings.queries.region_unscoped(CITY)
        with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
            pdf_seconds, data = timed(lambda: pdf.render(bulletins.build(city, start, end)), 3)

            slow_pdf_seconds, _ = timed(
                lambda: with_figures_from_visit_table(lambda: pdf.render(bulletins.build(city, start, end))), 1)
        verdict = "PASS" if pdf_seconds <= PDF_TARGET_S else "FAIL"
        console.print(f"city bulletin PDF ({len(data) / 1024:.0f} KiB, {code_prefix(CITY)}, counties): "
                      f"{pdf_seconds:.2f} s (≤ {PDF_TARGET_S:.0f} s: {verdict}); with the figures from the visit table "
                      f"{slow_pdf_seconds:.2f} s → {slow_pdf_seconds / pdf_seconds:.1f}×")


if __name__ == "__main__":
    main()
