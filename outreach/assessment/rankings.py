"""Rankings among siblings: every region of a level under a region, scored on the scorecard for a month.

Figures come from the monthly coverage rollups (households and vulnerable households
visited, visits, flagged visits: one row per village and month) and the villages' app
installs, the warnings and cases of the month and the campaigns held in it; nothing
scans the visit history.  The month and the one before (for the previous rank) are read
together: two statements whatever the number of regions.  Who may see a ranking: anyone
at or above the ranked level, for the regions inside their scope and their own peers
(the siblings of their scope region), which is what a bulletin publishes.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

from core.clock import today
from core.errors import Forbidden, Invalid, NotFound
from grids.hierarchy import PREFIX_LENGTH, REGION_LEVELS, code_prefix
from outreach.assessment import queries
from outreach.assessment.scorecard import scorecard_in_force, scorer
from outreach.coverage.queries import month_rows

DEPTH = {level: depth for depth, level in enumerate(REGION_LEVELS)}


def parse_period(period: str | None) -> tuple[date, date]:
    """``YYYY-MM`` → the month's first and last local day (default: the current month)."""
    if not period:
        first = today().replace(day=1)
    else:
        try:
            first = datetime.strptime(period, "%Y-%m").date()
        except ValueError as error:
            raise Invalid(errors={"query": {"period": ["Must be a month, YYYY-MM."]}}) from error
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def previous_month(first: date) -> tuple[date, date]:
    """The month before the one starting on ``first``."""
    last = first - timedelta(days=1)
    return last.replace(day=1), last


def visible_region(user, region_code: str | None, by: str):
    """The region whose level-``by`` descendants the user may rank, or 403/404.

    At or above the ranked level only; inside the scope, or the parent of the scope
    region when ranking the user's own level (their peers).
    """
    scope = queries.region_unscoped(user.scope)
    if scope is None or DEPTH[by] < DEPTH[scope.level]:
        raise Forbidden(_l("Rankings of a level above yours are not visible to you."))
    allowed = code_prefix(scope.code)
    if DEPTH[by] == DEPTH[scope.level] and scope.parent_code:
        allowed = code_prefix(scope.parent_code)
    region = queries.region_unscoped(region_code) if region_code else \
        queries.region_unscoped(scope.parent_code if DEPTH[by] == DEPTH[scope.level] else scope.code)
    if region is None or not code_prefix(region.code).startswith(allowed):
        raise NotFound(_l("Region %(code)s was not found.", code=region_code))
    if DEPTH[region.level] >= DEPTH[by]:
        raise Invalid(errors={"query": {"by": [f"Must be a level below the region's ({region.level})."]}})
    return region


def _ratio(part: float, whole: float, scale: float = 1.0) -> float | None:
    return part * scale / whole if whole else None


def _share(part: int, whole: int) -> float | None:
    """A coverage share as the coverage report gives it (4 decimals)."""
    return round(part / whole, 4) if whole else None


def figures(prefix: str, by: str, months: list[date]) -> dict[date, dict[str, dict[str, Any]]]:
    """Per local month (its first day), per region of level ``by`` under ``prefix``: the counts and
    component values, from two statements whatever the number of regions and months."""
    length = PREFIX_LENGTH[by]
    parent_length = PREFIX_LENGTH[REGION_LEVELS[DEPTH[by] - 1]]
    others = queries.month_figures(prefix, length, months)
    none = (0, 0, 0, None, 0, 0)
    result: dict[date, dict[str, dict[str, Any]]] = {month: {} for month in months}
    for code, name, month, households, vulnerable, visited, vulnerable_visited, visits, flagged, apps in \
            month_rows(prefix, by, months):
        issued, met, on_time, median, n_cases, n_campaigns = others.get((code[:length], month), none)
        visited, vulnerable_visited, visits, flagged, apps = \
            int(visited), int(vulnerable_visited), int(visits), int(flagged), int(apps)
        result[month][code] = {
            "code": code, "name": name, "parent_code": code[:parent_length].ljust(12, "0"),
            "counts": {"households": households, "households_visited": visited, "vulnerable": vulnerable,
                       "vulnerable_visited": vulnerable_visited, "app_installed": apps, "visits": visits,
                       "flagged_visits": flagged, "warnings": issued, "warnings_met": met,
                       "warnings_met_on_time": on_time, "cases": n_cases, "campaigns": n_campaigns},
            "values": {
                "coverage": _share(visited, households), "vulnerable_coverage": _share(vulnerable_visited, vulnerable),
                "app_install_rate": _share(apps, households),
                "warnings_met_on_time": _ratio(on_time, issued),
                "median_minutes_to_meet": None if median is None else float(median),
                "cases_per_10k_households": _ratio(n_cases, households, 10_000),
                "zero_cases": 1.0 if n_cases == 0 else 0.0,
                "flagged_share": _ratio(flagged, visits),
                "campaigns_per_1k_households": _ratio(n_campaigns, households, 1_000),
            },
        }
    return result


def _rank(rows: list[dict[str, Any]], key: str) -> dict[str, int | None]:
    """Competition ranks (1, 2, 2, 4) by ``key`` descending among siblings (same parent); None unscored."""
    ranks: dict[str, int | None] = {}
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_parent.setdefault(row["parent_code"], []).append(row)
    for siblings in by_parent.values():
        scored = sorted((r for r in siblings if r[key] is not None), key=lambda r: (-r[key], r["code"]))
        for position, row in enumerate(scored, start=1):
            previous = scored[position - 2] if position > 1 else None
            ranks[row["code"]] = ranks[previous["code"]] if previous and previous[key] == row[key] else position
        for row in siblings:
            ranks.setdefault(row["code"], None)
    return ranks


def _scored(rows: dict[str, dict[str, Any]], components: dict[str, Any], parts: bool = True) -> list[dict[str, Any]]:
    score_of = scorer(components)
    for row in rows.values():
        row["score"], row["components"] = score_of(row.pop("values"), parts)
    return list(rows.values())


def rank_under(prefix: str, by: str, start: date, end: date) -> dict[str, Any]:
    """Rows of every level-``by`` region under ``prefix`` for a month, with ranks now and the month before.

    Each month is scored on the scorecard version in force for it, so the previous rank is
    the one that month's ranking gave (and its bulletin published), whatever changed since.
    """
    scorecard = scorecard_in_force(end)
    previous_start, previous_end = previous_month(start)
    previous_scorecard = scorecard_in_force(previous_end)
    months = figures(prefix, by, [previous_start, start])
    rows = _scored(months[start], scorecard.components)
    before = {r["code"]: r for r in _scored(months[previous_start], previous_scorecard.components, parts=False)}
    ranks, previous_ranks = _rank(rows, "score"), _rank(list(before.values()), "score")
    for row in rows:
        earlier = before.get(row["code"])
        row["rank"] = ranks[row["code"]]
        row["previous_rank"] = previous_ranks.get(row["code"])
        row["previous_score"] = earlier["score"] if earlier else None
        row["rank_change"] = (row["previous_rank"] - row["rank"]
                              if row["rank"] is not None and row["previous_rank"] is not None else None)
        row["previous_counts"] = earlier["counts"] if earlier else None
    rows.sort(key=lambda r: (r["parent_code"], r["rank"] is None, r["rank"] or 0, r["code"]))
    return {"period": start.strftime("%Y-%m"), "from": start, "to": end, "by": by,
            "scorecard_version": scorecard.version, "previous_scorecard_version": previous_scorecard.version,
            "list_size": scorecard.list_size, "rows": rows}


def rankings(user, region_code: str | None, by: str, period: str | None) -> dict[str, Any]:
    """``GET /rankings``: the visible region's level-``by`` regions ranked among siblings for a month."""
    region = visible_region(user, region_code, by)
    start, end = parse_period(period)
    result = rank_under(code_prefix(region.code), by, start, end)
    result["region"] = region.code
    return result
