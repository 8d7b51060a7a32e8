"""HTTP endpoints of assignments and assignment plans."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, SUPERVISORS, roles_allowed
from grids.assignments import queries, services
from grids.assignments.schemas import AssignmentSchema, HistoryArgs, PlanRequestSchema, PlanSchema
from grids.members import services as members

blp = Blueprint("assignments", __name__, url_prefix="/assignments", description="Members embedded in cells")
plans_blp = Blueprint("assignment_plans", __name__, url_prefix="/assignment-plans",
                      description="Optimised assignment of chiefs to cells")
grid_assignments_blp = Blueprint("grid_assignments", __name__, url_prefix="/grids",
                                 description="Assignments of a cell")
member_assignments_blp = Blueprint("member_assignments", __name__, url_prefix="/members",
                                   description="Assignments of a member")
READERS = (*ADMINS, "reviewer")


@blp.route("")
class Assignments(MethodView):
    """Assignments."""

    @roles_allowed(*ADMINS)
    @blp.arguments(AssignmentSchema)
    @blp.response(201, AssignmentSchema)
    def post(self, data):
        """Assign a member to a cell with a role (rules: one chief, eligibility, capacity, county)."""
        return services.create_assignment(data, current_user.username)


@blp.route("/<id64:assignment_id>")
class AssignmentById(MethodView):
    """One assignment."""

    @roles_allowed(*ADMINS)
    @blp.response(200, AssignmentSchema)
    def delete(self, assignment_id):
        """End an assignment now (it stays in the history)."""
        return services.end_assignment(assignment_id, current_user.username)


@grid_assignments_blp.route("/<string:code>/assignments")
class GridAssignments(MethodView):
    """The assignments of a cell."""

    @roles_allowed(*READERS)
    @grid_assignments_blp.arguments(HistoryArgs, location="query")
    @grid_assignments_blp.response(200, AssignmentSchema(many=True))
    @grid_assignments_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters, code):
        """Current assignments of a cell; with history=true the ended ones too."""
        grid = territory.get_grid(code)
        return paginate_select(queries.assignments_select(grid_code=grid.code, history=args["history"]),
                               pagination_parameters)


@member_assignments_blp.route("/<id32:member_id>/assignments")
class MemberAssignments(MethodView):
    """The assignments of a member."""

    @roles_allowed(*READERS)
    @member_assignments_blp.arguments(HistoryArgs, location="query")
    @member_assignments_blp.response(200, AssignmentSchema(many=True))
    @member_assignments_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters, member_id):
        """Current assignments of a member; with history=true the ended ones too."""
        member = members.get_member(member_id)
        return paginate_select(queries.assignments_select(member_id=member.id, history=args["history"]),
                               pagination_parameters)


@plans_blp.route("")
class Plans(MethodView):
    """Assignment plans."""

    @roles_allowed(*SUPERVISORS)
    @plans_blp.arguments(PlanRequestSchema)
    @plans_blp.response(201, PlanSchema)
    def post(self, data):
        """Compute the optimal chiefs for every cell of a region (not applied yet)."""
        return services.create_plan(data["region"], data["keep_existing"], current_user.username)


@plans_blp.route("/<id32:plan_id>")
class PlanById(MethodView):
    """One plan."""

    @roles_allowed(*SUPERVISORS)
    @plans_blp.response(200, PlanSchema)
    def get(self, plan_id):
        """Get a plan."""
        return services.get_plan(plan_id)


@plans_blp.route("/<id32:plan_id>/apply")
class PlanApply(MethodView):
    """Apply a plan."""

    @roles_allowed(*SUPERVISORS)
    @plans_blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Apply a plan: end replaced chiefs, start the planned ones (once; 409 if stale)."""
        return services.apply_plan(plan_id, current_user.username)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (grid_assignments_blp, member_assignments_blp, blp, plans_blp)
