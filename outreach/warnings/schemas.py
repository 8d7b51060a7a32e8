"""Schemas of fund warnings and their events."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.fields import PhoneNumber, Text
from core.geometry import LocatedPointField
from core.openapi import any_given
from grids.schemas import REGION_CODE
from outreach.warnings.models import (
    ALL_EVENT_TYPES,
    ESCALATION,
    EVENT_TYPES,
    LEVELS,
    OUTCOMES,
    OUTCOMES_WITHOUT_MEETING,
    STATUSES,
)


class WarningInSchema(Schema):
    """A warning from the police's fund-warning model: a household id or an address point."""

    external_ref = Text(required=True, validate=validate.Length(1, 64))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    reason = Text(required=True, validate=validate.Length(1, 64))
    household_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 2**63 - 1))
    location = LocatedPointField(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=PhoneNumber())
    OPENAPI_RULES = any_given(household_id="integer", location="object")

    @validates_schema
    def _where(self, data, **kwargs):
        if data.get("household_id") is None and data.get("location") is None:
            raise ValidationError("Give a household_id or a location.", "location")


class ChecklistSchema(Schema):
    """What the member checked with the resident (each item answered yes or no, all optional)."""

    screen_sharing = fields.Boolean()
    verification_codes_given = fields.Boolean()
    transfers_made = fields.Boolean()
    unknown_apps_installed = fields.Boolean()
    links_clicked = fields.Boolean()


class WarningEventSchema(Schema):
    """An event of a warning."""

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES), metadata={"description": (
        "acknowledged and called may come first; met stores a visit of the household; outcome follows met, or "
        "(refused, not_found, false_alarm only) an acknowledgement or a call; transferred needs amount_yuan")})
    at = fields.AwareDateTime(required=True, format="iso")
    outcome = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(OUTCOMES), metadata={
        "description": "with type outcome; without a meeting only " + ", ".join(OUTCOMES_WITHOUT_MEETING)})
    amount_yuan = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                               validate=validate.Range(0, 10**11))
    stop_payment_requested = fields.Boolean(load_default=None, allow_none=True)
    checklist = fields.Nested(ChecklistSchema, load_default=None, allow_none=True)


class ReassignSchema(Schema):
    """The member a warning is handed to, and why."""

    member_id = fields.Integer(required=True, validate=validate.Range(1, 2**31 - 1))
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PhoneSchema(Schema):
    """The resident's full phone number (null when the warning has none)."""

    id = fields.Integer()
    phone = fields.String(allow_none=True)


class EventOutSchema(Schema):
    """A recorded event (phones' events, escalations, notifications)."""

    id = fields.UUID()
    type = fields.String(validate=validate.OneOf(ALL_EVENT_TYPES))
    at = fields.DateTime()
    outcome = fields.String(allow_none=True, validate=validate.OneOf(OUTCOMES))
    amount_yuan = fields.Float(allow_none=True)
    stop_payment_requested = fields.Boolean(allow_none=True)
    checklist = fields.Nested(ChecklistSchema, allow_none=True)
    escalated_to = fields.String(allow_none=True, validate=validate.OneOf(ESCALATION[1:]))
    deadline = fields.DateTime(allow_none=True)
    by = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True, metadata={"description": "routed, reassigned: the member it went to"})
    note = fields.String(allow_none=True, metadata={"description": "reassigned: the reason given"})


class WarningSchema(Schema):
    """A warning and where it stands."""

    id = fields.Integer()
    external_ref = fields.String()
    level = fields.String(validate=validate.OneOf(LEVELS))
    reason = fields.String()
    household_id = fields.Integer(allow_none=True)
    grid_code = fields.String()
    village_code = fields.String()
    phone = fields.String(attribute="phone_masked", allow_none=True, metadata={
        "description": "masked; the assigned member reads the full number at /warnings/{id}/phone"})
    assigned_member_id = fields.Integer(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    escalation = fields.Method("_escalation", metadata={"type": "string", "enum": list(ESCALATION),
                                                        "description": "who has it now"})
    deadline = fields.DateTime()
    ack_deadline = fields.DateTime(allow_none=True)
    meet_deadline = fields.DateTime()
    created_at = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    met_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True, validate=validate.OneOf(OUTCOMES))
    amount_yuan = fields.Float(allow_none=True)
    stop_payment_requested = fields.Boolean(allow_none=True)
    checklist = fields.Nested(ChecklistSchema, allow_none=True)

    def _escalation(self, warning):
        return ("member", "township", "county", "city")[warning.escalation_level]


class WarningDetailSchema(WarningSchema):
    """A warning with its events and escalations."""

    events = fields.List(fields.Nested(EventOutSchema))


class WarningQueryArgs(Schema):
    """Filters of the warning list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    status = fields.String(validate=validate.OneOf(STATUSES))
    level = fields.String(validate=validate.OneOf(LEVELS))
    overdue = fields.Boolean(load_default=False)


class SummaryArgs(Schema):
    """A region and a local period."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class SummaryRowSchema(Schema):
    """The measures of one child region."""

    code = fields.String()
    name = fields.String()
    warnings = fields.Integer()
    met = fields.Integer()
    met_on_time = fields.Integer()
    dissuaded = fields.Integer()
    transferred = fields.Integer()
    amount_transferred_yuan = fields.Float()
    median_minutes_to_meet = fields.Float(allow_none=True)


class SummarySchema(Schema):
    """Warning figures by child region."""

    code = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    children = fields.List(fields.Nested(SummaryRowSchema))
