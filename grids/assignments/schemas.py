"""Schemas of assignments and assignment plans."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from grids.assignments.models import ASSIGNMENT_ROLES
from grids.schemas import GRID_CODE, REGION_CODE


class AssignmentSchema(Schema):
    """A member's assignment to a cell."""

    id = fields.Integer(dump_only=True)
    member_id = fields.Integer(required=True)
    grid_code = fields.String(required=True, validate=validate.Regexp(GRID_CODE, error="Must be a grid code."))
    role = fields.String(required=True, validate=validate.OneOf(ASSIGNMENT_ROLES))
    village_code = fields.String(dump_only=True)
    valid_from = fields.DateTime(dump_only=True)
    valid_to = fields.DateTime(dump_only=True, allow_none=True)
    source = fields.String(dump_only=True)
    plan_id = fields.Integer(dump_only=True, allow_none=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    ended_by = fields.String(dump_only=True, allow_none=True)


class HistoryArgs(Schema):
    """Whether ended assignments are included."""

    history = fields.Boolean(load_default=False)


class PlanRequestSchema(Schema):
    """What to plan."""

    region = fields.String(required=True, validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit code."))
    keep_existing = fields.Boolean(load_default=True)


class UncoveredSchema(Schema):
    """A cell the plan could not cover, and why."""

    grid_code = fields.String()
    reason = fields.String()


class PlanSchema(Schema):
    """An assignment plan and its figures."""

    id = fields.Integer()
    region = fields.String(attribute="region_code")
    keep_existing = fields.Boolean()
    status = fields.String()
    cells = fields.Integer()
    covered = fields.Integer()
    uncovered = fields.List(fields.Nested(UncoveredSchema))
    total_distance_km = fields.Float()
    greedy_total_distance_km = fields.Float()
    greedy_covered = fields.Integer()
    changes = fields.Integer()
    solve_seconds = fields.Float()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    applied_by = fields.String(allow_none=True)
    applied_at = fields.DateTime(allow_none=True)
