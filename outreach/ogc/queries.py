"""Spatial SQL of the OGC feature collections: pages of features, counts and extents.

Statements select columns of the mapped ``Region`` and ``Grid`` classes through the
ORM session, so the scope filter (``core.scope``) applies to them, their counts and
their extents alike: features outside the caller's scope are simply not there, whatever
the filter. Geometry leaves the database as GeoJSON text in the CRS asked for, which the
service splices into the response without parsing it again.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ARRAY, ColumnElement, Select, String, any_, bindparam, func, select

from core.extensions import db
from grids.models import Grid, Region
from outreach.ogc import crs as crs_module
from outreach.ogc.collections import Collection, Property

DEEP_PAGES = 4  # from this many pages in, a page is chosen by code first (see page())


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
    """One page of (code, GeoJSON geometry text, *property values), in the selection's order.

    Near the start, one statement. Deeper (an offset of at least four pages), two: the page's codes are
    chosen first (filter, order, offset and limit over plain columns, by index where the order allows),
    then geometry and properties are computed for those rows alone, found by primary key, so the rows
    an offset skips cost no GeoJSON (nor coverage figures). Near the start the single statement wins:
    it skips little, and PostgreSQL finds a large page of keys by scanning the table, which costs about
    as much as computing GeoJSON for a few pages (measured with bench/ogc.py).
    """
    collection = selection.collection
    code = collection.code
    order = [expression.desc() if descending else expression.asc() for expression, descending in selection.order]
    columns = (code, crs_module.geojson(collection.geometry, selection.crs),
               *(p.expression for p in selection.properties))
    if offset < DEEP_PAGES * limit:
        statement = selection.where(select(*columns)).order_by(*order, code).limit(limit).offset(offset)
        return list(db.session.execute(statement).all())
    chosen = list(db.session.scalars(
        selection.where(select(code)).order_by(*order, code).limit(limit).offset(offset)))
    if not chosen:
        return []
    statement = select(*columns).where(code == any_(bindparam("page_codes", chosen, type_=ARRAY(String))))
    rows = {row[0]: row for row in db.session.execute(statement)}
    return [rows[feature_id] for feature_id in chosen]


def one(selection: Selection, feature_id: str) -> tuple | None:
    """(code, GeoJSON geometry text, *property values) of one feature, or None (also when out of scope)."""
    collection = selection.collection
    statement = select(collection.code, crs_module.geojson(collection.geometry, selection.crs),
                       *(p.expression for p in selection.properties))
    return db.session.execute(selection.where(statement).where(collection.code == feature_id)).first()


def count(selection: Selection) -> int:
    """How many features match (``numberMatched``)."""
    return db.session.scalar(selection.where(select(func.count()).select_from(selection.collection.model)))


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
