"""Marshmallow fields shared by the domain schemas."""
from __future__ import annotations

from marshmallow import ValidationError, fields

from core.input import text_problem


def has_control_characters(value: str) -> bool:
    """C0 controls (except tab and newlines; NUL PostgreSQL cannot hold), C1 controls, bidirectional
    overrides and zero-width characters (they hide or reorder what a reader sees), lone surrogates."""
    return text_problem(value) is not None


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
