"""OGC API – Features documents: landing page, conformance, collections and GeoJSON items.

Every collection is a read-only view of the territory in the caller's scope (set on
the session by the auth hook): regions by level, grid cells by tier, and villages with
their coverage over the last 30 days taken from the coverage report itself.  Feature
ids are the region or grid codes, and items are ordered by them so that offset paging
is stable.  Links are absolute, built from the ``base`` URL of ``/ogc`` the view passes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app, json
from flask_babel import lazy_gettext as _l

from core.errors import NotFound
from core.extensions import db
from core.formats import GEOJSON_MIMETYPE
from core.scope import scope_prefix
from grids.hierarchy import code_prefix
from outreach.coverage import services as coverage
from outreach.ogc import queries
from outreach.ogc.schemas import DEFAULT_LIMIT, MAX_LIMIT

JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COVERAGE_DAYS = 30  # as the coverage report's default period and the map tiles


@dataclass(frozen=True)
class Collection:
    """One feature collection: where its features come from and how it is described."""

    id: str
    title: str
    description: str
    source: queries.Source
    extent_key: tuple[str, object]
    with_coverage: bool = False


COLLECTIONS = {c.id: c for c in (
    Collection("counties", "Counties (县区)", "County-level units with households and grid cells.",
               queries.region_source("county"), ("level", "county")),
    Collection("townships", "Townships and streets (乡镇街道)", "Townships and streets with households and cells.",
               queries.region_source("township"), ("level", "township")),
    Collection("villages", "Villages and communities (村社区)", "Villages and communities with households and cells.",
               queries.region_source("village"), ("level", "village")),
    Collection("grids-tier1", "Tier-1 grid cells (一级网格)", "One cell per village, led by the village secretary.",
               queries.grid_source(1), ("tier", 1)),
    Collection("grids-tier2", "Tier-2 grid cells (二级网格)", "Village groups or blocks.",
               queries.grid_source(2), ("tier", 2)),
    Collection("grids-tier3", "Tier-3 grid cells (三级网格)", "Micro-grids of about 10-40 households.",
               queries.grid_source(3), ("tier", 3)),
    Collection("village-coverage", "Village coverage, last 30 days (走访覆盖率)",
               "Villages with households, households with a completed visit in the last 30 local days, "
               "coverage and its band (red, amber, green), exactly as the coverage report.",
               queries.region_source("village"), ("level", "village"), with_coverage=True),
)}


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


def _get(collection_id: str) -> Collection:
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
        ],
        "itemType": "feature",
        "crs": [CRS84],
    }
    box = extents.get(collection.extent_key)
    if box is not None:  # nothing in scope: no extent to tell
        document["extent"] = {"spatial": {"bbox": [list(box)], "crs": CRS84}}
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
    return _describe(_get(collection_id), base, queries.extents())


def _village_coverage(prefix: str) -> dict[str, dict[str, Any]]:
    """village code → the coverage report's row over the last 30 days, for the villages under ``prefix``
    (the caller's scope, or one village's own code)."""
    start, end = coverage.default_period(None, None, days=COVERAGE_DAYS)
    return {row["code"]: row for row in coverage.rows_under(prefix, "village", start, end)}


def _properties(collection: Collection, row: Sequence[Any], figures: dict | None) -> dict[str, Any]:
    properties = {"code": row[0], **dict(zip(collection.source.columns, row[2:], strict=True))}
    if collection.with_coverage:
        figures = (figures or {}).get(row[0], {})
        properties = {"code": row[0], "name": properties["name"], "households": figures.get("households"),
                      "households_visited": figures.get("households_visited"),
                      "coverage": figures.get("coverage"), "band": figures.get("band")}
    return properties


def _feature(collection: Collection, row: Sequence[Any], figures: dict | None) -> str:
    # Geometry arrives as GeoJSON text from PostGIS: spliced in, never parsed and dumped again.
    properties = json.dumps(_properties(collection, row, figures), ensure_ascii=False)
    return f'{{"type":"Feature","id":{json.dumps(row[0])},"geometry":{row[1] or "null"},"properties":{properties}}}'


def _items_href(base: str, collection_id: str, bbox: Sequence[float] | None, limit: int, offset: int) -> str:
    params: dict[str, Any] = {"f": "json"}
    if bbox:
        params["bbox"] = ",".join(repr(float(v)) for v in bbox)
    params.update(limit=limit, offset=offset)
    return f"{base}/collections/{collection_id}/items?{urlencode(params, safe=',')}"


def items(collection_id: str, args: dict[str, Any], base: str) -> str:
    """A page of a collection's features as a GeoJSON FeatureCollection (serialised), with paging links."""
    collection = _get(collection_id)
    bbox, limit, offset = args.get("bbox"), args.get("limit", DEFAULT_LIMIT), args.get("offset", 0)
    limit = min(limit, MAX_LIMIT)
    matched = queries.count(collection.source, bbox)
    rows = queries.page(collection.source, bbox, limit, offset) if offset < matched else []
    scope = scope_prefix(db.session) or code_prefix(current_app.config["GRIDS_CITY_CODE"])
    figures = _village_coverage(scope) if collection.with_coverage and rows else None
    links = [
        _link(_items_href(base, collection.id, bbox, limit, offset), "self", GEOJSON_MIMETYPE, "This page"),
        _link(f"{base}/collections/{collection.id}", "collection", JSON, "The collection"),
    ]
    if offset + len(rows) < matched:
        links.append(_link(_items_href(base, collection.id, bbox, limit, offset + len(rows)), "next",
                           GEOJSON_MIMETYPE, "Next page"))
    if offset > 0:
        # Past the end, the previous page is the last one.
        previous = max(0, min(offset - limit, matched - limit))
        links.append(_link(_items_href(base, collection.id, bbox, limit, previous), "prev",
                           GEOJSON_MIMETYPE, "Previous page"))
    rest = json.dumps({
        "links": links, "numberMatched": matched, "numberReturned": len(rows),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }, ensure_ascii=False)
    features = ",".join(_feature(collection, row, figures) for row in rows)
    return '{"type":"FeatureCollection","features":[' + features + "]," + rest[1:]


def item(collection_id: str, feature_id: str, base: str) -> str:
    """One feature (serialised GeoJSON); 404 when unknown or outside the caller's scope."""
    collection = _get(collection_id)
    row = queries.one(collection.source, feature_id)
    if row is None:
        raise NotFound(_l("No feature %(id)s in %(collection)s.", id=feature_id, collection=collection_id))
    figures = _village_coverage(feature_id) if collection.with_coverage else None
    body = json.loads(_feature(collection, row, figures))
    href = f"{base}/collections/{collection.id}"
    body["links"] = [_link(f"{href}/items/{feature_id}", "self", GEOJSON_MIMETYPE, "This feature"),
                     _link(href, "collection", JSON, "The collection")]
    return json.dumps(body, ensure_ascii=False)


def openapi(base: str) -> dict[str, Any]:
    """A small OpenAPI 3.0 definition of these endpoints (the service-desc of the landing page)."""
    def json_response(description: str, media_type: str = JSON) -> dict[str, Any]:
        return {"description": description, "content": {media_type: {"schema": {"type": "object"}}}}

    error = {"description": "An error in the API's one error shape", "content": {JSON: {"schema": {
        "type": "object", "properties": {"code": {"type": "integer"}, "status": {"type": "string"},
                                         "message": {"type": "string"}, "errors": {"type": "object"}}}}}}
    f_param = {"name": "f", "in": "query", "required": False,
               "schema": {"type": "string", "enum": ["json", "geojson"]}}
    collection_id = {"name": "collectionId", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": list(COLLECTIONS)}}
    common = {"400": error, "401": error, "403": error}
    items_params = [
        collection_id, f_param,
        {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "minlon,minlat,maxlon,maxlat (CRS84), or 6 numbers with heights (ignored)",
         "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
        {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        {"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "default": 0}},
        {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "Accepted; the features have no time of their own.", "schema": {"type": "string"}},
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Grid outreach – OGC API Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "security": [{"basic": []}, {"bearer": []}],
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                           "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": {
            "/": {"get": {"summary": "Landing page", "parameters": [f_param],
                          "responses": {"200": json_response("The landing page"), **common}}},
            "/conformance": {"get": {"summary": "Conformance classes", "parameters": [f_param],
                                     "responses": {"200": json_response("The conformance classes"), **common}}},
            "/collections": {"get": {"summary": "Feature collections", "parameters": [f_param],
                                     "responses": {"200": json_response("The collections"), **common}}},
            "/collections/{collectionId}": {"get": {
                "summary": "One collection", "parameters": [collection_id, f_param],
                "responses": {"200": json_response("The collection"), "404": error, **common}}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "Features of a collection, ordered by code", "parameters": items_params,
                "responses": {"200": json_response("A GeoJSON FeatureCollection", GEOJSON_MIMETYPE),
                              "404": error, **common}}},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "summary": "One feature (its id is the region or grid code)",
                "parameters": [collection_id, {"name": "featureId", "in": "path", "required": True,
                                               "schema": {"type": "string"}}, f_param],
                "responses": {"200": json_response("A GeoJSON Feature", GEOJSON_MIMETYPE), "404": error,
                              **common}}},
        },
    }
