"""Coverage figures from the rollups kept with every visit (never from the visit history).

A report groups by a code prefix: county (6 digits of the village code), township
(9), village (12) or tier-3 cell (the grid code).  Figures for a period:

- ``households_visited``: households with a completed visit in [from, to].  When
  the period reaches the latest visit day, that is the households whose latest
  completed day is on or after ``from``: a sum over ``last_completed_counts``
  (villages × days rows).  Otherwise it is the rows of ``household_visit_days`` in
  the period whose previous completed day is before ``from`` — each household's
  first visit in the period, counted once.  Both are exact.
- ``grids_visited``: cells with a completed visit in the period, the same way
  (``grid_coverage`` or ``household_visit_days``).
- ``visits`` and ``flagged_visits``: sums of the daily counters.
- ``app_installed``: households whose latest recorded app status is installed (a
  state, as of now).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, func, or_, select, text

from core.extensions import db
from grids.hierarchy import PREFIX_LENGTH
from outreach.coverage.models import HouseholdVisitDay, LastCompletedCount


def _like(prefix: str) -> str:
    """The LIKE pattern of a prefix; the whole city (every row) matches everything and needs no filter work."""
    return "%" if len(prefix) <= PREFIX_LENGTH["city"] else prefix + "%"


def latest_completed_day() -> date | None:
    """The latest local day with a completed visit anywhere."""
    return db.session.execute(text("select max(day) from last_completed_counts where households > 0")).scalar()


def village_households_visited(village_code: ColumnElement, start: date, end: date,
                               latest: date | None) -> ColumnElement:
    """Households visited in [start, end] of the village named by ``village_code`` (a column of the
    enclosing query), counted as :func:`visited_recent` / :func:`visited_between` count them, as a
    correlated subquery: it reads the rollups of that one village, for each row the query returns.

    ``latest`` is :func:`latest_completed_day`, which decides between the two ways, as in the report.
    """
    if latest is None or end >= latest:
        visited = (select(func.coalesce(func.sum(LastCompletedCount.households), 0))
                   .where(LastCompletedCount.village_code == village_code, LastCompletedCount.day >= start))
    else:
        visited = (select(func.count())
                   .where(HouseholdVisitDay.grid_code.startswith(village_code),
                          HouseholdVisitDay.day.between(start, end),
                          or_(HouseholdVisitDay.previous_day.is_(None), HouseholdVisitDay.previous_day < start)))
    return visited.scalar_subquery()


def month_rows(prefix: str, by: str, months: list[date]) -> list[tuple]:
    """Per region of level ``by`` under a prefix and per local month (its first day), in one statement:
    (code, name, month, households, vulnerable households, households visited, vulnerable visited,
    visits, flagged visits, households with the app installed).

    The months' figures are the village month counters (one row per village and month), summed per
    group; app installs are the current state, as in the coverage report (the village counters, read
    once for all the months).
    """
    return db.session.execute(text("""
        with months as (
            select left(village_code, :length) as key, month, sum(households) as households,
                   sum(vulnerable) as vulnerable, sum(visits) as visits, sum(flagged) as flagged
            from village_month_counts where month = any(:months) and village_code like :like group by 1, 2
        ), apps as (
            select left(village_code, :length) as key, sum(app_installed) as installed
            from village_app_counts where village_code like :like group by 1
        )
        select r.code, r.name, p.month, r.households, r.vulnerable_households, coalesce(m.households, 0),
               coalesce(m.vulnerable, 0), coalesce(m.visits, 0), coalesce(m.flagged, 0), coalesce(a.installed, 0)
        from regions r
        cross join unnest(cast(:months as date[])) as p(month)
        left join months m on m.key = left(r.code, :length) and m.month = p.month
        left join apps a on a.key = left(r.code, :length)
        where r.level = :level and r.code like :like
        order by r.code, p.month
    """), {"like": _like(prefix), "length": PREFIX_LENGTH[by], "level": by, "months": months}).all()


def group_rows(prefix: str, by: str) -> list[tuple]:
    """(code, name, households, vulnerable households, tier-3 cells) of every group under a prefix."""
    if by == "grid":
        return db.session.execute(text("""
            select code, name, households, vulnerable_households, 1 from grids
            where tier = 3 and village_code like :like order by code
        """), {"like": _like(prefix)}).all()
    return db.session.execute(text("""
        select code, name, households, vulnerable_households, tier3_grids from regions
        where level = :level and code like :like order by code
    """), {"like": _like(prefix), "level": by}).all()


def visited_recent(prefix: str, by: str, start: date,
                   cells: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int, int]]:
    """Fast path, for periods reaching the latest visit day: key → (households, vulnerable, cells) visited.

    ``cells`` is :func:`cell_states` for the same prefix, grouping and start.
    """
    params = {"like": _like(prefix), "start": start, "length": PREFIX_LENGTH[by]}
    if by == "grid":
        rows = db.session.execute(text("""
            select grid_code, count(*), count(*) filter (where vulnerable)
            from household_coverage
            where grid_code like :like and last_completed_on >= :start group by 1
        """), params).all()
        return {key: (int(n), int(v), 1) for key, n, v in rows}
    households = db.session.execute(text("""
        select left(village_code, :length), sum(households), sum(vulnerable)
        from last_completed_counts where day >= :start and village_code like :like group by 1
    """), params).all()
    return {key: (int(n), int(v), cells.get(key, (0, 0))[0]) for key, n, v in households}


def cell_states(prefix: str, by: str, start: date | None) -> dict[str, tuple[int, int]]:
    """key → (cells with a completed visit since ``start``, households with the app installed): one scan
    of the per-cell state."""
    column = "grid_code" if by == "grid" else f"left(village_code, {PREFIX_LENGTH[by]})"
    rows = db.session.execute(text(f"""
        select {column}, count(*) filter (where last_completed_on >= :start), sum(app_installed)
        from grid_coverage where village_code like :like group by 1
    """), {"like": _like(prefix), "start": start}).all()
    return {key: (int(cells), int(apps or 0)) for key, cells, apps in rows}


def visited_between(prefix: str, by: str, start: date, end: date) -> dict[str, tuple[int, int, int]]:
    """Exact for any period: key → (households, vulnerable, cells) with a completed visit in it.

    Aggregated per cell first (tens of thousands of groups, hashed in memory, in parallel),
    then per group: no sort of the millions of visit days, no DISTINCT.
    """
    rows = db.session.execute(text("""
        select left(grid_code, :length), sum(households), sum(vulnerable), count(*)
        from (
            select grid_code,
                   count(*) filter (where previous_day is null or previous_day < :start) as households,
                   count(*) filter (where vulnerable and (previous_day is null or previous_day < :start))
                       as vulnerable
            from household_visit_days
            where day between :start and :end and grid_code like :like
            group by grid_code
        ) cells
        group by 1
    """), {"like": _like(prefix), "start": start, "end": end, "length": PREFIX_LENGTH[by]}).all()
    return {key: (int(n), int(v), int(c)) for key, n, v, c in rows}


def visit_counts(prefix: str, by: str, start: date, end: date) -> dict[str, tuple[int, int]]:
    """key → (visits, flagged visits) in the period."""
    params = {"like": _like(prefix), "start": start, "end": end, "length": PREFIX_LENGTH[by]}
    if by == "grid":
        rows = db.session.execute(text("""
            select grid_code, sum(visits), sum(flagged) from grid_day_counts
            where day between :start and :end and grid_code like :like group by 1
        """), params)
    else:
        rows = db.session.execute(text("""
            select left(village_code, :length), sum(visits), sum(flagged) from village_day_counts
            where day between :start and :end and village_code like :like group by 1
        """), params)
    return {key: (int(v), int(f)) for key, v, f in rows.all()}


def geometries(codes: list[str], by: str) -> dict[str, dict]:
    """GeoJSON geometry of regions or cells."""
    table = "grids" if by == "grid" else "regions"
    rows = db.session.execute(text(f"""
        select code, ST_AsGeoJSON(boundary, 6)::json from {table} where code = any(:codes)
    """), {"codes": codes})
    return dict(rows.all())


def first_visits_by_day(prefix: str, start: date, end: date, vulnerable_only: bool = False) -> dict[date, int]:
    """Households whose first completed visit within [start, end] fell on each day."""
    rows = db.session.execute(text(f"""
        select day, count(*) from household_visit_days
        where day between :start and :end and grid_code like :like
          and (previous_day is null or previous_day < :start) {"and vulnerable" if vulnerable_only else ""}
        group by day
    """), {"like": _like(prefix), "start": start, "end": end})
    return dict(rows.all())


def visits_by_day(prefix: str, start: date, end: date) -> dict[date, tuple[int, int, int]]:
    """(visits, completed, flagged) per local day under a prefix."""
    if len(prefix) > 12:
        rows = db.session.execute(text("""
            select day, sum(visits), sum(completed), sum(flagged) from grid_day_counts
            where day between :start and :end and grid_code like :like group by day
        """), {"like": _like(prefix), "start": start, "end": end})
    else:
        rows = db.session.execute(text("""
            select day, sum(visits), sum(completed), sum(flagged) from village_day_counts
            where day between :start and :end and village_code like :like group by day
        """), {"like": _like(prefix), "start": start, "end": end})
    return {day: (int(v), int(c), int(f)) for day, v, c, f in rows}


def chiefs(grid_codes: list[str]) -> dict[str, tuple[int, str, str | None]]:
    """The current chief of each cell, the member responsible for it: code → (member id, name, masked phone)."""
    if not grid_codes:
        return {}
    rows = db.session.execute(text("""
        select distinct on (a.grid_code) a.grid_code, m.id, m.name, m.phone_masked
        from assignments a join members m on m.id = a.member_id
        where a.grid_code = any(:codes) and a.role = 'chief' and a.valid_to is null
        order by a.grid_code, a.valid_from desc
    """), {"codes": grid_codes}).all()
    return {code: (member, name, phone) for code, member, name, phone in rows}
