"""HTTP endpoints of the assessment: scorecard, rankings, targets."""
from __future__ import annotations

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from grids.accounts.roles import ADMINS, ROLES, roles_allowed
from outreach.assessment import rankings, scorecard, targets
from outreach.assessment.schemas import (
    ProgressArgs,
    ProgressSchema,
    RankingArgs,
    RankingSchema,
    ScorecardSchema,
    TargetSchema,
)

scorecard_blp = Blueprint("scorecard", __name__, url_prefix="/assessment", description="The assessment scorecard")
rankings_blp = Blueprint("rankings", __name__, url_prefix="/rankings", description="Rankings among siblings")
targets_blp = Blueprint("targets", __name__, url_prefix="/targets", description="Monthly targets")


@scorecard_blp.route("/scorecard")
class Scorecard(MethodView):
    """The scorecard (versioned)."""

    @scorecard_blp.response(200, ScorecardSchema)
    def get(self):
        """The scorecard in force."""
        return scorecard.current_scorecard()

    @roles_allowed("city_admin")
    @scorecard_blp.arguments(ScorecardSchema)
    @scorecard_blp.response(200, ScorecardSchema)
    def put(self, data):
        """Set a new scorecard (a new version)."""
        return scorecard.set_scorecard(data, current_user.username)


@rankings_blp.route("")
class Rankings(MethodView):
    """Scores and ranks."""

    @roles_allowed(*ROLES)
    @rankings_blp.arguments(RankingArgs, location="query")
    @rankings_blp.response(200, RankingSchema)
    def get(self, args):
        """Regions of a level ranked among siblings for a month, with last month's rank and every component."""
        return rankings.rankings(current_user, args.get("region"), args["by"], args.get("period"))


@targets_blp.route("")
class Targets(MethodView):
    """Setting targets."""

    @roles_allowed("city_admin", "county_admin", "township_supervisor")
    @targets_blp.arguments(TargetSchema)
    @targets_blp.response(200, TargetSchema)
    def put(self, data):
        """Set (or replace) a monthly target of a region or cell below your level."""
        return targets.set_target(data, current_user)


@targets_blp.route("/progress")
class TargetProgress(MethodView):
    """Progress against targets."""

    @roles_allowed(*ADMINS)
    @targets_blp.arguments(ProgressArgs, location="query")
    @targets_blp.response(200, ProgressSchema)
    def get(self, args):
        """Every target under a region for a month: actual, pace, lagging first, with the responsible member."""
        return targets.progress(args.get("region") or current_user.scope, args.get("period"))


BLUEPRINTS = (scorecard_blp, rankings_blp, targets_blp)
