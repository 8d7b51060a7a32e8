"""HTTP endpoints of visits: the phone's sync, lists and lookups."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.extensions import limiter
from core.observability import count_sync_results
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, SUPERVISORS, roles_allowed
from outreach.visits import queries, services
from outreach.visits.schemas import (
    ReviewedVisitSchema,
    ReviewSchema,
    SyncRequestSchema,
    SyncResponseSchema,
    VisitQueryArgs,
    VisitSchema,
)

blp = Blueprint("visits", __name__, url_prefix="/visits", description="Door-to-door visits")


def _sync_limit() -> str:
    return current_app.config["GRIDS_SYNC_RATE_LIMIT"]


def _sync_key() -> str:
    # Per account (the before-request hook has authenticated it): one phone, one budget.
    return "sync:" + (current_user.username if current_user else "anonymous")

READERS = (*ADMINS, "reviewer", "grid_worker")


@blp.route("/sync")
class VisitSync(MethodView):
    """Batch upload from a phone."""

    decorators = [limiter.limit(_sync_limit, key_func=_sync_key, methods=["POST"])]

    @roles_allowed("grid_worker")
    @blp.arguments(SyncRequestSchema)
    @blp.response(200, SyncResponseSchema)
    @blp.alt_response(413, description="More than 500 visits in one request")
    @blp.alt_response(429, description="Too many syncs from this account")
    def post(self, data):
        """Store up to 500 visits; each answers created, duplicate, conflict or rejected, with its flags."""
        results = services.sync_visits(current_user, data["visits"], data.get("sent_at"))
        count_sync_results(current_app, results)
        return {"results": results}


@blp.route("")
class Visits(MethodView):
    """Visits in the caller's scope (a grid worker's own)."""

    @roles_allowed(*READERS)
    @blp.arguments(VisitQueryArgs, location="query")
    @blp.response(200, VisitSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List visits by region, cell, member, household, local period, flag (or any flag) and outcome."""
        start, end = services.local_period(args.get("from_"), args.get("to"))
        worker = current_user.role == "grid_worker"  # a worker reads their own visits, wherever they are
        member = (current_user.member_id or -1) if worker else args.get("member")
        statement = queries.visits_select(territory.region_code_prefix(args.get("region")), args.get("grid"),
                                          member, start, end, args.get("flag"), args.get("outcome"),
                                          args.get("flagged"), household_id=args.get("household"), own=worker,
                                          review=args.get("review"))
        return paginate_select(statement, pagination_parameters)


@blp.route("/<uuid:visit_id>")
class VisitById(MethodView):
    """One visit."""

    @roles_allowed(*READERS)
    @blp.response(200, ReviewedVisitSchema)
    def get(self, visit_id):
        """Get a visit, with its review decisions."""
        visit = services.get_visit(visit_id, current_user)
        visit.reviews = services.reviews_of(visit)
        return visit


@blp.route("/<uuid:visit_id>/review")
class VisitReviewDecision(MethodView):
    """A supervisor's review of a visit."""

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(ReviewSchema)
    @blp.response(200, ReviewedVisitSchema)
    def post(self, data, visit_id):
        """Confirm or void a visit (voided: it leaves coverage at once and stays in the history)."""
        visit = services.review_visit(visit_id, data["decision"], data["reason"], current_user)
        visit.reviews = services.reviews_of(visit)
        return visit


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
