"""Monthly targets of regions and grid cells, and progress against them.

Progress for the month in course is measured against the share of the month elapsed
(a target of 0.9 coverage on day 10 of 30 expects 0.3 so far), so a cell is "lagging"
as soon as it falls behind pace, not only when the month is over.  Every cell row,
and every village row, names its responsible member: the cell's chief (for a village,
the chief of its tier-1 cell, the village secretary), with the phone masked.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from core.clock import today
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db
from core.scope import in_scope
from grids import services as territory
from grids.accounts import audit
from grids.hierarchy import PREFIX_LENGTH, code_prefix, level_of_code, tier3_prefix
from outreach.assessment import queries
from outreach.assessment.models import SHARE_METRICS, Target
from outreach.assessment.rankings import parse_period
from outreach.campaigns import queries as campaign_queries
from outreach.coverage import queries as coverage_queries
from outreach.coverage.services import rows_under

SETTERS_DEPTH = {"city_admin": 0, "county_admin": 1, "township_supervisor": 2}
DEPTH = {"city": 0, "county": 1, "township": 2, "village": 3, "grid": 4}


def _subject(data: dict[str, Any]) -> tuple[str, str, str]:
    """(code, level or "grid", name) of the target's region or cell, in scope, or 404."""
    if data.get("grid_code"):
        grid = territory.get_grid(data["grid_code"])
        return grid.code, "grid", grid.name
    region = territory.get_region(data["region"])
    return region.code, region.level, region.name


def set_target(data: dict[str, Any], user) -> dict[str, Any]:
    """Set (or replace) a region's or cell's target on a metric for a month."""
    code, level, name = _subject(data)
    if DEPTH[level] <= SETTERS_DEPTH.get(user.role, 99) and user.role != "city_admin":
        raise Forbidden(_l("Targets are set for the levels below yours."))
    if level == "grid" and data["metric"] == "campaigns":
        raise Invalid(errors={"json": {"metric": ["Campaigns are counted per region, not per cell."]}})
    if data["metric"] in SHARE_METRICS and not 0 <= data["value"] <= 1:
        raise Invalid(errors={"json": {"value": ["A share is between 0 and 1."]}})
    first, _ = parse_period(data["period"])
    statement = insert(Target).values(subject_code=code, period=first, metric=data["metric"], value=data["value"],
                                      set_by=user.username)
    db.session.execute(statement.on_conflict_do_update(
        constraint="uq_targets_subject_code",
        set_={"value": statement.excluded.value, "set_by": statement.excluded.set_by, "set_at": func.now()}))
    audit.record("assessment.target", "target", f"{code}/{first:%Y-%m}/{data['metric']}", code[:12],
                 {"value": data["value"]})
    db.session.commit()
    target = db.session.scalar(select(Target).where(Target.subject_code == code, Target.period == first,
                                                    Target.metric == data["metric"]))
    return {"subject_code": code, "level": level, "name": name, "period": first.strftime("%Y-%m"),
            "metric": target.metric, "value": target.value, "set_by": target.set_by, "set_at": target.set_at}


def _subject_level(code: str) -> str:
    """"grid" for a grid code, else the level read off the region code's zero padding."""
    return "grid" if len(code) == PREFIX_LENGTH["grid"] else level_of_code(code)


def _actuals(prefix: str, targets: list[Target], start: date, end: date) -> dict[str, dict[str, float]]:
    """subject code → metric → actual figure for the month (one coverage report per level asked for)."""
    actual: dict[str, dict[str, float]] = {}
    for level in sorted({_subject_level(t.subject_code) for t in targets}):
        subjects = sorted({t.subject_code for t in targets if _subject_level(t.subject_code) == level})
        rows = rows_under(prefix, "county" if level == "city" else level, start, end, "code")
        if level == "grid":
            for code in subjects:
                actual[code] = _sum_rows([r for r in rows if r["code"].startswith(tier3_prefix(code))])
            continue
        campaigns = campaign_queries.counts_by_group(prefix, PREFIX_LENGTH[level], start, end)
        for code in subjects:
            subject_prefix = code_prefix(code)
            actual[code] = _sum_rows([r for r in rows if r["code"].startswith(subject_prefix)])
            actual[code]["campaigns"] = sum(n for key, n in campaigns.items() if key.startswith(subject_prefix))
    return actual


def _sum_rows(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The metrics of a group of coverage rows taken together."""
    total = {k: sum(r[k] for r in rows) for k in ("households", "households_visited", "vulnerable",
                                                  "vulnerable_visited", "app_installed", "visits")}
    return {"households_visited": total["households_visited"], "visits": total["visits"],
            "coverage": total["households_visited"] / total["households"] if total["households"] else 0.0,
            "vulnerable_coverage": total["vulnerable_visited"] / total["vulnerable"] if total["vulnerable"] else 1.0,
            "app_install_rate": total["app_installed"] / total["households"] if total["households"] else 0.0,
            "campaigns": 0}


def progress(region_code: str, period: str | None) -> dict[str, Any]:
    """Every target under a region for a month, its actual figure, pace and whether it lags, lagging first."""
    region = territory.get_region(region_code)
    start, end = parse_period(period)
    prefix = code_prefix(region.code)
    targets = list(db.session.scalars(select(Target).where(
        Target.subject_code.startswith(prefix, autoescape=True), Target.period == start)))
    if not in_scope(db.session, region.code):
        raise NotFound(_l("Region %(code)s was not found.", code=region_code))
    actual = _actuals(prefix, targets, start, end) if targets else {}
    now = today()
    elapsed = 1.0 if now > end else 0.0 if now < start else ((now - start).days + 1) / ((end - start).days + 1)
    cells = [t.subject_code for t in targets if len(t.subject_code) == 18]
    villages = [t.subject_code + "-00-00" for t in targets if len(t.subject_code) == 12
                and len(code_prefix(t.subject_code)) == 12]
    chiefs = coverage_queries.chiefs(cells + villages)
    names = queries.grid_names(cells)
    region_names = queries.region_names([t.subject_code for t in targets if len(t.subject_code) == 12])
    rows = []
    for target in targets:
        code = target.subject_code
        value = actual.get(code, {}).get(target.metric, 0)
        expected = target.value * elapsed
        if len(code) == 18:
            name, level, chief = names.get(code, ("", 3))[0], "grid", chiefs.get(code)
        else:
            name, level = region_names.get(code, ("", ""))
            chief = chiefs.get(code + "-00-00") if level == "village" else None
        rows.append({
            "subject_code": code, "level": level, "name": name, "metric": target.metric, "target": target.value,
            "actual": round(value, 4), "expected_by_now": round(expected, 4),
            "progress": round(value / target.value, 4) if target.value else None,
            "met": value >= target.value, "lagging": value < expected,
            "responsible": None if chief is None else {"member_id": chief[0], "name": chief[1], "phone": chief[2]},
        })
    rows.sort(key=lambda r: (not r["lagging"], r["progress"] if r["progress"] is not None else 1, r["subject_code"]))
    return {"region": region.code, "period": start.strftime("%Y-%m"), "from": start, "to": end,
            "elapsed": round(elapsed, 4), "targets": rows, "lagging": sum(1 for r in rows if r["lagging"])}
