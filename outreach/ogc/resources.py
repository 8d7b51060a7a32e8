"""HTTP endpoints of OGC API – Features at ``/ogc`` (a plain Flask blueprint: the OGC documents have their
own shape and their own OpenAPI definition, outside the ``/api/v1`` one).

Authentication (Bearer token or HTTP Basic) and the caller's scope are set by the app's auth hook
(``grids.accounts.auth``); the roles that may read are checked here, for every endpoint alike.
"""
from __future__ import annotations

from flask import Blueprint, Response, json, request
from flask_babel import lazy_gettext as _l

from core.errors import Forbidden
from core.formats import GEOJSON_MIMETYPE
from grids.accounts.auth import caller
from grids.accounts.roles import ADMINS
from outreach.ogc import openapi, services
from outreach.ogc.crs import Crs
from outreach.ogc.schemas import FormatArgs, ItemArgs, items_schema, parse

blp = Blueprint("ogc", __name__, url_prefix="/ogc")
# Like the map tiles: supervisors, administrators and certification reviewers.
OGC_ROLES = (*ADMINS, "reviewer")


@blp.before_request
def _check_role():
    if request.method == "OPTIONS":  # not authenticated either (CORS preflight, Allow)
        return
    if caller().role not in OGC_ROLES:
        raise Forbidden(_l("Your role may not do this."))


def _base() -> str:
    """The absolute URL of ``/ogc`` as the client reached it (links in the documents are absolute)."""
    return request.url_root.rstrip("/") + blp.url_prefix


def _json(document: dict, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(document, ensure_ascii=False), mimetype=mimetype)


def _geojson(body: str, crs: Crs) -> Response:
    """GeoJSON with the CRS of its coordinates in ``Content-Crs`` (OGC API – Features Part 2)."""
    return Response(body, mimetype=GEOJSON_MIMETYPE, headers={"Content-Crs": crs.header})


@blp.get("/", strict_slashes=False)
def landing():
    """The landing page."""
    parse(FormatArgs(), request.args)
    return _json(services.landing(_base()))


@blp.get("/api", strict_slashes=False)
def api_definition():
    """The OpenAPI 3.0 definition of the OGC endpoints."""
    parse(FormatArgs(), request.args)
    return _json(openapi.openapi(_base()), services.OPENAPI)


@blp.get("/conformance", strict_slashes=False)
def conformance():
    """The conformance classes."""
    parse(FormatArgs(), request.args)
    return _json(services.conformance())


@blp.get("/collections", strict_slashes=False)
def collections():
    """The feature collections and their extents in the caller's scope."""
    parse(FormatArgs(), request.args)
    return _json(services.collections(_base()))


@blp.get("/collections/<string:collection_id>", strict_slashes=False)
def collection(collection_id):
    """One collection."""
    parse(FormatArgs(), request.args)
    return _json(services.collection(collection_id, _base()))


@blp.get("/collections/<string:collection_id>/queryables", strict_slashes=False)
def queryables(collection_id):
    """What a collection's features can be filtered on, as a JSON Schema."""
    parse(FormatArgs(), request.args)
    return _json(services.queryables(collection_id, _base()), services.SCHEMA_JSON)


@blp.get("/collections/<string:collection_id>/items", strict_slashes=False)
def items(collection_id):
    """A page of features (bbox, filter, properties, sortby, crs, limit, offset) as GeoJSON."""
    services.get(collection_id)  # 404 before the parameters, whose names depend on the collection
    args = parse(items_schema(collection_id)(), request.args)
    return _geojson(*services.items(collection_id, args, request.args.to_dict(flat=True), _base()))


@blp.get("/collections/<string:collection_id>/items/<string:feature_id>", strict_slashes=False)
def item(collection_id, feature_id):
    """One feature as GeoJSON (crs, properties)."""
    args = parse(ItemArgs(), request.args)
    return _geojson(*services.item(collection_id, feature_id, args, _base()))
