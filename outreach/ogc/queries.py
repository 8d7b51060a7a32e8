"""Spatial SQL of the OGC feature collections: pages of features, counts and extents.

Statements select columns of the mapped ``Region`` and ``Grid`` classes through the
ORM session, so the scope filter (``core.scope``) applies to them, their counts and
their extents alike: features outside the caller's scope are simply not there, whatever
the filter. Geometry leaves the database as GeoJSON text in the CRS asked for, which the
service splices into the response without parsing it again.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, Select, func, select

from core.extensions import db
from grids.models import Grid, Region
from outreach.ogc import crs as crs_module
from outreach.ogc.collections import Collection, Property
from outreach.coverage.models import LastCompletedCount


@dataclass
class Selection:
    """Which features of a collection a request selects, how they are ordered and what each one carries."""

    collection: Collection
    properties: list[Property]  # output properties, in order
    criteria: list[ColumnElement] = field(default_factory=list)  # ANDed with the collection's own
    # (expression, descending) sort keys, before the code (which keeps pages stable).
    order: list[tuple[ColumnElement, bool]] = field(default_factory=list)
    crs: crs_module.Crs = crs_module.CRS84

    def where(self, statement: Select) -> Select:
        """``statement`` restricted to the selection (the scope is added by the session)."""
        return statement.where(self.collection.criterion, *self.criteria)


def page(selection: Selection, limit: int, offset: int) -> list[tuple]:
    """One page of (code, GeoJSON geometry text, *property values).

    The page's codes are chosen first (filter, order, offset and limit over plain columns), and only
    then are geometry and properties computed, for the page's rows alone: an offset deep into a
    collection does not pay for the GeoJSON (or the coverage figures) of the rows it skips.
    """
    collection = selection.collection
    code = collection.code
    keys = [expression.label(f"key{i}") for i, (expression, _) in enumerate(selection.order)]
    chosen = (selection.where(select(code.label("code"), *keys))
              .order_by(*_directed(keys, selection.order), code).limit(limit).offset(offset).subquery("chosen"))
    chosen_keys = [chosen.c[key.name] for key in keys]
    statement = (select(code, crs_module.geojson(collection.geometry, selection.crs),
                        *(p.expression for p in selection.properties))
                 .join(chosen, chosen.c.code == code)
                 .order_by(*_directed(chosen_keys, selection.order), code))
    return list(db.session.execute(statement).all())


def _directed(keys: list, order: list[tuple[ColumnElement, bool]]) -> list:
    return [key.desc() if descending else key.asc() for key, (_, descending) in zip(keys, order, strict=True)]


def one(selection: Selection, feature_id: str) -> tuple | None:
    """(code, GeoJSON geometry text, *property values) of one feature, or None (also when out of scope)."""
    collection = selection.collection
    statement = select(collection.code, crs_module.geojson(collection.geometry, selection.crs),
                       *(p.expression for p in selection.properties))
    return db.session.execute(selection.where(statement).where(collection.code == feature_id)).first()


def count(selection: Selection) -> int:
    """How many features match (``numberMatched``)."""
    return db.session.scalar(selection.where(select(func.count()).select_from(selection.collection.model)))


def latest_completed_day() -> date | None:
    """The latest local day with a completed visit anywhere (decides how coverage is counted, as the report)."""
    return db.session.scalar(select(func.max(LastCompletedCount.day)).where(LastCompletedCount.households > 0))


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


def codes(rows: Sequence[tuple]) -> list[str]:
    """The feature ids of page rows."""
    return [row[0] for row in rows]
