"""Marshmallow fields shared by the domain schemas."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from core.input import text_problem
from core.personal_data import PHONE, normalise_phone


def has_control_characters(value: str) -> bool:
    """C0 controls (except tab and newlines; NUL PostgreSQL cannot hold), C1 controls, bidirectional
    overrides and zero-width characters (they hide or reorder what a reader sees), lone surrogates."""
    return text_problem(value) is not None


class Documented(fields.Nested):
    """Documented as the nested schema, passed through as sent: validated afterwards by faster code
    (the items of a visit sync are validated one by one with pydantic, each with its own result),
    or, in an answer, already built in the schema's shape by the service (a sync's 500 results)."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        # The whole of Field.deserialize is skipped (it costs more than the list itself for 500 items);
        # only null stays an error of the request, as it was.
        if value is None:
            raise self.make_error("null")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        # Dumping 500 results field by field cost ~12 ms a sync; the service builds each one with
        # exactly the schema's keys and JSON types (outreach.visits.sync.result).
        return value


class Text(fields.String):
    """Free text from users: no NUL or control characters (PostgreSQL rejects NUL in text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text):
            raise ValidationError("Must not contain control characters.")
        return text


class NotBlank(validate.Validator):
    """Text with at least one character that is not white space (documented as a pattern)."""

    error = "Must not be blank."

    def __call__(self, value: str) -> str:
        if not value.strip():
            raise ValidationError(self.error)
        return value


class PhoneNumber(validate.Validator):
    """A phone number: 7 to 15 digits, an optional leading ``+`` (``+86`` is dropped for mainland numbers);
    spaces, dashes and brackets are ignored."""

    error = "Not a phone number."
    # What the document promises (the number written without separators): the same rule as
    # core.personal_data.PHONE after normalise_phone, spelled out for "+86" and other country codes.
    PATTERN = r"^(?:[0-9]{7,15}|\+86[0-9]{7,15}|\+[0-79][0-9]{6,14}|\+8[0-57-9][0-9]{5,13})$"

    def __call__(self, value: str) -> str:
        if not PHONE.match(normalise_phone(value)):
            raise ValidationError(self.error)
        return value
