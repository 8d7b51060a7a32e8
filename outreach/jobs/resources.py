"""``GET /jobs``: the periodic jobs the product runs itself."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from grids.accounts.roles import roles_allowed
from outreach.jobs import services
from outreach.jobs.schemas import JobSchema

blp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Periodic jobs")


@blp.route("")
class Jobs(MethodView):
    """The periodic jobs."""

    @roles_allowed("city_admin")
    @blp.response(200, JobSchema(many=True))
    def get(self):
        """Each periodic job with its schedule, last run, duration, outcome and next run."""
        return services.list_jobs()


BLUEPRINTS = (blp,)
