"""Household selects, the set-based placement join, and rollup increments."""
from __future__ import annotations

from sqlalchemy import Select, any_, literal, select, text
from sqlalchemy.orm import defer, undefer

from core.extensions import db
from grids.households.models import Household


def households_select(prefix: str | None = None, grid_code: str | None = None, tag: str | None = None,
                      with_location: bool = True) -> Select:
    """Households (not removed) by region prefix, cell and tag, by id."""
    statement = select(Household).where(Household.removed_at.is_(None)).order_by(Household.id)
    statement = statement.options(undefer(Household.location) if with_location else defer(Household.location))
    if prefix:
        statement = statement.where(Household.village_code.startswith(prefix, autoescape=True))
    if grid_code:
        statement = statement.where(Household.grid_code == grid_code)
    if tag:
        statement = statement.where(literal(tag) == any_(Household.tags))
    return statement


def household_by_id(household_id: int) -> Household | None:
    """One household in scope, or None."""
    return db.session.scalar(select(Household).where(Household.id == household_id))


def stage_households(copy_lines) -> None:
    """Load rows (line, lon, lat, address, residents, tags) into a temporary table via COPY."""
    db.session.execute(text("""
        create temporary table if not exists household_import (
            line integer primary key, lon double precision, lat double precision, address text,
            residents smallint, tags varchar(20)[],
            geom geometry(Point, 4326) generated always as (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) stored
        ) on commit drop
    """))
    db.session.execute(text("create index if not exists household_import_geom on household_import using gist (geom)"))
    db.session.execute(text("truncate household_import"))
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy("copy household_import (line, lon, lat, address, residents, tags) from stdin") as copy:
        for line in copy_lines:
            copy.write_row(line)
    db.session.execute(text("analyze household_import"))


def place_staged_households() -> None:
    """Find the tier-3 cell covering every staged point: one spatial join.

    Driven from the cells (each polygon tested against its candidate points in a
    row, so PostGIS reuses the prepared polygon), through the staged points' index.
    """
    db.session.execute(text("drop table if exists household_placement"))
    db.session.execute(text("""
        create temporary table household_placement on commit drop as
        select distinct on (s.line) s.line, g.code as grid_code, g.village_code
        from grids g
        join household_import s on ST_Covers(g.boundary, s.geom)
        where g.tier = 3
        order by s.line, g.code
    """))


def staged_placements() -> list[tuple[int, str | None, str | None]]:
    """(line, grid code, village code) of every staged row; codes are None outside every cell."""
    return [tuple(r) for r in db.session.execute(text("""
        select s.line, p.grid_code, p.village_code
        from household_import s left join household_placement p using (line) order by s.line
    """))]


def insert_staged_households(lines: list[int]) -> int:
    """Insert the staged rows whose line is in ``lines``, in their cells."""
    result = db.session.execute(text("""
        insert into households (county_code, grid_code, village_code, location, address, residents, tags)
        select left(p.village_code, 6), p.grid_code, p.village_code, s.geom, s.address, s.residents, s.tags
        from household_import s join household_placement p using (line)
        where s.line in (select unnest(cast(:lines as integer[])))
        order by p.grid_code, s.line
    """), {"lines": lines})
    return result.rowcount


def place_points(lons: list[float], lats: list[float]) -> list[tuple[str, str] | None]:
    """The tier-3 cell (code, village) covering each WGS84 point, or None; one spatial join (unscoped).

    On a shared edge the lowest code wins, so a point always lands in one cell.
    """
    rows = db.session.execute(text("""
        select p.i, c.code, c.village_code
        from unnest(cast(:lons as float8[]), cast(:lats as float8[])) with ordinality as p(lon, lat, i)
        left join lateral (
            select code, village_code from grids
            where tier = 3 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
            order by code limit 1
        ) c on true
        order by p.i
    """), {"lons": lons, "lats": lats})
    return [(row[1], row[2]) if row[1] else None for row in rows]


def cell_covering(lon: float, lat: float) -> tuple[str, str] | None:
    """(tier-3 code, village code) of the cell covering one WGS84 point, if any (unscoped)."""
    return place_points([lon], [lat])[0]


def increment_household_rollups(grid_codes: list[str], counts: list[int], vulnerable: list[int]) -> None:
    """Add households (and vulnerable households) to tier-3 cells, their parents and the regions above."""
    params = {"codes": grid_codes, "counts": counts, "vulnerable": vulnerable}
    db.session.execute(text("""
        with per_cell as (
            select code, n, v from unnest(cast(:codes as text[]), cast(:counts as int[]), cast(:vulnerable as int[]))
                as t(code, n, v)
        ), cells as (
            select code, sum(n) as n, sum(v) as v from per_cell group by code
            union all select left(code, 15) || '-00', sum(n), sum(v) from per_cell group by 1
            union all select left(code, 12) || '-00-00', sum(n), sum(v) from per_cell group by 1
        )
        update grids g set households = g.households + c.n, vulnerable_households = g.vulnerable_households + c.v
        from cells c where g.code = c.code
    """), params)
    db.session.execute(text("""
        with per_village as (
            select left(code, 12) as village, sum(n) as n, sum(v) as v
            from unnest(cast(:codes as text[]), cast(:counts as int[]), cast(:vulnerable as int[])) as t(code, n, v)
            group by 1
        ), rolled as (
            select village as code, n, v from per_village
            union all select rpad(left(village, 9), 12, '0'), sum(n), sum(v) from per_village group by 1
            union all select rpad(left(village, 6), 12, '0'), sum(n), sum(v) from per_village group by 1
            union all select rpad(left(village, 4), 12, '0'), sum(n), sum(v) from per_village group by 1
        )
        update regions r set households = r.households + x.n, vulnerable_households = r.vulnerable_households + x.v
        from rolled x where r.code = x.code
    """), params)
