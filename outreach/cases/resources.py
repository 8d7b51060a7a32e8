"""HTTP endpoints of fraud cases."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, roles_allowed
from outreach.cases import queries, services
from outreach.cases.schemas import CaseQueryArgs, CaseSchema, CaseSummarySchema, PeriodArgs, VoidSchema

blp = Blueprint("cases", __name__, url_prefix="/cases", description="Fraud cases")
region_cases_blp = Blueprint("region_cases", __name__, url_prefix="/regions", description="Cases by region")
READERS = (*ADMINS, "police", "reviewer")


@blp.route("")
class Cases(MethodView):
    """Fraud cases in the caller's scope."""

    @roles_allowed(*READERS)
    @blp.arguments(CaseQueryArgs, location="query")
    @blp.response(200, CaseSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List cases by region, period and type."""
        statement = queries.cases_select(territory.region_code_prefix(args.get("region")), args.get("from_"),
                                         args.get("to"), args.get("type"), args.get("voided"))
        return paginate_select(statement, pagination_parameters)

    @roles_allowed("police")
    @blp.arguments(CaseSchema)
    @blp.response(201, CaseSchema)
    @blp.alt_response(200, schema=CaseSchema, description="The external_ref was recorded before: that case")
    def post(self, data):
        """Record a case (the village comes from the location); suspends a certified village; idempotent on
        external_ref."""
        case, created = services.create_case(data, current_user.username)
        return case, 201 if created else 200


@blp.route("/<id64:case_id>")
class CaseById(MethodView):
    """One case."""

    @roles_allowed(*READERS)
    @blp.response(200, CaseSchema)
    def get(self, case_id):
        """A case (voided ones too)."""
        return services.get_case(case_id)


@blp.route("/<id64:case_id>/void")
class CaseVoid(MethodView):
    """Correcting a wrongly recorded case."""

    @roles_allowed("police", "city_admin")
    @blp.arguments(VoidSchema)
    @blp.response(200, CaseSchema)
    def post(self, data, case_id):
        """Void a case: it stays listed and stops counting; a suspension it caused waits for the county reviewer."""
        return services.void_case(case_id, data["reason"], current_user.username)


@region_cases_blp.route("/<string:code>/cases/summary")
class RegionCaseSummary(MethodView):
    """Cases of a region."""

    @roles_allowed(*READERS)
    @region_cases_blp.arguments(PeriodArgs, location="query")
    @region_cases_blp.response(200, CaseSummarySchema)
    def get(self, args, code):
        """Counts, losses and the child regions with zero cases in a period (default: the last 12 months)."""
        return services.summary(code, args.get("from_"), args.get("to"))


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp, region_cases_blp)
