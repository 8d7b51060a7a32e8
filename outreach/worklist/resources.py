"""HTTP endpoint of the worker's worklist."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from grids.accounts.roles import roles_allowed
from outreach.worklist import services
from outreach.worklist.schemas import WorklistArgs, WorklistSchema

blp = Blueprint("worklist", __name__, url_prefix="/me", description="A grid worker's worklist")


@blp.route("/worklist")
class Worklist(MethodView):
    """The signed-in worker's cells and households."""

    @roles_allowed("grid_worker")
    @blp.arguments(WorklistArgs, location="query")
    @blp.response(200, WorklistSchema)
    def get(self, args):
        """Download the worklist (coordinates in crs); with since=TOKEN only what changed since that download."""
        return services.worklist(current_user, args.get("since"), args["crs"])


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
