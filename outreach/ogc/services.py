"""OGC API – Features documents: landing page, conformance, collections, queryables and GeoJSON items.

Every collection is a read-only view of the territory in the caller's scope (set on
the session by the auth hook): regions by level, grid cells by tier, and villages with
their coverage over the last 30 days, as the coverage report counts it. Feature ids are
the region or grid codes; items are ordered by ``sortby`` and then by code, so offset
paging is stable. Links are absolute, built from the ``base`` URL of ``/ogc`` the view passes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app, json
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from core.errors import NotFound
from core.formats import GEOJSON_MIMETYPE
from outreach.coverage import queries as coverage_queries
from outreach.coverage import services as coverage
from outreach.ogc import cql, queries
from outreach.ogc import crs as crs_module
from outreach.ogc.collections import COLLECTIONS, Collection, Period, Property, described_properties
from outreach.ogc.queries import Selection
from outreach.ogc.schemas import DEFAULT_LIMIT, MAX_LIMIT, BadQuery

JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
CONFORMANCE = [
    # Part 1: Core
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    # Part 2: Coordinate Reference Systems by Reference
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    # Part 3: Filtering
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    # Common Query Language (CQL2)
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
]
COVERAGE_DAYS = 30  # as the coverage report's default period and the map tiles
# Village coverage reads these from SQL; coverage and band are derived from them as the report does.
COVERAGE_COLUMNS = ("code", "name", "households", "households_visited")


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def landing(base: str) -> dict[str, Any]:
    """The landing page: what the service is and where its parts are."""
    return {
        "title": "Grid outreach: territory and coverage",
        "description": "Regions, grid cells and village coverage of the anti-fraud grid outreach, "
                       "in your territorial scope (OGC API – Features, GeoJSON).",
        "links": [
            _link(base, "self", JSON, "This document"),
            _link(f"{base}/api", "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            _link(f"{base}/collections", "data", JSON, "Feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance classes implemented."""
    return {"conformsTo": CONFORMANCE}


def get(collection_id: str) -> Collection:
    """A collection by id; 404 when unknown."""
    collection = COLLECTIONS.get(collection_id)
    if collection is None:
        raise NotFound(_l("Unknown collection %(id)s.", id=collection_id))
    return collection


def _describe(collection: Collection, base: str, extents: dict) -> dict[str, Any]:
    href = f"{base}/collections/{collection.id}"
    document: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "links": [
            _link(href, "self", JSON, "This collection"),
            _link(f"{href}/items", "items", GEOJSON_MIMETYPE, "Its features"),
            _link(f"{href}/queryables", QUERYABLES_REL, SCHEMA_JSON, "What its features can be filtered on"),
        ],
        "itemType": "feature",
        "crs": [crs.uri for crs in crs_module.SUPPORTED],
        "storageCrs": crs_module.STORAGE.uri,
    }
    box = extents.get(collection.extent_key)
    if box is not None:  # nothing in scope: no extent to tell
        document["extent"] = {"spatial": {"bbox": [list(box)], "crs": crs_module.CRS84.uri}}
    return document


def collections(base: str) -> dict[str, Any]:
    """Every collection, with the extent of what the caller can see."""
    extents = queries.extents()
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "This document")],
        "collections": [_describe(c, base, extents) for c in COLLECTIONS.values()],
    }


def collection(collection_id: str, base: str) -> dict[str, Any]:
    """One collection's description."""
    return _describe(get(collection_id), base, queries.extents())


def queryables(collection_id: str, base: str) -> dict[str, Any]:
    """The collection's queryables as a JSON Schema: every property, and the geometry."""
    collection = get(collection_id)
    properties = {p.name: p.schema() for p in described_properties(collection)}
    properties[cql.GEOMETRY] = {"title": "Boundary", "format": "geometry-multipolygon"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{collection.id}/queryables",
        "type": "object",
        "title": collection.title,
        "properties": properties,
        "additionalProperties": False,
    }


def _period(collection: Collection) -> Period | None:
    if not collection.with_coverage:
        return None
    start, end = coverage.default_period(None, None, days=COVERAGE_DAYS)
    latest = coverage_queries.latest_completed_day()
    return Period(start, end, latest, current_app.config["GRIDS_COVERAGE_BANDS"])


def _selected(collection: Collection, available: dict[str, Property], names: list[str] | None) -> list[str]:
    """The output property names (``properties``, default all), checked against the collection's."""
    if names is None:
        return list(available)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise BadQuery(_l("Unknown property names."), errors={"query": {"properties": [
            f"Unknown: {', '.join(unknown)}. The properties are: {', '.join(available)}."]}})
    return names


def _output_columns(collection: Collection, available: dict[str, Property], names: list[str]) -> list[Property]:
    if collection.with_coverage:
        return [available[name] for name in COVERAGE_COLUMNS]
    return [available[name] for name in names]


def _properties(collection: Collection, row: Sequence[Any], columns: list[Property], names: list[str],
                bands: tuple[float, float] | None) -> dict[str, Any]:
    values = dict(zip((p.name for p in columns), row[2:], strict=True))
    if collection.with_coverage:
        # Derived exactly as the coverage report does (Python rounding and the same band rule).
        households, visited = values["households"], values["households_visited"]
        share = round(visited / households, 4) if households else None
        values.update(coverage=share, band=coverage.band(share, bands))
    return {name: values[name] for name in names}


def _feature(row: Sequence[Any], properties: dict[str, Any]) -> str:
    # Geometry arrives as GeoJSON text from PostGIS: spliced in, never parsed and dumped again.
    body = json.dumps(properties, ensure_ascii=False)
    return f'{{"type":"Feature","id":{json.dumps(row[0])},"geometry":{row[1] or "null"},"properties":{body}}}'


def _items_href(base: str, collection_id: str, query: Mapping[str, str], limit: int, offset: int) -> str:
    params = {name: value for name, value in query.items() if name not in ("limit", "offset")}
    params.update(limit=limit, offset=offset)
    return f"{base}/collections/{collection_id}/items?{urlencode(params, safe=',:/[]')}"


def _criteria(collection: Collection, available: dict[str, Property], args: dict[str, Any]) -> list:
    criteria = []
    if args.get("bbox"):
        # Index-assisted intersection (&& on the GiST index, then the exact test).
        criteria.append(func.ST_Intersects(collection.geometry, crs_module.envelope(args["bbox"], args["bbox_crs"])))
    for name, prop in available.items():  # queryables as query parameters: equality
        if name in args:
            criteria.append(prop.expression == args[name])
    if "filter" in args:
        try:
            criteria.append(cql.translate(args["filter"], args["filter_lang"], available, collection.geometry,
                                          args["filter_crs"]))
        except cql.FilterError as error:
            raise BadQuery(_l("Invalid filter."), errors={"query": {"filter": [str(error)]}}) from None
    return criteria


def _order(available: dict[str, Property], sortby: list[tuple[str, bool]] | None) -> list:
    unknown = [name for name, _ in sortby or [] if name not in available]
    if unknown:
        raise BadQuery(_l("Unknown property names."), errors={"query": {"sortby": [
            f"Unknown: {', '.join(unknown)}. Sortable: {', '.join(available)}."]}})
    return [(available[name].expression, descending) for name, descending in sortby or []]


def items(collection_id: str, args: dict[str, Any], query: Mapping[str, str], base: str) -> tuple[str, crs_module.Crs]:
    """A page of a collection's features as a serialised GeoJSON FeatureCollection with paging links,
    and the CRS of its coordinates. ``query`` is the request's query string, carried into the links."""
    collection = get(collection_id)
    period = _period(collection)
    available = {p.name: p for p in collection.properties(period)}
    names = _selected(collection, available, args.get("properties"))
    columns = _output_columns(collection, available, names)
    limit, offset = min(args.get("limit", DEFAULT_LIMIT), MAX_LIMIT), args.get("offset", 0)
    selection = Selection(collection, columns, _criteria(collection, available, args),
                          _order(available, args.get("sortby")), args["crs"])
    matched = queries.count(selection)
    rows = queries.page(selection, limit, offset) if offset < matched else []
    links = [
        _link(_items_href(base, collection.id, query, limit, offset), "self", GEOJSON_MIMETYPE, "This page"),
        _link(f"{base}/collections/{collection.id}", "collection", JSON, "The collection"),
    ]
    if offset + len(rows) < matched:
        links.append(_link(_items_href(base, collection.id, query, limit, offset + len(rows)), "next",
                           GEOJSON_MIMETYPE, "Next page"))
    if offset > 0:
        # Past the end, the previous page is the last one.
        previous = max(0, min(offset - limit, matched - limit))
        links.append(_link(_items_href(base, collection.id, query, limit, previous), "prev",
                           GEOJSON_MIMETYPE, "Previous page"))
    rest = json.dumps({
        "links": links, "numberMatched": matched, "numberReturned": len(rows),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }, ensure_ascii=False)
    bands = period.bands if period else None
    features = ",".join(_feature(row, _properties(collection, row, columns, names, bands)) for row in rows)
    return '{"type":"FeatureCollection","features":[' + features + "]," + rest[1:], args["crs"]


def item(collection_id: str, feature_id: str, args: dict[str, Any], base: str) -> tuple[str, crs_module.Crs]:
    """One feature (serialised GeoJSON) and its CRS; 404 when unknown or outside the caller's scope."""
    collection = get(collection_id)
    period = _period(collection)
    available = {p.name: p for p in collection.properties(period)}
    names = _selected(collection, available, args.get("properties"))
    columns = _output_columns(collection, available, names)
    row = queries.one(Selection(collection, columns, crs=args["crs"]), feature_id)
    if row is None:
        raise NotFound(_l("No feature %(id)s in %(collection)s.", id=feature_id, collection=collection_id))
    bands = period.bands if period else None
    body = json.loads(_feature(row, _properties(collection, row, columns, names, bands)))
    href = f"{base}/collections/{collection.id}"
    body["links"] = [_link(f"{href}/items/{feature_id}", "self", GEOJSON_MIMETYPE, "This feature"),
                     _link(href, "collection", JSON, "The collection")]
    return json.dumps(body, ensure_ascii=False), args["crs"]
