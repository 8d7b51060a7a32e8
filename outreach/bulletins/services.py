"""Bulletins: built from the rankings and the month's warnings and cases; stored when published.

``GET /bulletins`` answers the latest published edition of a region's month, or, when
none was published yet, a draft computed on demand (``edition`` null).  Publishing
(``POST /bulletins``, and the monthly job for every city, county and township) stores
the figures as they stand, so a bulletin once sent out does not change under its readers.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

from core.clock import LOCAL
from core.errors import Invalid, NotFound
from core.extensions import db
from grids.accounts import audit
from grids.hierarchy import child_region_level, code_prefix
from outreach.assessment import queries as assessment_queries
from outreach.assessment.rankings import parse_period, previous_month, rank_under, visible_region
from outreach.bulletins import queries
from outreach.bulletins.models import Bulletin
from outreach.cases import queries as case_queries
from outreach.warnings import queries as warning_queries

MAX_CASES_LISTED = 100
RANKING_VALUES = ("coverage", "vulnerable_coverage", "app_install_rate", "warnings_met_on_time", "flagged_share",
                  "campaigns_per_1k_households")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _warnings(prefix: str, level: str, start: date, end: date) -> dict[str, Any]:
    """The region's warnings of a period (one row: the region itself)."""
    rows = warning_queries.summary(prefix, len(prefix), level, datetime.combine(start, datetime.min.time(), LOCAL),
                                   datetime.combine(end + timedelta(days=1), datetime.min.time(), LOCAL))
    _, _, issued, met, on_time, dissuaded, transferred, amount, median = rows[0] if rows else \
        (None, None, 0, 0, 0, 0, 0, 0, None)
    return {"warnings": int(issued), "met": int(met), "met_on_time": int(on_time),
            "met_on_time_share": _share(int(on_time), int(issued)), "dissuaded": int(dissuaded),
            "transferred": int(transferred), "amount_transferred_yuan": float(amount),
            "median_minutes_to_meet": None if median is None else round(float(median), 1)}


def build(region, start: date, end: date) -> dict[str, Any]:
    """The bulletin of a region for the month [start, end], as JSON-ready data."""
    by = child_region_level(region.level)
    if by is None:
        raise Invalid(errors={"query": {"region": ["Bulletins are for the city, counties and townships."]}})
    prefix = code_prefix(region.code)
    ranking = rank_under(prefix, by, start, end)
    rows = []
    for row in ranking["rows"]:
        entry = {"code": row["code"], "name": row["name"], "score": row["score"], "rank": row["rank"],
                 "previous_score": row["previous_score"], "previous_rank": row["previous_rank"],
                 "rank_change": row["rank_change"],
                 "score_change": round(row["score"] - row["previous_score"], 2)
                 if row["score"] is not None and row["previous_score"] is not None else None}
        entry.update({name: row["components"].get(name, {}).get("value") if name in row["components"]
                      else None for name in RANKING_VALUES})
        entry.update({"households": row["counts"]["households"], "cases": row["counts"]["cases"],
                      "campaigns": row["counts"]["campaigns"], "warnings": row["counts"]["warnings"]})
        rows.append(entry)
    ranked = [r for r in rows if r["rank"] is not None]
    size = max(1, min(ranking["list_size"], len(ranked) // 2)) if ranked else 0
    totals = {k: sum(r["counts"][k] for r in ranking["rows"]) for k in
              ("households", "households_visited", "vulnerable", "vulnerable_visited", "visits", "flagged_visits",
               "campaigns")}
    before = {k: sum((r["previous_counts"] or {}).get(k, 0) for r in ranking["rows"]) for k in
              ("households", "households_visited", "visits", "campaigns")}
    previous_start, previous_end = previous_month(start)
    this_cases = case_queries.summary(prefix, len(prefix), region.level, start, end)
    last_cases = case_queries.summary(prefix, len(prefix), region.level, previous_start, previous_end)
    cases = [{"occurred_on": day.isoformat(), "type": kind, "loss_yuan": float(loss), "village_code": village,
              "village_name": name} for day, kind, loss, village, name in
             queries.cases_of_month(prefix, start, end, MAX_CASES_LISTED)]
    return {
        "region": {"code": region.code, "name": region.name, "level": region.level},
        "period": start.strftime("%Y-%m"), "from": start.isoformat(), "to": end.isoformat(), "by": by,
        "scorecard_version": ranking["scorecard_version"],
        "previous_scorecard_version": ranking["previous_scorecard_version"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "edition": None,
        "summary": {**totals, "coverage": _share(totals["households_visited"], totals["households"]),
                    "vulnerable_coverage": _share(totals["vulnerable_visited"], totals["vulnerable"]),
                    "flagged_share": _share(totals["flagged_visits"], totals["visits"]),
                    "previous_coverage": _share(before["households_visited"], before["households"]),
                    "previous_visits": before["visits"], "previous_campaigns": before["campaigns"]},
        "rankings": rows,
        "red_list": ranked[:size],
        "black_list": list(reversed(ranked[-size:])) if size else [],
        "changes": {
            "risers": sorted([r for r in rows if (r["rank_change"] or 0) > 0], key=lambda r: -r["rank_change"]),
            "fallers": sorted([r for r in rows if (r["rank_change"] or 0) < 0], key=lambda r: r["rank_change"]),
        },
        "warnings": {**_warnings(prefix, region.level, start, end),
                     "previous_warnings": _warnings(prefix, region.level, previous_start, previous_end)["warnings"]},
        "cases": {"cases": int(this_cases[0][2]) if this_cases else 0,
                  "loss_yuan": float(this_cases[0][3]) if this_cases else 0.0,
                  "previous_cases": int(last_cases[0][2]) if last_cases else 0,
                  "by_type": case_queries.cases_by_type(prefix, start, end), "items": cases},
    }


def bulletin(user, region_code: str | None, period: str | None) -> dict[str, Any]:
    """The latest published edition of a region's bulletin for a month, or a draft computed now."""
    region = _visible(user, region_code)
    start, end = parse_period(period or _last_month())
    stored = queries.latest_edition(region.code, start)
    if stored is not None:
        return {**stored.content, "edition": stored.id}
    return build(region, start, end)


def publish(user, region_code: str | None, period: str | None) -> dict[str, Any]:
    """Generate and store an edition of a region's bulletin (supervisors, for their scope)."""
    region = _visible(user, region_code)
    if not code_prefix(region.code).startswith(code_prefix(user.scope)):
        raise Invalid(errors={"json": {"region": ["You publish bulletins for your own region and below."]}})
    start, end = parse_period(period or _last_month())
    return _store(region, start, end, user.username)


def _store(region, start: date, end: date, actor: str | None) -> dict[str, Any]:
    content = build(region, start, end)
    edition = Bulletin(region_code=region.code, period=start, content=content, generated_by=actor)
    db.session.add(edition)
    db.session.flush()
    audit.record("bulletin.publish", "bulletin", edition.id, region.code, {"period": content["period"]},
                 actor=actor)
    db.session.commit()
    return {**content, "edition": edition.id}


def publish_month(period: str | None = None, progress=None) -> int:
    """Publish the month's bulletin of the city, every county and every township (the monthly job)."""
    start, end = parse_period(period or _last_month())
    codes = queries.bulletin_regions()
    for code in codes:
        _store(assessment_queries.region_unscoped(code), start, end, "scheduler")
        if progress is not None:
            progress()
    return len(codes)


def _visible(user, region_code: str | None):
    """The region whose bulletin the user may read: the rankings of its children must be visible to them."""
    scope = assessment_queries.region_unscoped(user.scope)
    code = region_code or (scope.parent_code if scope.level == "village" else scope.code)
    region = assessment_queries.region_unscoped(code)
    if region is None:
        raise NotFound(_l("Region %(code)s was not found.", code=code))
    if child_region_level(region.level) is None:
        raise Invalid(errors={"query": {"region": ["Bulletins are for the city, counties and townships."]}})
    return visible_region(user, region.code, child_region_level(region.level))


def _last_month() -> str:
    """The month before the current one, YYYY-MM."""
    first, _ = parse_period(None)
    return previous_month(first)[0].strftime("%Y-%m")
