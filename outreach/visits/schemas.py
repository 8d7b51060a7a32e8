"""Schemas of visits, the sync batch, the worklist and visit queries."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.coords import CRS_CHOICES
from core.fields import Documented, Text
from core.geometry import LocatedPointField
from core.openapi import one_given
from grids.households.models import HOUSEHOLD_TAGS
from grids.schemas import GRID_CODE, REGION_CODE
from outreach.visits.models import FLAGS, OUTCOMES, TOPICS

MAX_BATCH = 500
SYNC_STATUSES = ("created", "duplicate", "conflict", "rejected")
CRS = CRS_CHOICES


class VisitLocationSchema(Schema):
    """Where the phone was, as it reported it."""

    lon = fields.Float(required=True, validate=validate.Range(-180, 180), allow_nan=False)
    lat = fields.Float(required=True, validate=validate.Range(-90, 90), allow_nan=False)
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS))
    accuracy_m = fields.Float(allow_none=True, load_default=None, validate=validate.Range(0, 100_000))
    mocked = fields.Boolean(load_default=False)


class NewHouseholdSchema(Schema):
    """A household found in the field."""

    location = LocatedPointField(required=True)
    address = Text(allow_none=True, load_default=None, validate=validate.Length(max=200))
    residents = fields.Integer(load_default=1, validate=validate.Range(0, 100))
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)), load_default=list)


class VisitInSchema(Schema):
    """One visit as a phone sends it."""

    id = fields.UUID(required=True)
    household_id = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1), metadata={
        "description": "a known household; give exactly one of household_id and new_household"})
    new_household = fields.Nested(NewHouseholdSchema, allow_none=True, load_default=None,
                                  metadata={"description": "a household found in the field, created with the visit"})
    grid_code = fields.String(required=True, validate=validate.Regexp(GRID_CODE, error="Must be a grid code."))
    visited_at = fields.AwareDateTime(required=True, format="iso")
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    location = fields.Nested(VisitLocationSchema, required=True)
    topics = fields.List(fields.String(validate=validate.OneOf(TOPICS)), load_default=list,
                         validate=validate.Length(max=len(TOPICS)))
    app_installed = fields.Boolean(allow_none=True, load_default=None)
    residents_reached = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0, 100))
    vulnerable_reached = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0, 100))
    notes = Text(allow_none=True, load_default=None, validate=validate.Length(max=1000))
    OPENAPI_RULES = one_given(household_id="integer", new_household="object")

    @validates_schema
    def _one_household(self, data, **kwargs):
        if (data.get("household_id") is None) == (data.get("new_household") is None):
            raise ValidationError("Give exactly one of household_id and new_household.", "household_id")


class SyncRequestSchema(Schema):
    """A batch of visits from one phone (the items are validated one by one)."""

    visits = fields.List(Documented(VisitInSchema), required=True,
                         metadata={"maxItems": MAX_BATCH, "description": (
                             f"up to {MAX_BATCH} visits (more: 413), validated one by one: a bad visit is rejected "
                             "in its own result and the others go on")})
    sent_at = fields.AwareDateTime(format="iso", load_default=None,
                                   metadata={"description": "the phone's clock when sending (for clock_skew)"})


class SyncResultSchema(Schema):
    """The outcome of one visit of the batch."""

    id = fields.String(allow_none=True, metadata={"description": "the visit's id as sent (null if it had none)"})
    status = fields.String(validate=validate.OneOf(SYNC_STATUSES), metadata={
        "description": "created; duplicate: stored before with the same content (a retry); conflict: stored "
                       "before with other content (nothing changed); rejected: see errors"})
    flags = fields.List(fields.String(validate=validate.OneOf(FLAGS)))
    errors = fields.Dict(metadata={"description": "rejected: messages by field, nested like the visit "
                                                  "(zh-CN or en, following Accept-Language)"})
    household_id = fields.Integer(allow_none=True, metadata={"description": "the household (the new one's id "
                                                                            "for new_household)"})


class SyncResponseSchema(Schema):
    """Results in the order sent."""

    results = fields.List(Documented(SyncResultSchema))


class VisitSchema(Schema):
    """A stored visit."""

    id = fields.UUID()
    household_id = fields.Integer()
    grid_code = fields.String()
    village_code = fields.String()
    member_id = fields.Integer()
    visited_at = fields.DateTime()
    outcome = fields.String()
    location = LocatedPointField(allow_none=True)
    raw_location = fields.Method("_raw_location")
    topics = fields.List(fields.String())
    app_installed = fields.Boolean(allow_none=True)
    residents_reached = fields.Integer(allow_none=True)
    vulnerable_reached = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)
    flags = fields.List(fields.String())
    received_at = fields.DateTime()
    review = fields.String(allow_none=True, metadata={"description": "confirmed or voided by a supervisor; null: "
                                                                     "not reviewed"})
    reviewed_by = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)

    def _raw_location(self, visit):
        if visit.raw_lon is None:
            return None
        return {"lon": visit.raw_lon, "lat": visit.raw_lat, "crs": visit.crs, "accuracy_m": visit.accuracy_m,
                "mocked": visit.mocked}


class VisitQueryArgs(Schema):
    """Filters of the visit list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    grid = fields.String(validate=validate.Regexp(GRID_CODE, error="Must be a grid code."))
    member = fields.Integer()
    household = fields.Integer(validate=validate.Range(1, 2**63 - 1),
                               metadata={"description": "one household's visits (the field app's history)"})
    from_ = fields.Date(data_key="from", metadata={"description": "local date (Asia/Shanghai), inclusive"})
    to = fields.Date(metadata={"description": "local date (Asia/Shanghai), inclusive"})
    flag = fields.String(validate=validate.OneOf(FLAGS))
    flagged = fields.Boolean(metadata={"description": "true: visits with any flag; false: visits with none"})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    review = fields.String(validate=validate.OneOf(["none", "confirmed", "voided"]),
                           metadata={"description": "none: not reviewed yet"})


class ReviewSchema(Schema):
    """A supervisor's decision on a visit."""

    decision = fields.String(required=True, validate=validate.OneOf(["confirmed", "voided"]))
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))
    reviewed_by = fields.String(dump_only=True)
    reviewed_at = fields.DateTime(dump_only=True)


class ReviewedVisitSchema(VisitSchema):
    """A visit with its review decisions."""

    reviews = fields.List(fields.Nested(ReviewSchema), dump_only=True)
