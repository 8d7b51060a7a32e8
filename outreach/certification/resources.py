"""HTTP endpoints of fraud-free certification."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, roles_allowed
from outreach.certification import queries, services
from outreach.certification.schemas import (
    CertificationDetailSchema,
    CertificationQueryArgs,
    CertificationSchema,
    CriteriaSchema,
    DecisionSchema,
    EvaluationSchema,
    RegionArgs,
    ReinstateSchema,
    ShareSchema,
)

blp = Blueprint("certifications", __name__, url_prefix="/certifications", description="Fraud-free applications")
criteria_blp = Blueprint("certification_criteria", __name__, url_prefix="/certification",
                         description="Certification criteria")
village_certification_blp = Blueprint("village_certification", __name__, url_prefix="/villages",
                                      description="A village's standing")
fraud_free_blp = Blueprint("fraud_free", __name__, url_prefix="/coverage", description="Fraud-free share")
READERS = (*ADMINS, "reviewer", "police")


@criteria_blp.route("/criteria")
class Criteria(MethodView):
    """The certification criteria (versioned)."""

    @criteria_blp.response(200, CriteriaSchema)
    def get(self):
        """The criteria in force."""
        return services.current_criteria()

    @roles_allowed("city_admin")
    @criteria_blp.arguments(CriteriaSchema)
    @criteria_blp.response(200, CriteriaSchema)
    def put(self, data):
        """Set new criteria (a new version; past decisions keep theirs)."""
        return services.set_criteria(data, current_user.username)


@village_certification_blp.route("/<string:code>/certification")
class VillageCertification(MethodView):
    """A village against the criteria."""

    @roles_allowed(*READERS)
    @village_certification_blp.response(200, EvaluationSchema)
    def get(self, code):
        """Every criterion with value, threshold and pass/fail, and the current certification."""
        return services.evaluate(code)


@blp.route("")
class Certifications(MethodView):
    """Applications and certifications."""

    @roles_allowed(*READERS)
    @blp.arguments(CertificationQueryArgs, location="query")
    @blp.response(200, CertificationSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List applications by region and status (expired: certified past validity)."""
        statement = services.certifications_select(territory.region_code_prefix(args.get("region")),
                                                   args.get("status"))
        return paginate_select(statement, pagination_parameters)

    @roles_allowed("village_admin", "township_supervisor", "county_admin", "city_admin")
    @blp.arguments(CertificationSchema)
    @blp.response(201, CertificationSchema)
    def post(self, data):
        """Apply for a village (409 with the failing criteria when it is not eligible)."""
        return services.apply(data["village_code"], current_user.username)


@blp.route("/<id32:certification_id>")
class CertificationById(MethodView):
    """One application."""

    @roles_allowed(*READERS)
    @blp.response(200, CertificationDetailSchema)
    def get(self, certification_id):
        """An application with its decisions."""
        certification = services.get_certification(certification_id)
        certification.decisions = queries.decisions_of(certification.id)
        return certification


@blp.route("/<id32:certification_id>/decisions")
class CertificationDecisions(MethodView):
    """Review decisions."""

    @roles_allowed("reviewer")
    @blp.arguments(DecisionSchema)
    @blp.response(201, CertificationDetailSchema)
    def post(self, data, certification_id):
        """Decide: the township reviewer first, then the county reviewer."""
        certification = services.decide(certification_id, data["decision"], data.get("comment"), current_user)
        certification.decisions = queries.decisions_of(certification.id)
        return certification


@blp.route("/<id32:certification_id>/reinstate")
class CertificationReinstate(MethodView):
    """Lifting a suspension."""

    @roles_allowed("reviewer")
    @blp.arguments(ReinstateSchema)
    @blp.response(200, CertificationDetailSchema)
    def post(self, data, certification_id):
        """The county reviewer reinstates a certification suspended only by cases since voided."""
        certification = services.reinstate(certification_id, data["comment"], current_user)
        certification.decisions = queries.decisions_of(certification.id)
        return certification


@fraud_free_blp.route("/fraud-free")
class FraudFreeShare(MethodView):
    """Share of villages certified."""

    @roles_allowed(*READERS)
    @fraud_free_blp.arguments(RegionArgs, location="query")
    @fraud_free_blp.response(200, ShareSchema)
    def get(self, args):
        """The share of villages certified fraud-free, by child region."""
        return services.fraud_free_share(args.get("region") or current_user.scope)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (fraud_free_blp, criteria_blp, village_certification_blp, blp)
