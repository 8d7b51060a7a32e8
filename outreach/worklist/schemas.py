"""Schemas of the worklist download."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.coords import CRS_CHOICES
from core.openapi import POINT, geometry
from grids.assignments.models import ASSIGNMENT_ROLES
from grids.households.models import HOUSEHOLD_TAGS


class WorklistArgs(Schema):
    """The token of the previous download, for changes only."""

    since = fields.String(validate=validate.Length(max=400))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES), metadata={
        "description": "datum of the coordinates answered (gcj02 / bd09 for Chinese map SDKs); send the same "
                       "one with since"})


class WorklistCellSchema(Schema):
    """A cell the worker is assigned to."""

    code = fields.String()
    tier = fields.Integer(validate=validate.OneOf((1, 2, 3)))
    name = fields.String()
    role = fields.String(validate=validate.OneOf(ASSIGNMENT_ROLES),
                         metadata={"description": "the member's role in the cell"})
    geometry = fields.Dict(metadata={**geometry(("Polygon", "MultiPolygon")),
                                     "description": "the cell's boundary, in the datum asked for"})


class WorklistHouseholdSchema(Schema):
    """A household of the worker's cells."""

    id = fields.Integer()
    grid_code = fields.String(metadata={"description": "its tier-3 cell"})
    address = fields.String(allow_none=True)
    location = fields.Dict(metadata={**POINT, "description": "GeoJSON Point, in the datum asked for"})
    residents = fields.Integer()
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)),
                       metadata={"description": "any tag makes the household vulnerable"})
    last_visit_at = fields.DateTime(allow_none=True, metadata={"description": "latest visit of any outcome"})
    last_completed_on = fields.Date(allow_none=True, metadata={"description": "local day of the latest completed "
                                                                              "visit"})


class WorklistSchema(Schema):
    """The worker's cells and households, or what changed since a token."""

    full = fields.Boolean(metadata={"description": "true: everything; false: changes since the token"})
    cells = fields.List(fields.Nested(WorklistCellSchema))
    removed_cells = fields.List(fields.String())
    households = fields.List(fields.Nested(WorklistHouseholdSchema))
    removed_households = fields.List(fields.Integer())
    next = fields.String(metadata={"description": "send as since next time for the changes only"})
    crs = fields.String(validate=validate.OneOf(CRS_CHOICES), metadata={"description": "datum of the coordinates"})
