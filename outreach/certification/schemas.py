"""Schemas of certification criteria, evaluations, applications and decisions."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.fields import Text
from grids.schemas import REGION_CODE
from outreach.certification.models import STATUSES, display_status


class CriteriaSchema(Schema):
    """A version of the certification criteria."""

    version = fields.Integer(dump_only=True)
    zero_case_months = fields.Integer(required=True, validate=validate.Range(1, 60))
    min_coverage = fields.Float(required=True, validate=validate.Range(0, 1))
    min_vulnerable_coverage = fields.Float(required=True, validate=validate.Range(0, 1))
    min_app_install_rate = fields.Float(required=True, validate=validate.Range(0, 1))
    window_days = fields.Integer(required=True, validate=validate.Range(7, 366))
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class DecisionSchema(Schema):
    """A reviewer's decision."""

    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = Text(validate=validate.Length(max=2000), load_default=None, allow_none=True)
    level = fields.String(dump_only=True)
    decided_by = fields.String(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)


class ReinstateSchema(Schema):
    """Why a suspended certification is reinstated."""

    comment = Text(required=True, validate=validate.Length(min=1, max=2000))


class CertificationSchema(Schema):
    """An application and where it stands (certified past its validity reads as expired)."""

    id = fields.Integer(dump_only=True)
    village_code = fields.String(required=True, validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit code."))
    status = fields.Method("_status", dump_only=True)
    criteria_version = fields.Integer(dump_only=True)
    evaluation = fields.Dict(dump_only=True)
    applied_by = fields.String(dump_only=True, allow_none=True)
    applied_at = fields.DateTime(dump_only=True)
    certified_on = fields.Date(dump_only=True, allow_none=True)
    valid_until = fields.Date(dump_only=True, allow_none=True)
    suspended_at = fields.DateTime(dump_only=True, allow_none=True)
    suspended_by_case = fields.Integer(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True, allow_none=True)

    def _status(self, certification):
        return display_status(certification)


class CertificationDetailSchema(CertificationSchema):
    """An application with its decisions."""

    decisions = fields.List(fields.Nested(DecisionSchema), dump_only=True)


class CriterionResultSchema(Schema):
    """One criterion for a village."""

    name = fields.String()
    value = fields.Float()
    threshold = fields.Float()
    passed = fields.Boolean()


class EvaluationSchema(Schema):
    """A village's standing against the criteria."""

    village_code = fields.String()
    eligible = fields.Boolean()
    criteria_version = fields.Integer()
    window_days = fields.Integer()
    zero_case_months = fields.Integer()
    criteria = fields.List(fields.Nested(CriterionResultSchema))
    current = fields.Nested(CertificationSchema, allow_none=True)


class CertificationQueryArgs(Schema):
    """Filters of the certification list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    status = fields.String(validate=validate.OneOf([*STATUSES, "expired"]))


class RegionArgs(Schema):
    """A region (default: your scope)."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))


class ShareRowSchema(Schema):
    """Certified villages of one child region."""

    code = fields.String()
    name = fields.String()
    villages = fields.Integer()
    certified = fields.Integer()
    share = fields.Float(allow_none=True)


class ShareSchema(Schema):
    """The fraud-free share of a region."""

    code = fields.String()
    villages = fields.Integer()
    certified = fields.Integer()
    share = fields.Float(allow_none=True)
    children = fields.List(fields.Nested(ShareRowSchema))
