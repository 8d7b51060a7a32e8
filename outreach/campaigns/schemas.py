"""Schemas of publicity campaigns."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.fields import Text
from core.geometry import LocatedPointField
from grids.schemas import REGION_CODE
from outreach.campaigns.models import CAMPAIGN_KINDS

KIND_DESCRIPTION = ("十进 (into ten places): community 进社区, village 进农村, household 进家庭, school 进校园, "
                    "enterprise 进企业, institution 进机关, shop 进商铺, hospital 进医院, "
                    "place_of_worship 进宗教场所, internet_cafe 进网吧")


class CampaignSchema(Schema):
    """A publicity event; the village is derived from the location (any accepted crs)."""

    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(CAMPAIGN_KINDS),
                         metadata={"description": KIND_DESCRIPTION})
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    held_at = fields.AwareDateTime(required=True, metadata={"description": "RFC 3339 with an offset"})
    location = LocatedPointField(required=True, metadata={"description": "GeoJSON point or {lon, lat, crs}"})
    audience = fields.Integer(required=True, validate=validate.Range(0, 1_000_000),
                              metadata={"description": "people reached"})
    materials = fields.Integer(load_default=0, validate=validate.Range(0, 10_000_000),
                               metadata={"description": "leaflets and other materials handed out"})
    notes = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    village_code = fields.String(dump_only=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class CampaignQueryArgs(Schema):
    """Filters of the campaign list and summary (local dates, inclusive)."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    kind = fields.String(validate=validate.OneOf(CAMPAIGN_KINDS))
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    f = fields.String(load_default=None, validate=validate.OneOf(["json", "geojson"]))

    @validates_schema
    def _period(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("Must not be after 'to'.", "from")


class KindSummarySchema(Schema):
    """Events of one kind."""

    kind = fields.String()
    campaigns = fields.Integer()
    audience = fields.Integer()
    materials = fields.Integer()
    villages = fields.Integer()


class CampaignSummarySchema(Schema):
    """Events of a region in a period, by kind (all ten kinds, zeros included)."""

    region = fields.String()
    from_ = fields.Date(data_key="from", attribute="from", allow_none=True)
    to = fields.Date(allow_none=True)
    campaigns = fields.Integer()
    audience = fields.Integer()
    materials = fields.Integer()
    by_kind = fields.List(fields.Nested(KindSummarySchema))
