"""HTTP endpoints of members."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.formats import feature_collection_response, wants_geojson
from core.openapi import also_answers
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, SUPERVISORS, roles_allowed
from grids.members import queries, services
from grids.members.schemas import MemberQueryArgs, MemberSchema, MemberUpdateSchema

blp = Blueprint("members", __name__, url_prefix="/members", description="Embedded members")
READERS = (*ADMINS, "reviewer")


@blp.route("")
class Members(MethodView):
    """Members in the caller's scope."""

    @roles_allowed(*READERS)
    @blp.arguments(MemberQueryArgs, location="query")
    @blp.response(200, MemberSchema(many=True))
    @also_answers(blp)
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List members by region, kind, active flag and name."""
        statement = queries.members_select(territory.region_code_prefix(args.get("region")), args.get("kind"),
                                           args.get("active"), args.get("q"))
        items = paginate_select(statement, pagination_parameters)
        if wants_geojson(args.get("f")):
            return feature_collection_response(items, MemberSchema(), "home", id_attr="id")
        return items

    @roles_allowed(*ADMINS)
    @blp.arguments(MemberSchema)
    @blp.response(201, MemberSchema)
    def post(self, data):
        """Create a member in a village of your scope."""
        return services.create_member(data)


@blp.route("/<id32:member_id>")
class MemberById(MethodView):
    """One member."""

    @roles_allowed(*READERS)
    @blp.response(200, MemberSchema)
    def get(self, member_id):
        """Get a member."""
        return services.get_member(member_id)

    @roles_allowed(*SUPERVISORS, "village_admin")
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    def patch(self, data, member_id):
        """Change a member (name, phone, kind, village, home, active)."""
        return services.update_member(member_id, data)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
