"""Select builders and spatial SQL of the territory (the only place with spatial predicates)."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import defer, undefer

from core.extensions import db
from grids.models import Grid, Region

# Relative area below which a difference or an overlap is floating-point noise.
AREA_TOLERANCE = 1e-6


def regions_select(level: str | None = None, parent_code: str | None = None,
                   with_boundary: bool = False) -> Select:
    """Regions filtered by level and parent, ordered by code."""
    statement = select(Region).order_by(Region.code)
    statement = statement.options(undefer(Region.boundary) if with_boundary else defer(Region.boundary))
    if level:
        statement = statement.where(Region.level == level)
    if parent_code:
        # A management zone's children are the townships it manages.
        statement = statement.where(or_(Region.parent_code == parent_code, Region.managed_by == parent_code))
    return statement


def managed_townships() -> dict[str, list[str]]:
    """Zone code → codes of the townships it manages (the whole city, whatever the caller's scope)."""
    rows = db.session.execute(text(
        "select managed_by, code from regions where managed_by is not null order by managed_by, code")).all()
    zones: dict[str, list[str]] = {}
    for zone, township in rows:
        zones.setdefault(zone, []).append(township)
    return zones


def region_names(level: str) -> dict[str, str]:
    """Code → name of every region of a level (the whole city)."""
    return dict(db.session.execute(text("select code, name from regions where level = :level"),
                                   {"level": level}).all())


def region_by_code(code: str, with_boundary: bool = False) -> Region | None:
    """One region, or None."""
    statement = select(Region).where(Region.code == code)
    statement = statement.options(undefer(Region.boundary) if with_boundary else defer(Region.boundary))
    return db.session.scalar(statement)


def grids_select(prefix: str | None = None, tier: int | None = None,
                 bbox: Sequence[float] | None = None, with_boundary: bool = False) -> Select:
    """Grid cells inside a region (by code prefix), of a tier, intersecting a bbox."""
    statement = select(Grid).order_by(Grid.code)
    statement = statement.options(undefer(Grid.boundary) if with_boundary else defer(Grid.boundary))
    if prefix:
        statement = statement.where(Grid.village_code.startswith(prefix, autoescape=True))
    if tier:
        statement = statement.where(Grid.tier == tier)
    if bbox:
        envelope = func.ST_MakeEnvelope(*bbox, 4326)
        statement = statement.where(func.ST_Intersects(Grid.boundary, envelope))
    return statement


def grid_by_code(code: str, with_boundary: bool = False) -> Grid | None:
    """One grid cell, or None."""
    option = undefer(Grid.boundary) if with_boundary else defer(Grid.boundary)
    return db.session.scalar(select(Grid).where(Grid.code == code).options(option))


def cells_containing(lon: float, lat: float) -> list[Grid]:
    """The cells (one per tier, lowest code on shared edges) that cover a WGS84 point."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    statement = (
        select(Grid)
        .where(func.ST_Covers(Grid.boundary, point))
        .order_by(Grid.tier, Grid.code)
        .ext(distinct_on(Grid.tier))
        .options(defer(Grid.boundary))
    )
    return list(db.session.scalars(statement))


def refresh_rollups() -> None:
    """Recount households per cell, and households and cells per region, from scratch.

    Set-based over the whole city (well under a second at full scale); called after
    seeding and imports, never per request.
    """
    db.session.execute(text("""
        with counts as (
            select grid_code, count(*) as n, count(*) filter (where cardinality(tags) > 0) as v
            from households where removed_at is null group by grid_code
        )
        update grids g set households = coalesce(c.n, 0), vulnerable_households = coalesce(c.v, 0)
        from grids g2 left join counts c on c.grid_code = g2.code
        where g.code = g2.code and g2.tier = 3
          and (g.households, g.vulnerable_households) is distinct from (coalesce(c.n, 0), coalesce(c.v, 0))
    """))
    # Tier-1 and tier-2 cells count the households of the tier-3 cells inside them.
    db.session.execute(text("""
        with sums as (
            select left(code, 15) || '-00' as parent, sum(households) as n, sum(vulnerable_households) as v
            from grids where tier = 3 group by 1
            union all
            select left(code, 12) || '-00-00', sum(households), sum(vulnerable_households)
            from grids where tier = 3 group by 1
        )
        update grids g set households = s.n, vulnerable_households = s.v from sums s
        where g.code = s.parent and (g.households, g.vulnerable_households) is distinct from (s.n, s.v)
    """))
    # A region's code is its significant prefix padded with zeros.
    db.session.execute(text("""
        with per_village as (
            select village_code, count(*) as cells, count(*) filter (where tier = 3) as t3,
                   coalesce(sum(households) filter (where tier = 3), 0) as n,
                   coalesce(sum(vulnerable_households) filter (where tier = 3), 0) as v
            from grids group by village_code
        ), rolled as (
            select village_code as code, cells, t3, n, v from per_village
            union all
            select rpad(left(village_code, 9), 12, '0'), sum(cells), sum(t3), sum(n), sum(v) from per_village group by 1
            union all
            select rpad(left(village_code, 6), 12, '0'), sum(cells), sum(t3), sum(n), sum(v) from per_village group by 1
            union all
            select rpad(left(village_code, 4), 12, '0'), sum(cells), sum(t3), sum(n), sum(v) from per_village group by 1
        )
        update regions r set grids = coalesce(x.cells, 0), tier3_grids = coalesce(x.t3, 0),
                             households = coalesce(x.n, 0), vulnerable_households = coalesce(x.v, 0)
        from regions r2 left join rolled x on x.code = r2.code
        where r.code = r2.code
          and (r.grids, r.tier3_grids, r.households, r.vulnerable_households)
              is distinct from (coalesce(x.cells, 0), coalesce(x.t3, 0), coalesce(x.n, 0), coalesce(x.v, 0))
    """))
    # A management zone counts the townships it manages (they also count in their own county).
    db.session.execute(text("""
        with zones as (
            select managed_by as code, sum(grids) as cells, sum(tier3_grids) as t3, sum(households) as n,
                   sum(vulnerable_households) as v
            from regions where level = 'township' and managed_by is not null group by managed_by
        )
        update regions r set grids = z.cells, tier3_grids = z.t3, households = z.n, vulnerable_households = z.v
        from zones z where r.code = z.code
    """))


# --- grid import: features are staged in a temporary table and checked set-wise ---

def stage_import(rows: list[dict]) -> None:
    """Create the temporary staging table and load candidate features into it."""
    db.session.execute(text("""
        create temporary table if not exists grid_import (
            idx integer primary key, code varchar(18), tier smallint, name text,
            parent_code varchar(18), village_code varchar(12),
            geom geometry(MultiPolygon, 4326), reason text, detail text
        ) on commit drop
    """))
    db.session.execute(text("truncate grid_import"))
    if rows:
        db.session.execute(text("""
            insert into grid_import (idx, code, tier, name, parent_code, village_code, geom)
            values (:idx, :code, :tier, :name, :parent_code, :village_code,
                    ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4326)))
        """), rows)
    db.session.execute(text("analyze grid_import"))


def check_import_tier(tier: int) -> None:
    """Mark staged features of ``tier`` that break a spatial or parent rule."""
    params = {"tier": tier, "tolerance": AREA_TOLERANCE}
    if tier == 1:
        db.session.execute(text("""
            update grid_import i set reason = 'unknown_parent',
                   detail = 'village ' || i.village_code || ' does not exist'
            where i.tier = 1 and i.reason is null and not exists (
                select 1 from regions r where r.code = i.village_code and r.level = 'village')
        """), params)
        db.session.execute(text("""
            update grid_import i set reason = 'not_nested',
                   detail = 'a tier-1 cell must equal its village ' || r.code
            from regions r
            where i.tier = 1 and i.reason is null and r.code = i.village_code
              and ST_Area(ST_SymDifference(i.geom, r.boundary)) > :tolerance * ST_Area(r.boundary)
        """), params)
        return
    # The parent: a staged, accepted feature (its new geometry) or else the stored cell.
    db.session.execute(text("""
        update grid_import i set reason = 'unknown_parent',
               detail = 'parent cell ' || i.parent_code || ' does not exist or was rejected'
        where i.tier = :tier and i.reason is null
          and not exists (select 1 from grid_import p where p.code = i.parent_code and p.reason is null)
          and (exists (select 1 from grid_import p where p.code = i.parent_code)
               or not exists (select 1 from grids g where g.code = i.parent_code))
    """), params)
    db.session.execute(text("""
        with parents as (
            select i.idx, coalesce(p.geom, g.boundary) as parent_geom
            from grid_import i
            left join grid_import p on p.code = i.parent_code and p.reason is null
            left join grids g on g.code = i.parent_code
            where i.tier = :tier and i.reason is null
        )
        update grid_import i set reason = 'not_nested',
               detail = 'not inside its parent cell ' || i.parent_code
        from parents p
        where i.idx = p.idx
          and ST_Area(ST_Difference(i.geom, p.parent_geom)) > :tolerance * ST_Area(i.geom)
    """), params)
    # Siblings: other staged features with the same parent, and stored cells with
    # the same parent that this import does not replace.
    db.session.execute(text("""
        with siblings as (
            select s.code, s.parent_code, s.geom from grid_import s
            where s.tier = :tier and s.reason is null
            union all
            select g.code, g.parent_code, g.boundary from grids g
            where g.tier = :tier and g.parent_code in (select parent_code from grid_import where tier = :tier)
              and not exists (select 1 from grid_import s where s.code = g.code and s.reason is null)
        ), overlapping as (
            select distinct on (i.idx) i.idx, s.code as other
            from grid_import i join siblings s
              on s.parent_code = i.parent_code and s.code <> i.code and s.geom && i.geom
                 and ST_Intersects(s.geom, i.geom)
            where i.tier = :tier and i.reason is null
              and ST_Area(ST_Intersection(s.geom, i.geom))
                  > :tolerance * least(ST_Area(s.geom), ST_Area(i.geom))
            order by i.idx, s.code
        )
        update grid_import i set reason = 'overlaps_sibling', detail = 'overlaps sibling cell ' || o.other
        from overlapping o where i.idx = o.idx
    """), params)
    # After the import the children of every parent touched must still tile it.
    db.session.execute(text("""
        with parents as (
            select distinct parent_code from grid_import where tier = :tier and reason is null
        ), parent_shapes as (
            select p.parent_code, coalesce(s.geom, g.boundary) as geom
            from parents p
            left join grid_import s on s.code = p.parent_code and s.reason is null
            left join grids g on g.code = p.parent_code
        ), children as (
            select parent_code, geom from grid_import where tier = :tier and reason is null
            union all
            select g.parent_code, g.boundary from grids g
            where g.parent_code in (select parent_code from parents)
              and not exists (select 1 from grid_import s where s.code = g.code and s.reason is null)
        ), gaps as (
            select p.parent_code, ST_Area(ST_Difference(p.geom, ST_Union(c.geom))) as gap, ST_Area(p.geom) as area
            from parent_shapes p join children c using (parent_code)
            group by p.parent_code, p.geom
        )
        update grid_import i set reason = 'leaves_gap',
               detail = 'the children of ' || g.parent_code || ' would no longer cover it (import them together)'
        from gaps g
        where i.tier = :tier and i.reason is null and i.parent_code = g.parent_code
          and g.gap > :tolerance * g.area
    """), params)


def check_stored_children(tier: int) -> None:
    """Mark staged cells of ``tier`` whose stored children would fall outside their new shape."""
    db.session.execute(text("""
        update grid_import i set reason = 'children_outside',
               detail = 'stored child cell ' || x.child || ' would fall outside it'
        from (
            select distinct on (i.idx) i.idx, g.code as child
            from grid_import i join grids g on g.parent_code = i.code
            where i.tier = :tier and i.reason is null
              and not exists (select 1 from grid_import c where c.code = g.code and c.reason is null)
              and ST_Area(ST_Difference(g.boundary, i.geom)) > :tolerance * ST_Area(g.boundary)
            order by i.idx, g.code
        ) x where i.idx = x.idx
    """), {"tier": tier, "tolerance": AREA_TOLERANCE})


def import_rejections() -> list[dict]:
    """Staged features that a spatial or parent check rejected."""
    rows = db.session.execute(text(
        "select idx, code, reason, detail from grid_import where reason is not null order by idx"))
    return [dict(row._mapping) for row in rows]


def write_import() -> int:
    """Insert or update the accepted staged features as grid cells; return how many."""
    result = db.session.execute(text("""
        insert into grids (code, tier, parent_code, village_code, county_code, name, boundary)
        select code, tier, parent_code, village_code, left(village_code, 6), name, geom
        from grid_import where reason is null
        order by tier, code
        on conflict (code) do update set name = excluded.name, boundary = excluded.boundary,
            updated_at = now()
    """))
    return result.rowcount


TERRITORY_TABLES = ("assignment_plan_items", "assignment_plans", "assignments", "audit_log", "users", "members",
                    "households", "grids", "regions")


def truncate_territory(dependent_tables: list[str]) -> None:
    """Remove the territory and everything in it, with the tables other packages keep about it
    (``grids.signals.dependent_tables()``), in one statement (used by ``seed --reset``)."""
    tables = ", ".join((*dependent_tables, *TERRITORY_TABLES))
    db.session.execute(text(f"truncate {tables} restart identity cascade"))


def database_is_empty() -> bool:
    """True when no region has been stored yet."""
    return not db.session.execute(text("select exists (select 1 from regions)")).scalar()


def analyze_territory() -> None:
    """Refresh planner statistics after a bulk load."""
    for table in ("regions", "grids", "households", "members", "assignments"):
        db.session.execute(text(f"analyze {table}"))

