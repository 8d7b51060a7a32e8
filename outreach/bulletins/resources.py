"""HTTP endpoints of bulletins."""
from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from core.openapi import XLSX_MIMETYPE as XLSX
from core.openapi import also_answers
from grids.accounts.roles import ROLES, SUPERVISORS, roles_allowed
from grids.schemas import REGION_CODE
from outreach.assessment.schemas import PERIOD
from outreach.bulletins import pdf, services, xlsx

blp = Blueprint("bulletins", __name__, url_prefix="/bulletins", description="Monthly bulletins (通报)")


class BulletinArgs(Schema):
    """Which bulletin, in which format."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."),
                           metadata={"description": "a city, county or township; default your scope"})
    period = fields.String(validate=validate.Regexp(PERIOD, error="Must be a month, YYYY-MM."),
                           metadata={"description": "YYYY-MM, default last month"})
    f = fields.String(load_default="json", validate=validate.OneOf(["json", "pdf", "xlsx"]))


class PublishSchema(Schema):
    """A bulletin to publish."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    period = fields.String(validate=validate.Regexp(PERIOD, error="Must be a month, YYYY-MM."))


class BulletinSchema(Schema):
    """A bulletin: ranking table, red and black lists, changes, warnings and cases of the month."""

    region = fields.Dict()
    period = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    by = fields.String()
    scorecard_version = fields.Integer()
    previous_scorecard_version = fields.Integer(
        allow_none=True, metadata={"description": "the version last month's ranks were scored on"})
    generated_at = fields.String()
    edition = fields.Integer(allow_none=True, metadata={"description": "null: a draft computed now"})
    summary = fields.Dict()
    rankings = fields.List(fields.Dict())
    red_list = fields.List(fields.Dict())
    black_list = fields.List(fields.Dict())
    changes = fields.Dict()
    warnings = fields.Dict()
    cases = fields.Dict()


def _attachment(body: bytes, mimetype: str, content: dict, extension: str) -> Response:
    response = Response(body, mimetype=mimetype)
    filename = f"bulletin_{content['region']['code']}_{content['period']}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blp.route("")
class Bulletins(MethodView):
    """A region's monthly bulletin."""

    @roles_allowed(*ROLES)
    @blp.arguments(BulletinArgs, location="query")
    @blp.response(200, BulletinSchema)
    @also_answers(blp, geojson=None, pdf=True, xlsx=True)
    def get(self, args):
        """The latest published edition (or a draft computed now) as JSON, PDF (A4) or XLSX."""
        content = services.bulletin(current_user, args.get("region"), args.get("period"))
        if args["f"] == "pdf":
            return _attachment(pdf.render(content), "application/pdf", content, "pdf")
        if args["f"] == "xlsx":
            return _attachment(xlsx.render(content), XLSX, content, "xlsx")
        return content

    @roles_allowed(*SUPERVISORS)
    @blp.arguments(PublishSchema)
    @blp.response(201, BulletinSchema)
    def post(self, data):
        """Publish a new edition of your region's (or a region below's) bulletin for a month."""
        return services.publish(current_user, data.get("region"), data.get("period"))


BLUEPRINTS = (blp,)
