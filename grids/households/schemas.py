"""Schemas of households and their CSV import."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.fields import Text
from core.geometry import LocatedPointField
from grids.households.models import HOUSEHOLD_TAGS
from grids.schemas import GRID_CODE, REGION_CODE, FormatArgs


class HouseholdSchema(Schema):
    """A household: an address point placed in the tier-3 cell containing it."""

    id = fields.Integer(dump_only=True)
    grid_code = fields.String(dump_only=True)
    village_code = fields.String(dump_only=True)
    location = LocatedPointField(required=True)
    address = Text(validate=validate.Length(max=200), allow_none=True)
    residents = fields.Integer(load_default=1, validate=validate.Range(0, 100))
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)), load_default=list)
    external_id = Text(validate=validate.Length(min=1, max=64), allow_none=True, load_default=None, metadata={
        "description": "door-plate or household-register key, unique within the village; a CSV import "
                       "with the same key updates the household"})
    updated_at = fields.DateTime(dump_only=True)
    removed_at = fields.DateTime(dump_only=True, allow_none=True)


class HouseholdUpdateSchema(Schema):
    """Fields of a household that may change (its location and cell do not)."""

    address = Text(validate=validate.Length(max=200), allow_none=True)
    residents = fields.Integer(validate=validate.Range(0, 100))
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)))


class HouseholdQueryArgs(FormatArgs):
    """Filters of the household list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    grid = fields.String(validate=validate.Regexp(GRID_CODE, error="Must be a grid code."))
    tag = fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS))


class HouseholdImportArgs(Schema):
    """Options of a CSV import."""

    partial = fields.Boolean(load_default=False)
    dry_run = fields.Boolean(load_default=False)


class RowRejectionSchema(Schema):
    """Why one CSV row was rejected."""

    line = fields.Integer(metadata={"description": "line number in the file (header = 1)"})
    reason = fields.String()
    errors = fields.Dict(metadata={"description": "field errors"})


class HouseholdImportResultSchema(Schema):
    """Outcome of a CSV import."""

    rows = fields.Integer()
    accepted = fields.Integer()
    rejected = fields.List(fields.Nested(RowRejectionSchema))
    written = fields.Integer()
    dry_run = fields.Boolean()
