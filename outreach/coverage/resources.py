"""HTTP endpoints of coverage reports and their exports."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.openapi import also_answers
from grids.accounts.roles import ADMINS, roles_allowed
from outreach.coverage import exports, queries, services
from outreach.coverage.schemas import CoverageArgs, CoverageRowSchema, TimeseriesArgs, TimeseriesSchema

blp = Blueprint("coverage", __name__, url_prefix="/coverage", description="Coverage of households by visits")
READERS = (*ADMINS, "reviewer")


@blp.route("")
class Coverage(MethodView):
    """Coverage by child region or cell."""

    @roles_allowed(*READERS)
    @blp.arguments(CoverageArgs, location="query")
    @blp.response(200, CoverageRowSchema(many=True))
    @also_answers(blp, csv=True, xlsx=True)
    def get(self, args):
        """Coverage of every child region (or tier-3 cell) for a local period, lagging first."""
        report = services.coverage_rows(args.get("region") or current_user.scope, args.get("by"),
                                        args.get("from_"), args.get("to"), args["sort"], args["view"])
        if args["f"] == "csv":
            return exports.to_csv(report)
        if args["f"] == "xlsx":
            return exports.to_xlsx(report)
        if args["f"] == "geojson":
            return exports.to_geojson(report, queries.geometries([r["code"] for r in report["rows"]], report["by"]))
        return report["rows"]


@blp.route("/timeseries")
class CoverageTimeseries(MethodView):
    """Coverage over time."""

    @roles_allowed(*READERS)
    @blp.arguments(TimeseriesArgs, location="query")
    @blp.response(200, TimeseriesSchema)
    def get(self, args):
        """Visits, households newly reached and cumulative coverage per day or week."""
        return services.timeseries(args.get("region") or current_user.scope, args["interval"], args.get("from_"),
                                   args.get("to"))


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
