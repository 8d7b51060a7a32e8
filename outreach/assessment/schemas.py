"""Schemas of the scorecard, rankings and targets."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.openapi import one_given
from grids.schemas import REGION_CODE
from outreach.assessment.models import COMPONENTS, SHARE_METRICS, TARGET_METRICS
from outreach.coverage.schemas import ResponsibleSchema

PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
GRID_CODE = r"^[0-9]{12}-[0-9]{2}-[0-9]{2}$"
COMPONENT_HELP = ("Components: " + ", ".join(COMPONENTS) + ". Each value scores linearly from worst (0) to "
                  "best (1), clamped; the score is the weighted mean × 100 over the components that have a value.")


class ComponentSchema(Schema):
    """How one component is weighed and scored."""

    weight = fields.Float(required=True, validate=validate.Range(0, 1000))
    best = fields.Float(required=True, allow_nan=False)
    worst = fields.Float(required=True, allow_nan=False)


class ScorecardSchema(Schema):
    """A version of the scorecard."""

    version = fields.Integer(dump_only=True)
    components = fields.Dict(keys=fields.String(validate=validate.OneOf(COMPONENTS)),
                             values=fields.Nested(ComponentSchema), required=True,
                             validate=validate.Length(min=1), metadata={
                                 "description": COMPONENT_HELP + " At least one weight is above 0; best and worst "
                                                                 "differ.",
                                 # (some component weighs more than nothing)
                                 "anyOf": [{"required": [name], "properties": {name: {"properties": {
                                     "weight": {"minimum": 0, "exclusiveMinimum": True}}}}}
                                     for name in COMPONENTS]})
    list_size = fields.Integer(load_default=5, validate=validate.Range(1, 50),
                               metadata={"description": "regions named on a bulletin's red and black lists"})
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class RankingArgs(Schema):
    """A ranking: the level ranked, under which region, for which month."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."),
                           metadata={"description": "default: your scope (its parent when ranking your own level)"})
    by = fields.String(required=True, validate=validate.OneOf(["county", "township", "village"]))
    period = fields.String(validate=validate.Regexp(PERIOD, error="Must be a month, YYYY-MM."),
                           metadata={"description": "YYYY-MM, default the current month"})


class ComponentResultSchema(Schema):
    """One component of a region's score."""

    value = fields.Float(allow_none=True)
    score = fields.Float(allow_none=True, metadata={"description": "0..1"})
    weight = fields.Float()


class RankingRowSchema(Schema):
    """A region's score and rank among its siblings."""

    code = fields.String()
    name = fields.String()
    parent_code = fields.String()
    score = fields.Float(allow_none=True)
    rank = fields.Integer(allow_none=True)
    previous_score = fields.Float(allow_none=True)
    previous_rank = fields.Integer(allow_none=True)
    rank_change = fields.Integer(allow_none=True, metadata={"description": "places gained since last month"})
    components = fields.Dict(keys=fields.String(), values=fields.Nested(ComponentResultSchema))
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class RankingSchema(Schema):
    """Regions of a level ranked among siblings for a month."""

    region = fields.String()
    by = fields.String()
    period = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    scorecard_version = fields.Integer(metadata={"description": "the version in force for the month"})
    previous_scorecard_version = fields.Integer(
        metadata={"description": "the version the month before was scored on (its previous ranks)"})
    rows = fields.List(fields.Nested(RankingRowSchema))


class TargetSchema(Schema):
    """A monthly target of a region or a grid cell."""

    region = fields.String(load_only=True, validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit code."))
    grid_code = fields.String(load_only=True, validate=validate.Regexp(GRID_CODE, error="Not a grid code."))
    subject_code = fields.String(dump_only=True)
    level = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    period = fields.String(required=True, validate=validate.Regexp(PERIOD, error="Must be a month, YYYY-MM."))
    metric = fields.String(required=True, validate=validate.OneOf(TARGET_METRICS))
    value = fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 10**9))
    set_by = fields.String(dump_only=True, allow_none=True)
    set_at = fields.DateTime(dump_only=True)

    # The same rules for the document: a region or a grid_code; a share is at most 1; campaigns are counted
    # per region, not per cell.
    OPENAPI_RULES = {"allOf": [
        one_given(region="string", grid_code="string"),
        {"anyOf": [{"properties": {"metric": {"enum": list(SHARE_METRICS)}, "value": {"maximum": 1}}},
                   {"properties": {"metric": {"enum": [m for m in TARGET_METRICS if m not in SHARE_METRICS]}}}]},
        {"not": {"required": ["grid_code", "metric"], "properties": {"metric": {"enum": ["campaigns"]}}}},
    ]}

    @validates_schema
    def _one_subject(self, data, **kwargs):
        if bool(data.get("region")) == bool(data.get("grid_code")):
            raise ValidationError("Give a region or a grid_code (one of them).", "region")


class ProgressArgs(Schema):
    """Progress of the targets under a region for a month."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    period = fields.String(validate=validate.Regexp(PERIOD, error="Must be a month, YYYY-MM."))


class ProgressRowSchema(Schema):
    """One target against the actual figure."""

    subject_code = fields.String()
    level = fields.String()
    name = fields.String()
    metric = fields.String()
    target = fields.Float()
    actual = fields.Float()
    expected_by_now = fields.Float()
    progress = fields.Float(allow_none=True)
    met = fields.Boolean()
    lagging = fields.Boolean()
    responsible = fields.Nested(ResponsibleSchema, allow_none=True)


class ProgressSchema(Schema):
    """Targets of a month under a region, lagging first."""

    region = fields.String()
    period = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    elapsed = fields.Float(metadata={"description": "share of the month elapsed"})
    lagging = fields.Integer()
    targets = fields.List(fields.Nested(ProgressRowSchema))
