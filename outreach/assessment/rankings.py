"""Rankings among siblings: every region of a level under a region, scored on the scorecard for a month.

Figures come from the monthly coverage rollups (households and vulnerable households
visited, visits, flagged visits: one row per village and month) and the cells' app
installs, the warnings and cases of the month and the campaigns held in it; nothing
scans the visit history.  Who may see a ranking: anyone
at or above the ranked level, for the regions inside their scope and their own peers
(the siblings of their scope region), which is what a bulletin publishes.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

from core.clock import LOCAL, today
from core.errors import Forbidden, Invalid, NotFound
from grids.hierarchy import PREFIX_LENGTH, REGION_LEVELS, code_prefix
from outreach.assessment import queries
from outreach.assessment.scorecard import score, scorecard_in_force
from outreach.campaigns import queries as campaign_queries
from outreach.coverage.services import month_rows
from outreach.warnings import queries as warning_queries

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


def figures(prefix: str, by: str, start: date, end: date) -> dict[str, dict[str, Any]]:
    """Per region of level ``by`` under ``prefix``: the month's counts and component values."""
    length = PREFIX_LENGTH[by]
    parent_length = PREFIX_LENGTH[REGION_LEVELS[DEPTH[by] - 1]]
    coverage = month_rows(prefix, by, start)
    warnings = {row[0]: row for row in warning_queries.summary(
        prefix, length, by, datetime.combine(start, datetime.min.time(), LOCAL),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), LOCAL))}
    cases = queries.cases_by_group(prefix, length, start, end)
    campaigns = campaign_queries.counts_by_group(prefix, length, start, end)
    result = {}
    for row in coverage:
        code = row["code"]
        key = code[:length]
        _, _, issued, met, on_time, _, _, _, median = warnings.get(code, (code, "", 0, 0, 0, 0, 0, 0, None))
        households = row["households"]
        n_cases, n_campaigns = cases.get(key, 0), campaigns.get(key, 0)
        result[code] = {
            "code": code, "name": row["name"], "parent_code": code[:parent_length].ljust(12, "0"),
            "counts": {"households": households, "households_visited": row["households_visited"],
                       "vulnerable": row["vulnerable"], "vulnerable_visited": row["vulnerable_visited"],
                       "app_installed": row["app_installed"], "visits": row["visits"],
                       "flagged_visits": row["flagged_visits"], "warnings": int(issued), "warnings_met": int(met),
                       "warnings_met_on_time": int(on_time), "cases": n_cases, "campaigns": n_campaigns},
            "values": {
                "coverage": row["coverage"], "vulnerable_coverage": row["vulnerable_coverage"],
                "app_install_rate": row["app_install_rate"],
                "warnings_met_on_time": _ratio(on_time, issued),
                "median_minutes_to_meet": None if median is None else float(median),
                "cases_per_10k_households": _ratio(n_cases, households, 10_000),
                "zero_cases": 1.0 if n_cases == 0 else 0.0,
                "flagged_share": _ratio(row["flagged_visits"], row["visits"]),
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


def _scored(prefix: str, by: str, start: date, end: date, components: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for row in figures(prefix, by, start, end).values():
        row["score"], row["components"] = score(row["values"], components)
        rows.append(row)
    return rows


def rank_under(prefix: str, by: str, start: date, end: date) -> dict[str, Any]:
    """Rows of every level-``by`` region under ``prefix`` for a month, with ranks now and the month before.

    Each month is scored on the scorecard version in force for it, so the previous rank is
    the one that month's ranking gave (and its bulletin published), whatever changed since.
    """
    scorecard = scorecard_in_force(end)
    rows = _scored(prefix, by, start, end, scorecard.components)
    previous_start, previous_end = previous_month(start)
    previous_scorecard = scorecard_in_force(previous_end)
    before = {r["code"]: r for r in _scored(prefix, by, previous_start, previous_end, previous_scorecard.components)}
    ranks, previous_ranks = _rank(rows, "score"), _rank(list(before.values()), "score")
    for row in rows:
        row["rank"] = ranks[row["code"]]
        row["previous_rank"] = previous_ranks.get(row["code"])
        row["previous_score"] = before.get(row["code"], {}).get("score")
        row["rank_change"] = (row["previous_rank"] - row["rank"]
                              if row["rank"] is not None and row["previous_rank"] is not None else None)
        row["previous_counts"] = before.get(row["code"], {}).get("counts")
        del row["values"]
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
