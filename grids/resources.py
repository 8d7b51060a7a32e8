"""HTTP endpoints of the territory: regions, grid cells, locate, import."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.formats import feature_collection_response, feature_response, wants_geojson
from core.openapi import also_answers
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import queries, services
from grids.accounts.roles import SUPERVISORS, roles_allowed
from grids.schemas import (
    FeatureCollectionSchema,
    FormatArgs,
    GridQueryArgs,
    GridSchema,
    ImportArgs,
    ImportResultSchema,
    LocateArgs,
    LocateResultSchema,
    RegionQueryArgs,
    RegionSchema,
)

regions_blp = Blueprint("regions", __name__, url_prefix="/regions",
                        description="Administrative regions: city, counties, townships, villages")
blp = Blueprint("grids", __name__, url_prefix="/grids", description="Tiered grid cells")


@regions_blp.route("")
class Regions(MethodView):
    """The region collection."""

    @regions_blp.arguments(RegionQueryArgs, location="query")
    @regions_blp.response(200, RegionSchema(many=True))
    @also_answers(regions_blp)
    @regions_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List regions by level and parent (GeoJSON with boundaries on request)."""
        geojson = wants_geojson(args.get("f"))
        statement = queries.regions_select(args.get("level"), args.get("parent"), with_boundary=geojson)
        items = paginate_select(statement, pagination_parameters)
        if geojson:
            return feature_collection_response(items, RegionSchema(), "boundary")
        return items


@regions_blp.route("/<string:code>")
class RegionByCode(MethodView):
    """One region."""

    @regions_blp.arguments(FormatArgs, location="query")
    @regions_blp.response(200, RegionSchema)
    @also_answers(regions_blp, geojson="feature")
    def get(self, args, code):
        """Get a region by its 12-digit code."""
        geojson = wants_geojson(args.get("f"))
        region = services.get_region(code, with_boundary=geojson)
        if geojson:
            return feature_response(region, RegionSchema(), "boundary")
        return region


@blp.route("")
class Grids(MethodView):
    """The grid cell collection."""

    @blp.arguments(GridQueryArgs, location="query")
    @blp.response(200, GridSchema(many=True))
    @also_answers(blp)
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List grid cells by region, tier and bounding box."""
        geojson = wants_geojson(args.get("f"))
        statement = queries.grids_select(services.region_code_prefix(args.get("region")), args.get("tier"),
                                         args.get("bbox"), with_boundary=geojson)
        items = services.with_members(paginate_select(statement, pagination_parameters))
        if geojson:
            return feature_collection_response(items, GridSchema(), "boundary")
        return items


@blp.route("/locate")
class GridLocate(MethodView):
    """Which cells contain a point."""

    @blp.arguments(LocateArgs, location="query")
    @blp.response(200, LocateResultSchema)
    def get(self, args):
        """Find the village and the tier 1-3 cells containing a point (any crs)."""
        located = services.locate(args["lon"], args["lat"], args["crs"])
        services.with_members(located["grids"])
        return located


@blp.route("/import")
class GridImport(MethodView):
    """Bulk import of grid cells."""

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(ImportArgs, location="query")
    @blp.arguments(FeatureCollectionSchema)
    @blp.response(200, ImportResultSchema)
    def post(self, args, collection):
        """Import a GeoJSON FeatureCollection of cells (all-or-nothing unless partial=true)."""
        return services.import_grids(collection, dry_run=args["dry_run"], partial=args["partial"])


@blp.route("/<string:code>")
class GridByCode(MethodView):
    """One grid cell."""

    @blp.arguments(FormatArgs, location="query")
    @blp.response(200, GridSchema)
    @also_answers(blp, geojson="feature")
    def get(self, args, code):
        """Get a grid cell by its code (a GeoJSON Feature with its boundary on request)."""
        geojson = wants_geojson(args.get("f"))
        [grid] = services.with_members([services.get_grid(code, with_boundary=geojson)])
        if geojson:
            return feature_response(grid, GridSchema(), "boundary")
        return grid


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (regions_blp, blp)
