"""The OpenAPI 3.0 definition of ``/ogc`` (the landing page's ``service-desc``).

Items have one path per collection, each listing that collection's queryables as query
parameters: that is how GDAL's OAPIF driver (and QGIS on it) learns which attributes the
server can filter on, and ``filter-lang``'s enum is how it learns that it may send CQL text.
"""
from __future__ import annotations

from typing import Any

from outreach.ogc import cql
from outreach.ogc import crs as crs_module
from outreach.ogc.collections import COLLECTIONS, described_properties
from outreach.ogc.schemas import DEFAULT_LIMIT, MAX_LIMIT
from outreach.ogc.services import GEOJSON_MIMETYPE, JSON, SCHEMA_JSON

CRS_URIS = [crs.uri for crs in crs_module.SUPPORTED]


def _response(description: str, media_type: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "object"}}}}


def _query(name: str, schema: dict[str, Any], description: str | None = None, **extra: Any) -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema, **extra}
    if description:
        parameter["description"] = description
    return parameter


F_PARAM = _query("f", {"type": "string", "enum": ["json", "geojson"]})
CRS_PARAM = _query("crs", {"type": "string", "format": "uri", "enum": CRS_URIS, "default": crs_module.CRS84.uri},
                   "CRS of the coordinates returned (EPSG:4326 and EPSG:4490 are latitude first).")
ERROR = {"description": "An error in the API's one error shape", "content": {JSON: {"schema": {
    "type": "object", "properties": {"code": {"type": "integer"}, "status": {"type": "string"},
                                     "message": {"type": "string"}, "errors": {"type": "object"}}}}}}
COMMON = {"400": ERROR, "401": ERROR, "403": ERROR}


def _items_parameters(collection_id: str) -> list[dict[str, Any]]:
    properties = described_properties(COLLECTIONS[collection_id])
    names = [p.name for p in properties]
    return [
        F_PARAM,
        _query("bbox", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
               "minx,miny,maxx,maxy in bbox-crs (default CRS84: minlon,minlat,maxlon,maxlat); "
               "6 numbers with heights are taken, heights ignored", style="form", explode=False),
        _query("bbox-crs", {"type": "string", "format": "uri", "enum": CRS_URIS, "default": crs_module.CRS84.uri}),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
               style="form", explode=False),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
        _query("datetime", {"type": "string"}, "Accepted; the features have no time of their own.",
               style="form", explode=False),
        CRS_PARAM,
        _query("filter", {"type": "string"}, "A CQL2 filter over the queryables (see /queryables)."),
        # cql-text: CQL2 text under its draft name, which GDAL 3.6 and QGIS send.
        _query("filter-lang", {"type": "string", "enum": list(cql.LANGUAGES), "default": cql.TEXT}),
        _query("filter-crs", {"type": "string", "format": "uri", "enum": CRS_URIS, "default": crs_module.CRS84.uri}),
        _query("properties", {"type": "array", "items": {"type": "string", "enum": names}},
               "The properties to return (default all).", style="form", explode=False),
        _query("sortby", {"type": "array", "items": {"type": "string", "pattern": f"^[+-]?({'|'.join(names)})$"}},
               "Properties to sort by, '-' for descending; ties are ordered by code.", style="form", explode=False),
        *(_query(p.name, {"type": p.type, **({"enum": list(p.enum)} if p.enum else {})},
                 f"Features whose {p.name} equals this value.") for p in properties),
    ]


def openapi(base: str) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of these endpoints."""
    collection_id = {"name": "collectionId", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": list(COLLECTIONS)}}
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "parameters": [F_PARAM],
                      "responses": {"200": _response("The landing page"), **COMMON}}},
        "/conformance": {"get": {"summary": "Conformance classes", "parameters": [F_PARAM],
                                 "responses": {"200": _response("The conformance classes"), **COMMON}}},
        "/collections": {"get": {"summary": "Feature collections", "parameters": [F_PARAM],
                                 "responses": {"200": _response("The collections"), **COMMON}}},
        "/collections/{collectionId}": {"get": {
            "summary": "One collection", "parameters": [collection_id, F_PARAM],
            "responses": {"200": _response("The collection"), "404": ERROR, **COMMON}}},
        "/collections/{collectionId}/queryables": {"get": {
            "summary": "What a collection's features can be filtered on (JSON Schema)",
            "parameters": [collection_id, F_PARAM],
            "responses": {"200": _response("The queryables", SCHEMA_JSON), "404": ERROR, **COMMON}}},
        "/collections/{collectionId}/items/{featureId}": {"get": {
            "summary": "One feature (its id is the region or grid code)",
            "parameters": [collection_id, {"name": "featureId", "in": "path", "required": True,
                                           "schema": {"type": "string"}}, F_PARAM, CRS_PARAM,
                           _query("properties", {"type": "array", "items": {"type": "string"}},
                                  "The properties to return (default all).", style="form", explode=False)],
            "responses": {"200": _response("A GeoJSON Feature", GEOJSON_MIMETYPE), "404": ERROR, **COMMON}}},
    }
    for identifier, collection in COLLECTIONS.items():
        paths[f"/collections/{identifier}/items"] = {"get": {
            "summary": f"{collection.title}: features, ordered by sortby then code",
            "parameters": _items_parameters(identifier),
            "responses": {"200": _response("A GeoJSON FeatureCollection", GEOJSON_MIMETYPE), **COMMON}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Grid outreach – OGC API Features", "version": "1.1.0"},
        "servers": [{"url": base}],
        "security": [{"basic": []}, {"bearer": []}],
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                           "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": paths,
    }
