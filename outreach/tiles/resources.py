"""HTTP endpoint of vector tiles."""
from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from grids.accounts.roles import ADMINS, roles_allowed
from outreach.tiles import services

blp = Blueprint("tiles", __name__, url_prefix="/tiles", description="Vector tiles of villages and cells")
MVT = "application/vnd.mapbox-vector-tile"


@blp.route("/<string:layer>/<int:z>/<int:x>/<int:y>.pbf")
class Tile(MethodView):
    """One vector tile."""

    @roles_allowed(*ADMINS, "reviewer", "grid_worker")
    @blp.response(200, content_type=MVT, description="A Mapbox vector tile (layer villages or grids)")
    @blp.alt_response(304, description="Not modified (If-None-Match)")
    def get(self, layer, z, x, y):
        """A tile of villages or cells (tier as a property), 30-day coverage; in scope (grid worker: own cells)."""
        body, etag = services.tile(layer, z, x, y, current_user)
        response = Response(body, mimetype=MVT)
        response.set_etag(etag)
        response.headers["Cache-Control"] = "private, max-age=60"
        return response.make_conditional(request)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
