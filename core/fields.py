"""Marshmallow fields shared by the domain schemas."""
from __future__ import annotations

from marshmallow import ValidationError, fields


def has_control_characters(value: str) -> bool:
    """NUL and other C0 controls (except tab and newlines) PostgreSQL text cannot or should not hold."""
    return any(ord(c) < 32 and c not in "\t\n\r" for c in value)


class Documented(fields.Nested):
    """Documented as the nested schema, passed through as sent: validated afterwards by faster code
    (the items of a visit sync are validated one by one with pydantic, each with its own result)."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        # The whole of Field.deserialize is skipped (it costs more than the list itself for 500 items);
        # only null stays an error of the request, as it was.
        if value is None:
            raise self.make_error("null")
        return value


class Text(fields.String):
    """Free text from users: no NUL or control characters (PostgreSQL rejects NUL in text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text):
            raise ValidationError("Must not contain control characters.")
        return text
