"""The feature collections of ``/ogc`` and their properties: what each serves, filters on and sorts by.

A collection is rows of a mapped class (``Region`` of a level, ``Grid`` of a tier) and a list
of properties, each a SQL expression with a JSON Schema type. That list is the allow-list
of everything a request may name: ``properties``, ``sortby``, CQL2 ``filter`` and the
queryables as query parameters all look names up here and nowhere else, so no name a client
sends ever reaches SQL as text.

Village coverage's figures are expressions over the coverage rollups for one village, so
filters, sorting and paging run on them in SQL, and a page reads the rollups of its own
villages only (see :func:`coverage_properties`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, literal, or_

from grids.models import Grid, Region
from outreach.coverage import queries as coverage_queries


@dataclass(frozen=True)
class Property:
    """A property of a collection's features: its name, JSON Schema type and SQL expression."""

    name: str
    type: str  # JSON Schema: "string", "integer" or "number"
    title: str
    expression: ColumnElement
    enum: tuple[str, ...] | None = None
    nullable: bool = False

    def schema(self) -> dict[str, Any]:
        """The property's JSON Schema (in ``/queryables``)."""
        schema: dict[str, Any] = {"title": self.title, "type": [self.type, "null"] if self.nullable else self.type}
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema


@dataclass(frozen=True)
class Period:
    """What village coverage's figures need: the period's first and last local day, the latest day with a
    completed visit anywhere, and the band thresholds."""

    start: date
    end: date
    latest: date | None
    bands: tuple[float, float]


@dataclass(frozen=True)
class Collection:
    """One feature collection: where its features come from and how it is described."""

    id: str
    title: str
    description: str
    model: type
    criterion: ColumnElement
    extent_key: tuple[str, object]
    # The properties, for a period (only village coverage's depend on it).
    properties: Callable[[Period | None], list[Property]] = field(repr=False)
    with_coverage: bool = False

    @property
    def code(self) -> ColumnElement:
        """The feature id column."""
        return self.model.code

    @property
    def geometry(self) -> ColumnElement:
        """The geometry column (the ``geometry`` queryable)."""
        return self.model.boundary


def _region_properties(_period: Period | None) -> list[Property]:
    return [
        Property("code", "string", "Region code (12 digits)", Region.code),
        Property("name", "string", "Name", Region.name),
        Property("level", "string", "Level", Region.level, enum=("county", "township", "village")),
        Property("parent_code", "string", "Code of the region above", Region.parent_code, nullable=True),
        Property("households", "integer", "Households", Region.households),
        Property("grids", "integer", "Grid cells", Region.grids),
    ]


def _grid_properties(_period: Period | None) -> list[Property]:
    return [
        Property("code", "string", "Grid code", Grid.code),
        Property("name", "string", "Name", Grid.name),
        Property("tier", "integer", "Tier (1-3)", Grid.tier),
        Property("parent_code", "string", "Code of the cell above", Grid.parent_code, nullable=True),
        Property("village_code", "string", "Village code", Grid.village_code),
        Property("households", "integer", "Households", Grid.households),
    ]


def coverage_properties(period: Period | None) -> list[Property]:
    """Village coverage: households, households visited, coverage (a share, 4 decimals) and band."""
    if period is None:
        raise ValueError("village coverage needs a period")
    visited = coverage_queries.village_households_visited(Region.code, period.start, period.end, period.latest)
    # Rounded like the report: to 4 decimals, half to even (PostgreSQL's round of a double).
    share = case((Region.households > 0,
                  func.round(cast(visited, Float) / cast(Region.households, Float) * 10000) / 10000),
                 else_=None)
    red_below, amber_below = period.bands
    band = case((or_(share.is_(None), share < literal(red_below)), literal("red")),
                (share < literal(amber_below), literal("amber")), else_=literal("green"))
    return [
        Property("code", "string", "Village code (12 digits)", Region.code),
        Property("name", "string", "Name", Region.name),
        Property("households", "integer", "Households", Region.households),
        Property("households_visited", "integer", "Households with a completed visit in the last 30 days",
                 visited),
        Property("coverage", "number", "Share of households visited", share, nullable=True),
        Property("band", "string", "Coverage band", band, enum=("red", "amber", "green")),
    ]


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection("counties", "Counties (县区)", "County-level units with households and grid cells.",
               Region, Region.level == "county", ("level", "county"), _region_properties),
    Collection("townships", "Townships and streets (乡镇街道)", "Townships and streets with households and cells.",
               Region, Region.level == "township", ("level", "township"), _region_properties),
    Collection("villages", "Villages and communities (村社区)", "Villages and communities with households and cells.",
               Region, Region.level == "village", ("level", "village"), _region_properties),
    Collection("grids-tier1", "Tier-1 grid cells (一级网格)", "One cell per village, led by the village secretary.",
               Grid, Grid.tier == 1, ("tier", 1), _grid_properties),
    Collection("grids-tier2", "Tier-2 grid cells (二级网格)", "Village groups or blocks.",
               Grid, Grid.tier == 2, ("tier", 2), _grid_properties),
    Collection("grids-tier3", "Tier-3 grid cells (三级网格)", "Micro-grids of about 10-40 households.",
               Grid, Grid.tier == 3, ("tier", 3), _grid_properties),
    Collection("village-coverage", "Village coverage, last 30 days (走访覆盖率)",
               "Villages with households, households with a completed visit in the last 30 local days, "
               "coverage and its band (red, amber, green), exactly as the coverage report.",
               Region, Region.level == "village", ("level", "village"), coverage_properties, with_coverage=True),
)}

# Names of every collection's properties without a period (for documents that need no figures).
_DOCUMENT_PERIOD = Period(date(2000, 1, 1), date(2000, 1, 1), None, (0.6, 0.9))


def property_names(collection: Collection) -> list[str]:
    """The property names of a collection, in output order."""
    return [p.name for p in collection.properties(_DOCUMENT_PERIOD)]


def described_properties(collection: Collection) -> list[Property]:
    """The properties as described in documents (queryables, OpenAPI): expressions unused."""
    return collection.properties(_DOCUMENT_PERIOD)
