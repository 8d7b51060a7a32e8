"""HTTP endpoints of publicity campaigns."""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.formats import feature_collection_response, wants_geojson
from core.openapi import also_answers
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, roles_allowed
from outreach.campaigns import queries, services
from outreach.campaigns.schemas import CampaignQueryArgs, CampaignSchema, CampaignSummarySchema

blp = Blueprint("campaigns", __name__, url_prefix="/campaigns", description="Publicity campaigns (十进)")
READERS = (*ADMINS, "reviewer", "police", "grid_worker")
WRITERS = (*ADMINS, "police", "grid_worker")


@blp.route("")
class Campaigns(MethodView):
    """Publicity events in the caller's scope."""

    @roles_allowed(*READERS)
    @blp.arguments(CampaignQueryArgs, location="query")
    @blp.response(200, CampaignSchema(many=True))
    @also_answers(blp)
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List campaigns by region, kind and local period (?f=geojson for a FeatureCollection)."""
        statement = queries.campaigns_select(territory.region_code_prefix(args.get("region")), args.get("kind"),
                                             *services.local_bounds(args.get("from_"), args.get("to")))
        items = paginate_select(statement, pagination_parameters)
        if wants_geojson(args.get("f")):
            return feature_collection_response(items, CampaignSchema(), "location", id_attr="id")
        return items

    @roles_allowed(*WRITERS)
    @blp.arguments(CampaignSchema)
    @blp.response(201, CampaignSchema)
    def post(self, data):
        """Record a campaign event; the village is derived from its location."""
        raw = (request.get_json(silent=True) or {}).get("location")
        return services.create_campaign(data, raw, current_user.username)


@blp.route("/summary")
class CampaignSummary(MethodView):
    """Campaigns by kind."""

    @roles_allowed(*READERS)
    @blp.arguments(CampaignQueryArgs, location="query")
    @blp.response(200, CampaignSummarySchema)
    def get(self, args):
        """Counts, audience and materials by kind in a region and local period."""
        return services.summary(args.get("region") or current_user.scope, args.get("from_"), args.get("to"))


BLUEPRINTS = (blp,)
