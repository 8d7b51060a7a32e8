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
from outreach.ogc import services
from outreach.ogc.schemas import FormatArgs, ItemsArgs, parse

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


@blp.get("/", strict_slashes=False)
def landing():
    """The landing page."""
    parse(FormatArgs(), request.args)
    return _json(services.landing(_base()))


@blp.get("/api", strict_slashes=False)
def api_definition():
    """The OpenAPI 3.0 definition of the OGC endpoints."""
    parse(FormatArgs(), request.args)
    return _json(services.openapi(_base()), services.OPENAPI)


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


@blp.get("/collections/<string:collection_id>/items", strict_slashes=False)
def items(collection_id):
    """A page of features (bbox, limit, offset) as GeoJSON."""
    args = parse(ItemsArgs(), request.args)
    return Response(services.items(collection_id, args, _base()), mimetype=GEOJSON_MIMETYPE)


@blp.get("/collections/<string:collection_id>/items/<string:feature_id>", strict_slashes=False)
def item(collection_id, feature_id):
    """One feature as GeoJSON."""
    parse(FormatArgs(), request.args)
    return Response(services.item(collection_id, feature_id, _base()), mimetype=GEOJSON_MIMETYPE)
