"""Spatial SQL of the OGC feature collections: pages of features, counts and extents.

Statements select columns of the mapped ``Region`` and ``Grid`` classes through the
ORM session, so the scope filter (``core.scope``) applies to them, their counts and
their extents alike: features outside the caller's scope are simply not there.
Geometry leaves the database as GeoJSON text (6 decimals, about 0.1 m), which the
service splices into the response without parsing it again.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select

from core.extensions import db
from grids.models import Grid, Region

GEOJSON_DECIMALS = 6


@dataclass(frozen=True)
class Source:
    """Where a collection's features live: regions of a level or grid cells of a tier."""

    model: type
    criterion: ColumnElement
    columns: tuple[str, ...]


def region_source(level: str) -> Source:
    """Regions of one level."""
    return Source(Region, Region.level == level, ("name", "level", "parent_code", "households", "grids"))


def grid_source(tier: int) -> Source:
    """Grid cells of one tier."""
    return Source(Grid, Grid.tier == tier, ("name", "tier", "parent_code", "village_code", "households"))


def _filtered(statement: Select, source: Source, bbox: Sequence[float] | None) -> Select:
    statement = statement.where(source.criterion)
    if bbox:
        # Index-assisted intersection (&& on the GiST index, then the exact test).
        statement = statement.where(func.ST_Intersects(source.model.boundary, func.ST_MakeEnvelope(*bbox, 4326)))
    return statement


def page(source: Source, bbox: Sequence[float] | None, limit: int, offset: int) -> list[tuple]:
    """One page of (code, GeoJSON geometry text, *property columns), ordered by code so pages are stable."""
    model = source.model
    statement = select(model.code, func.ST_AsGeoJSON(model.boundary, GEOJSON_DECIMALS),
                       *(getattr(model, name) for name in source.columns))
    statement = _filtered(statement, source, bbox).order_by(model.code).limit(limit).offset(offset)
    return list(db.session.execute(statement).all())


def one(source: Source, code: str) -> tuple | None:
    """(code, GeoJSON geometry text, *property columns) of one feature, or None (also when out of scope)."""
    model = source.model
    statement = select(model.code, func.ST_AsGeoJSON(model.boundary, GEOJSON_DECIMALS),
                       *(getattr(model, name) for name in source.columns))
    return db.session.execute(_filtered(statement, source, None).where(model.code == code)).first()


def count(source: Source, bbox: Sequence[float] | None) -> int:
    """How many features match (``numberMatched``)."""
    return db.session.scalar(_filtered(select(func.count()).select_from(source.model), source, bbox))


def extents() -> dict[tuple[str, object], tuple[float, float, float, float] | None]:
    """(minlon, minlat, maxlon, maxlat) of what the caller can see, per region level and per grid tier.

    Two grouped scans instead of one per collection; keys are ("level", level) and ("tier", tier).
    """
    result: dict[tuple[str, object], tuple[float, float, float, float] | None] = {}
    for kind, model, key in (("level", Region, Region.level), ("tier", Grid, Grid.tier)):
        extent = func.ST_Extent(model.boundary)
        rows = db.session.execute(
            select(key, func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent), func.ST_YMax(extent))
            .select_from(model).group_by(key))
        for value, *box in rows:
            result[(kind, value)] = None if box[0] is None else tuple(float(v) for v in box)
    return result
