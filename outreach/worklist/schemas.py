"""Schemas of the worklist download."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class WorklistArgs(Schema):
    """The token of the previous download, for changes only."""

    since = fields.String(validate=validate.Length(max=400))


class WorklistCellSchema(Schema):
    """A cell the worker is assigned to."""

    code = fields.String()
    tier = fields.Integer()
    name = fields.String()
    role = fields.String()
    geometry = fields.Dict()


class WorklistHouseholdSchema(Schema):
    """A household of the worker's cells."""

    id = fields.Integer()
    grid_code = fields.String()
    address = fields.String(allow_none=True)
    location = fields.Dict()
    residents = fields.Integer()
    tags = fields.List(fields.String())
    last_visit_at = fields.DateTime(allow_none=True)
    last_completed_on = fields.Date(allow_none=True)


class WorklistSchema(Schema):
    """The worker's cells and households, or what changed since a token."""

    full = fields.Boolean(metadata={"description": "true: everything; false: changes since the token"})
    cells = fields.List(fields.Nested(WorklistCellSchema))
    removed_cells = fields.List(fields.String())
    households = fields.List(fields.Nested(WorklistHouseholdSchema))
    removed_households = fields.List(fields.Integer())
    next = fields.String()
