"""Schemas of members."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.fields import NotBlank, PhoneNumber, Text
from core.geometry import LocatedPointField
from grids.members.models import MEMBER_KINDS
from grids.schemas import REGION_CODE, FormatArgs

NAME = [validate.Length(1, 50), NotBlank()]


class MemberSchema(Schema):
    """A member; the phone is write-only in clear and shown masked."""

    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=NAME)
    phone = fields.String(load_only=True, validate=PhoneNumber(), allow_none=True)
    phone_masked = fields.String(dump_only=True, data_key="phone", allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(MEMBER_KINDS))
    village_code = fields.String(required=True, validate=validate.Regexp(REGION_CODE,
                                                                           error="Must be a 12-digit code."))
    home = LocatedPointField(allow_none=True)
    active = fields.Boolean(load_default=True)


class MemberUpdateSchema(Schema):
    """Fields of a member that may change."""

    name = Text(validate=NAME)
    phone = fields.String(validate=PhoneNumber(), allow_none=True)
    kind = fields.String(validate=validate.OneOf(MEMBER_KINDS))
    village_code = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit code."))
    home = LocatedPointField(allow_none=True)
    active = fields.Boolean()


class MemberQueryArgs(FormatArgs):
    """Filters of the member list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    kind = fields.String(validate=validate.OneOf(MEMBER_KINDS))
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(1, 50), metadata={"description": "name contains"})
