"""Request and response shapes of notifications and push subscriptions."""
from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from core.openapi import FORBIDDEN_CLASS
from outreach.notifications.templates import render

# An https URL with a host (as documented; the server also takes http when GRIDS_PUSH_ALLOW_HTTP is set).
PUSH_ENDPOINT_PATTERN = f"^https://[^/?#\\[\\]@\\s{FORBIDDEN_CLASS}]+([/?#][^{FORBIDDEN_CLASS}]*)?$"

class NotificationQueryArgs(Schema):
    """Which notifications to list."""

    since = fields.Integer(validate=validate.Range(0, 2**63 - 1),
                           metadata={"description": "Only notifications with a larger id (a previous answer's "
                                                    "newest id, or the stream's Last-Event-ID)."})
    unread = fields.Boolean(load_default=False)


class NotificationSchema(Schema):
    """A notification, its title and body in the request's language."""

    id = fields.Integer()
    kind = fields.String()
    title = fields.Method("_title")
    body = fields.Method("_body")
    object = fields.Method("_object")
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    urgent = fields.Boolean()

    def _title(self, notification):
        return render(notification.kind, notification.params)[0]

    def _body(self, notification):
        return render(notification.kind, notification.params)[1]

    def _object(self, notification):
        return {"type": notification.object_type, "id": notification.object_id}


def _b64url(value: str, length: int | None = None) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValidationError("Must be base64url.") from error
    if length is not None and len(raw) != length:
        raise ValidationError(f"Must encode {length} bytes.")
    return raw


class PushKeysSchema(Schema):
    """The subscription's keys, as the browser's PushSubscription.toJSON() gives them."""

    # base64url (padding optional) of 65 bytes beginning 0x04, and of 16 bytes
    p256dh = fields.String(required=True, validate=validate.Length(max=200),
                           metadata={"pattern": "^B[A-P][A-Za-z0-9_-]{85}=?$",
                                     "description": "base64url of the uncompressed P-256 point (65 bytes)"})
    auth = fields.String(required=True, validate=validate.Length(max=64),
                         metadata={"pattern": "^[A-Za-z0-9_-]{22}(==)?$",
                                   "description": "base64url of the 16-byte authentication secret"})

    @validates("p256dh")
    def _p256dh(self, value, **_kwargs):
        if _b64url(value, 65)[0] != 4:
            raise ValidationError("Must be an uncompressed P-256 point.")

    @validates("auth")
    def _auth(self, value, **_kwargs):
        _b64url(value, 16)


class PushSubscriptionInSchema(Schema):
    """A browser PushSubscription."""

    endpoint = fields.String(required=True, validate=validate.Length(max=2000), metadata={
        "pattern": PUSH_ENDPOINT_PATTERN, "description": "the push service's https URL"})
    keys = fields.Nested(PushKeysSchema, required=True)
    expirationTime = fields.Raw(load_default=None, allow_none=True,  # noqa: N815 (the browser's name)
                                metadata={"type": "number", "nullable": True,
                                          "description": "milliseconds since the epoch, as the browser gives it"})

    @validates_schema
    def _endpoint(self, data, **_kwargs):
        try:
            parts = urlsplit(data.get("endpoint", ""))
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        allowed = ("https", "http") if current_app.config["GRIDS_PUSH_ALLOW_HTTP"] else ("https",)
        if parts.scheme not in allowed or not parts.netloc:
            raise ValidationError("Must be the push service's https URL.", "endpoint")


class PushSubscriptionSchema(Schema):
    """A stored subscription."""

    id = fields.Integer()
    endpoint = fields.String()
    created_at = fields.DateTime()


class VapidKeySchema(Schema):
    """The application server key browsers subscribe with."""

    public_key = fields.String()
