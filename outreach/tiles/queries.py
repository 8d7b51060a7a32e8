"""Mapbox vector tiles of villages and grid cells with their 30-day coverage (ST_AsMVT)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import text

from core.extensions import db

EXTENT = 4096


def member_cell_likes(member_id: int) -> list[str]:
    """LIKE patterns of a member's current cells and the cells inside them (a grid worker's map)."""
    codes = db.session.execute(text("""
        select distinct grid_code from assignments where member_id = :member and valid_to is null
    """), {"member": member_id}).scalars().all()
    return sorted({cell_prefix(code) + "%" for code in codes})


def cell_prefix(code: str) -> str:
    """The grid-code prefix shared by a cell and the cells inside it."""
    if code.endswith("-00-00"):
        return code[:12]
    if code.endswith("-00"):
        return code[:15]
    return code


def simplify_tolerance(z: int) -> float:
    """About half a tile pixel in degrees: invisible at that zoom, cheaper to encode."""
    return 360.0 / (2 ** z) / EXTENT / 2


def villages_tile(z: int, x: int, y: int, like: str, since: date, cell_likes: list[str] | None = None) -> bytes:
    """Villages with households, households visited since ``since`` and coverage: those under ``like``, and
    (a member's map) the villages of the cells under ``cell_likes``."""
    return db.session.execute(text("""
        with bounds as (select ST_TileEnvelope(:z, :x, :y) as tile),
        visited as (
            select village_code, sum(households) as n from last_completed_counts
            where day >= :since and (village_code like :like or village_code like any(cast(:village_likes as text[])))
            group by 1
        ),
        features as (
            select r.code, r.name, r.households, coalesce(v.n, 0)::int as households_visited,
                   round(coalesce(v.n, 0)::numeric / nullif(r.households, 0), 4)::float as coverage,
                   ST_AsMVTGeom(ST_Transform(ST_SimplifyPreserveTopology(r.boundary, :tolerance), 3857),
                                bounds.tile, :extent, 64, true) as geom
            from regions r cross join bounds
            left join visited v on v.village_code = r.code
            where r.level = 'village' and (r.code like :like or r.code like any(cast(:village_likes as text[])))
              and r.boundary && ST_Transform(bounds.tile, 4326)
        )
        select coalesce(ST_AsMVT(features, 'villages', :extent, 'geom'), '') from features where geom is not null
    """), {"z": z, "x": x, "y": y, "like": like, "since": since, "tolerance": simplify_tolerance(z),
           "extent": EXTENT, "village_likes": sorted({c[:12] + "%" for c in cell_likes or []})}).scalar()


def grids_tile(z: int, x: int, y: int, like: str, since: date, cell_likes: list[str] | None = None) -> bytes:
    """Grid cells (tier as a property) with households visited since ``since`` and coverage: those of villages
    under ``like``, and (a member's map) the cells whose codes match ``cell_likes``."""
    return db.session.execute(text("""
        with bounds as (select ST_TileEnvelope(:z, :x, :y) as tile),
        cells as (
            select g.code, g.tier, g.name, g.households, g.boundary from grids g cross join bounds
            where (g.village_code like :like or g.code like any(cast(:cell_likes as text[])))
              and g.boundary && ST_Transform(bounds.tile, 4326)
        ),
        visited as (
            select h.grid_code, count(*) as n from household_coverage h
            where h.grid_code in (select code from cells where tier = 3) and h.last_completed_on >= :since
            group by 1
        ),
        features as (
            select c.code, c.tier, c.name, c.households,
                   case when c.tier = 3 then coalesce(v.n, 0)::int end as households_visited,
                   case when c.tier = 3 then round(coalesce(v.n, 0)::numeric / nullif(c.households, 0), 4)::float
                   end as coverage,
                   ST_AsMVTGeom(ST_Transform(ST_SimplifyPreserveTopology(c.boundary, :tolerance), 3857),
                                bounds.tile, :extent, 64, true) as geom
            from cells c cross join bounds left join visited v on v.grid_code = c.code
        )
        select coalesce(ST_AsMVT(features, 'grids', :extent, 'geom'), '') from features where geom is not null
    """), {"z": z, "x": x, "y": y, "like": like, "since": since, "tolerance": simplify_tolerance(z),
           "extent": EXTENT, "cell_likes": cell_likes or []}).scalar()
