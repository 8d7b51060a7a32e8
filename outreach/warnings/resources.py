"""HTTP endpoints of fund warnings."""
from __future__ import annotations

from datetime import UTC, datetime

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, roles_allowed
from grids.accounts.roles import SUPERVISORS as SUPERVISOR_ROLES
from outreach.warnings import queries, services, task_forces
from outreach.warnings.schemas import (
    EventOutSchema,
    PhoneSchema,
    ReassignSchema,
    SummaryArgs,
    SummarySchema,
    TaskForcePersonInSchema,
    TaskForcePersonSchema,
    TaskForceQueryArgs,
    TaskForceSchema,
    WarningDetailSchema,
    WarningEventSchema,
    WarningInSchema,
    WarningQueryArgs,
    WarningSchema,
)

blp = Blueprint("warnings", __name__, url_prefix="/warnings", description="Fund-warning dispatch")
my_warnings_blp = Blueprint("my_warnings", __name__, url_prefix="/me", description="A member's warnings")
SUPERVISORS = (*ADMINS, "police")
ACTORS = (*ADMINS, "police", "grid_worker")


@blp.route("")
class Warnings(MethodView):
    """Warnings."""

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(WarningQueryArgs, location="query")
    @blp.response(200, WarningSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List warnings by region, status, level, and those past their deadline."""
        statement = queries.warnings_select(territory.region_code_prefix(args.get("region")), args.get("status"),
                                            args.get("level"), datetime.now(UTC) if args["overdue"] else None)
        return paginate_select(statement, pagination_parameters)

    @roles_allowed("police")
    @blp.arguments(WarningInSchema)
    @blp.response(201, WarningSchema)
    @blp.alt_response(200, schema=WarningSchema, description="The same external_ref again: the same warning")
    def post(self, data):
        """Create a warning; it is routed to a member of the household's cell, with a deadline."""
        [(warning, created)] = services.create_warnings([data], current_user.username)
        return warning, 201 if created else 200


@blp.route("/summary")
class WarningSummary(MethodView):
    """The anchors' measures."""

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(SummaryArgs, location="query")
    @blp.response(200, SummarySchema)
    def get(self, args):
        """Warnings, met, met on time, dissuaded, transferred and amounts, median minutes to meet."""
        return services.summary(args.get("region") or current_user.scope, args.get("from_"), args.get("to"))


@blp.route("/<id64:warning_id>")
class WarningById(MethodView):
    """One warning."""

    @roles_allowed(*ACTORS)
    @blp.response(200, WarningDetailSchema)
    def get(self, warning_id):
        """A warning with its events and escalations."""
        warning = services.get_warning(warning_id, current_user)
        warning.events = queries.events_of(warning.id)
        warning.task_force = task_forces.escalated_task_force(warning)
        return warning


@blp.route("/task-forces")
class TaskForces(MethodView):
    """The four-level warning task forces."""

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(TaskForceQueryArgs, location="query")
    @blp.response(200, TaskForceSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """Task forces of a region and below, with their people (escalated warnings go to them)."""
        statement = task_forces.task_forces(args.get("region"), args.get("level"), current_user)
        return paginate_select(statement, pagination_parameters)


@blp.route("/task-forces/<id32:force_id>/people")
class TaskForcePeople(MethodView):
    """The people of a task force."""

    @roles_allowed(*SUPERVISOR_ROLES)
    @blp.arguments(TaskForcePersonInSchema)
    @blp.response(201, TaskForcePersonSchema)
    def post(self, data, force_id):
        """Seat someone on a task force (escalations reach their account, or their phone as a member)."""
        return task_forces.add_person(force_id, data)


@blp.route("/task-forces/<id32:force_id>/people/<id32:person_id>")
class TaskForcePerson(MethodView):
    """One person of a task force."""

    @roles_allowed(*SUPERVISOR_ROLES)
    @blp.response(204)
    def delete(self, force_id, person_id):
        """Take someone off a task force."""
        task_forces.remove_person(force_id, person_id)


@blp.route("/<id64:warning_id>/events")
class WarningEvents(MethodView):
    """What the member did."""

    @roles_allowed(*ACTORS)
    @blp.arguments(WarningEventSchema)
    @blp.response(201, EventOutSchema)
    @blp.alt_response(200, schema=EventOutSchema, description="A retry of a recorded event")
    def post(self, data, warning_id):
        """Record acknowledged, called, met or the outcome (idempotent on the event id)."""
        event, created = services.record_event(warning_id, data, current_user)
        return event, 201 if created else 200


@blp.route("/<id64:warning_id>/phone")
class WarningPhone(MethodView):
    """The resident's full phone number."""

    @roles_allowed("grid_worker")
    @blp.response(200, PhoneSchema)
    def get(self, warning_id):
        """The full number, for the member the warning is assigned to (each reading is audited)."""
        return services.read_phone(warning_id, current_user)


@blp.route("/<id64:warning_id>/reassign")
class WarningReassign(MethodView):
    """Hand a warning to another member."""

    @roles_allowed(*SUPERVISOR_ROLES)
    @blp.arguments(ReassignSchema)
    @blp.response(200, WarningSchema)
    def post(self, data, warning_id):
        """Reassign the warning to a member (recorded among its events); its deadlines stay."""
        return services.reassign(warning_id, data, current_user)


@my_warnings_blp.route("/warnings")
class MyWarnings(MethodView):
    """The signed-in member's warnings."""

    @roles_allowed("grid_worker")
    @my_warnings_blp.response(200, WarningSchema(many=True))
    @my_warnings_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, pagination_parameters):
        """Warnings routed to me, open ones first, by deadline."""
        statement = queries.warnings_select(None, None, None, None, member_id=current_user.member_id or -1)
        return paginate_select(statement, pagination_parameters)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp, my_warnings_blp)
