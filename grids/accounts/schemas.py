"""Schemas of sign-in, users and the audit log."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.fields import PhoneNumber
from grids.accounts.roles import ROLES
from grids.schemas import REGION_CODE

USERNAME = validate.Regexp(r"^[A-Za-z0-9_.\-]{3,64}$", error="3-64 letters, digits, '_', '.', '-'.")
PASSWORD = validate.Length(min=10, max=200, error="Between 10 and 200 characters.")


class LoginSchema(Schema):
    """Credentials."""

    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(1, 200))


class UserSchema(Schema):
    """A user account."""

    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    scope = fields.String(required=True, validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    member_id = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(1, 2**31 - 1))
    phone = fields.String(load_only=True, allow_none=True, validate=PhoneNumber(),
                          metadata={"description": "where the account's text messages go (escalations)"})
    phone_masked = fields.String(dump_only=True, data_key="phone", allow_none=True)
    active = fields.Boolean(dump_only=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class UserUpdateSchema(Schema):
    """Changes an admin may make to a user: deactivate or reactivate, reset the password, set or clear the
    phone."""

    active = fields.Boolean()
    password = fields.String(load_only=True, validate=PASSWORD)
    phone = fields.String(load_only=True, allow_none=True, validate=PhoneNumber())


class PasswordChangeSchema(Schema):
    """One's own password change."""

    old_password = fields.String(required=True, load_only=True, validate=validate.Length(1, 200))
    new_password = fields.String(required=True, load_only=True, validate=PASSWORD)


class UserQueryArgs(Schema):
    """Filters of the user list."""

    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()


class TokenUserSchema(Schema):
    """The user as shown with a token."""

    username = fields.String()
    role = fields.String()
    scope = fields.String()
    member_id = fields.Integer(allow_none=True)


class TokenSchema(Schema):
    """Tokens issued at sign-in or refresh."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer(metadata={"description": "seconds until the access token expires"})
    user = fields.Nested(TokenUserSchema)


class AuditQueryArgs(Schema):
    """Filters of the audit log."""

    object_type = fields.String()
    object_id = fields.String()
    actor = fields.String()


class AuditEntrySchema(Schema):
    """One audit log entry."""

    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    region_code = fields.String()
    details = fields.Dict()
    comment = fields.String(allow_none=True)
