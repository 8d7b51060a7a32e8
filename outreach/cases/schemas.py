"""Schemas of fraud cases."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.fields import Text
from core.geometry import LocatedPointField
from core.openapi import any_given
from grids.schemas import REGION_CODE
from outreach.cases.models import CASE_TYPES


class CaseSchema(Schema):
    """A fraud case; give a location (any crs) or the village code."""

    id = fields.Integer(dump_only=True)
    occurred_on = fields.Date(required=True)
    type = fields.String(required=True, validate=validate.OneOf(CASE_TYPES))
    loss_yuan = fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 10**11),
                             metadata={"description": "yuan, to the fen"})
    location = LocatedPointField(allow_none=True, load_default=None)
    village_code = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit code."),
                                 load_default=None)
    external_ref = Text(validate=validate.Length(max=64), load_default=None, allow_none=True)
    reported_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    suspended_certification_id = fields.Integer(dump_only=True, allow_none=True)
    voided_at = fields.DateTime(dump_only=True, allow_none=True)
    voided_by = fields.String(dump_only=True, allow_none=True)
    void_reason = fields.String(dump_only=True, allow_none=True)
    OPENAPI_RULES = any_given(location="object", village_code="string")

    @validates_schema
    def _where(self, data, **kwargs):
        if data.get("location") is None and not data.get("village_code"):
            raise ValidationError("Give a location or a village_code.", "location")


class CaseQueryArgs(Schema):
    """Filters of the case list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    type = fields.String(validate=validate.OneOf(CASE_TYPES))
    voided = fields.Boolean(metadata={"description": "only voided (true) or only standing (false) cases"})


class VoidSchema(Schema):
    """Why a case is voided."""

    reason = Text(required=True, validate=validate.Length(min=1, max=2000))


class PeriodArgs(Schema):
    """A local period."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()


class CaseSummaryRowSchema(Schema):
    """Cases of one child region."""

    code = fields.String()
    name = fields.String()
    cases = fields.Integer()
    loss_yuan = fields.Float()
    zero_cases = fields.Boolean()
    villages = fields.Integer()
    villages_with_zero_cases = fields.Integer()


class CaseSummarySchema(Schema):
    """Cases of a region in a period, by child region."""

    code = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    cases = fields.Integer()
    loss_yuan = fields.Float()
    by_type = fields.Dict(keys=fields.String(), values=fields.Integer())
    villages = fields.Integer()
    villages_with_zero_cases = fields.Integer()
    children = fields.List(fields.Nested(CaseSummaryRowSchema))
