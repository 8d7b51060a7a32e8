"""Content negotiation for collections with geometry (JSON or GeoJSON)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, json, request
from marshmallow import Schema
from shapely.geometry import mapping

from core.geometry import from_db

GEOJSON_MIMETYPE = "application/geo+json"


def wants_geojson(requested_format: str | None) -> bool:
    """True when the caller asked for GeoJSON by ``?f=geojson`` or the Accept header."""
    if requested_format:
        return requested_format == "geojson"
    best = request.accept_mimetypes.best_match(["application/json", GEOJSON_MIMETYPE])
    return best == GEOJSON_MIMETYPE and request.accept_mimetypes[GEOJSON_MIMETYPE] > \
        request.accept_mimetypes["application/json"]


def feature(properties: dict[str, Any], geometry: Any, feature_id: Any = None) -> dict[str, Any]:
    """One GeoJSON Feature."""
    shape = from_db(geometry)
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": None if shape is None else mapping(shape),
        "properties": properties,
    }


def feature_collection_response(items: Iterable[Any], schema: Schema, geometry_attr: str,
                                id_attr: str = "code") -> Response:
    """Dump ``items`` with ``schema`` as properties of a GeoJSON FeatureCollection."""
    features = []
    for item in items:
        properties = schema.dump(item)
        features.append(feature(properties, getattr(item, geometry_attr), properties.get(id_attr)))
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return Response(body, mimetype=GEOJSON_MIMETYPE)


def feature_response(item: Any, schema: Schema, geometry_attr: str, id_attr: str = "code") -> Response:
    """Dump one ``item`` as a GeoJSON Feature."""
    properties = schema.dump(item)
    body = json.dumps(feature(properties, getattr(item, geometry_attr), properties.get(id_attr)),
                      ensure_ascii=False)
    return Response(body, mimetype=GEOJSON_MIMETYPE)
