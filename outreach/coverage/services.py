"""Coverage reports: rows per child region or cell, bands, time series."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import current_app

from core.clock import today
from core.errors import Invalid
from grids import services as territory
from grids.hierarchy import CHILD_LEVEL, PREFIX_LENGTH, code_prefix, is_below
from outreach.coverage import queries

SORT_KEYS = ("coverage", "-coverage", "code", "-code", "households", "-households", "visits", "-visits",
             "vulnerable_coverage", "-vulnerable_coverage", "flagged_visits", "-flagged_visits")


def default_period(start: date | None, end: date | None, days: int = 30) -> tuple[date, date]:
    """The period asked for, by default the last ``days`` local days."""
    end = end or today()
    start = start or end - timedelta(days=days - 1)
    if start > end:
        raise Invalid(errors={"query": {"from": ["Must not be after 'to'."]}})
    if (end - start).days > 731:
        raise Invalid(errors={"query": {"from": ["A period spans at most two years."]}})
    return start, end


def band(coverage: float | None, thresholds: tuple[float, float] | None = None) -> str:
    """red / amber / green for a coverage share (thresholds from the configuration)."""
    red_below, amber_below = thresholds or current_app.config["GRIDS_COVERAGE_BANDS"]
    if coverage is None or coverage < red_below:
        return "red"
    return "amber" if coverage < amber_below else "green"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _visited(prefix: str, by: str, start: date, end: date) -> tuple[dict, dict]:
    """Per group: cell states, and (households, vulnerable, cells) visited in the period — from the
    latest-day counters when the period reaches the latest visit day, else from the visit days."""
    latest = queries.latest_completed_day()
    cells = queries.cell_states(prefix, by, start)
    if latest is None or end >= latest:
        return cells, queries.visited_recent(prefix, by, start, cells)
    return cells, queries.visited_between(prefix, by, start, end)


def coverage_rows(region_code: str, by: str | None, start: date | None, end: date | None,
                  sort: str = "coverage") -> dict[str, Any]:
    """The coverage rows of every child of a region at level ``by`` for a local period."""
    region = territory.get_region(region_code)
    by = by or CHILD_LEVEL.get(region.level)
    if by is None or not is_below(by, region.level):
        raise Invalid(errors={"query": {"by": [f"Must be a level below the region's ({region.level})."]}})
    start, end = default_period(start, end)
    rows = rows_under(code_prefix(region.code), by, start, end, sort)
    if by == "grid":
        chiefs = queries.chiefs([row["code"] for row in rows])
        for row in rows:
            chief = chiefs.get(row["code"])
            row["responsible"] = None if chief is None else {"member_id": chief[0], "name": chief[1],
                                                             "phone": chief[2]}
    return {"region": region, "by": by, "from": start, "to": end, "rows": rows}


def rows_under(prefix: str, by: str, start: date, end: date, sort: str = "coverage") -> list[dict[str, Any]]:
    """Coverage rows of every region (or tier-3 cell) at level ``by`` whose code starts with ``prefix``.

    The prefix may be a region of the same level (a village and ``by="village"``: its own row),
    which is how a caller whose scope is one village gets that village's figures.
    """
    cells, visited = _visited(prefix, by, start, end)
    counts = queries.visit_counts(prefix, by, start, end)
    installed = {key: apps for key, (_, apps) in cells.items()}
    length = PREFIX_LENGTH[by]
    thresholds = current_app.config["GRIDS_COVERAGE_BANDS"]
    rows = []
    for code, name, households, vulnerable, cells in queries.group_rows(prefix, by):
        key = code[:length]
        households_visited, vulnerable_visited, cells_visited = visited.get(key, (0, 0, 0))
        visits, flagged = counts.get(key, (0, 0))
        coverage = _ratio(households_visited, households)
        rows.append({
            "code": code, "name": name, "households": households, "households_visited": households_visited,
            "coverage": coverage, "band": band(coverage, thresholds), "vulnerable": vulnerable,
            "vulnerable_visited": vulnerable_visited, "vulnerable_coverage": _ratio(vulnerable_visited, vulnerable),
            "app_installed": installed.get(key, 0), "app_install_rate": _ratio(installed.get(key, 0), households),
            "grids": cells, "grids_visited": cells_visited, "visits": visits, "flagged_visits": flagged,
        })
    key_name = sort.lstrip("-")
    rows.sort(key=lambda r: (r[key_name] is None, r[key_name] if r[key_name] is not None else 0, r["code"]),
              reverse=sort.startswith("-"))
    return rows


def timeseries(region_code: str, interval: str, start: date | None, end: date | None) -> dict[str, Any]:
    """Visits, households newly reached and cumulative coverage per day or week of a period."""
    region = territory.get_region(region_code)
    start, end = default_period(start, end)
    prefix = code_prefix(region.code)
    first_visits = queries.first_visits_by_day(prefix, start, end)
    per_day = queries.visits_by_day(prefix, start, end)
    buckets: list[dict[str, Any]] = []
    cumulative = 0
    day = start
    while day <= end:
        if interval == "week":
            bucket_end = min(end, day + timedelta(days=6 - day.weekday()))
        else:
            bucket_end = day
        visits = completed = flagged = reached = 0
        current = day
        while current <= bucket_end:
            v, c, f = per_day.get(current, (0, 0, 0))
            visits, completed, flagged = visits + v, completed + c, flagged + f
            reached += first_visits.get(current, 0)
            current += timedelta(days=1)
        cumulative += reached
        buckets.append({"start": day, "end": bucket_end, "visits": visits, "completed_visits": completed,
                        "flagged_visits": flagged, "households_reached": reached,
                        "cumulative_households_reached": cumulative,
                        "cumulative_coverage": _ratio(cumulative, region.households)})
        day = bucket_end + timedelta(days=1)
    return {"region": region.code, "interval": interval, "from": start, "to": end, "households": region.households,
            "series": buckets}


def village_figures(village_code: str, start: date, end: date) -> dict[str, int]:
    """One village's coverage figures for a local period (for certification criteria)."""
    rows = queries.group_rows(village_code, "village")
    if not rows:
        return {"households": 0, "households_visited": 0, "vulnerable": 0, "vulnerable_visited": 0,
                "app_installed": 0}
    _, _, households, vulnerable, _ = rows[0]
    cells, visited = _visited(village_code, "village", start, end)
    households_visited, vulnerable_visited, _ = visited.get(village_code, (0, 0, 0))
    return {"households": households, "households_visited": households_visited, "vulnerable": vulnerable,
            "vulnerable_visited": vulnerable_visited, "app_installed": cells.get(village_code, (0, 0))[1]}
