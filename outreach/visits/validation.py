"""Fast validation of one visit item (the sync hot path).

A batch holds up to 500 visits and the history seeder replays millions, so each
item is validated with pydantic (its Rust core is ~30× faster than marshmallow
here); the errors are reshaped into the API's field-error dicts.  The batch
envelope and every other endpoint stay with marshmallow/flask-smorest.  Why: see
``docs/decisions.md``.
"""
from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from marshmallow import ValidationError as MarshmallowError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from shapely.geometry import Point

from core.coords import CRS_CHOICES
from core.fields import has_control_characters
from core.geometry import parse_located_point
from grids.households.models import HOUSEHOLD_TAGS
from grids.schemas import GRID_CODE
from outreach.visits.models import OUTCOMES, TOPICS

Crs = Literal[CRS_CHOICES]  # type: ignore[valid-type]
Tag = Literal[HOUSEHOLD_TAGS]  # type: ignore[valid-type]
Topic = Literal[TOPICS]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Count = Annotated[int, Field(ge=0, le=100)]


def _clean_text(value: str | None) -> str | None:
    if value is not None and has_control_characters(value):
        raise ValueError("Must not contain control characters.")
    return value


class Strict(BaseModel):
    """Unknown fields are errors, as everywhere in the API."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class VisitLocation(Strict):
    """Where the phone was, as it reported it."""

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: Crs = "wgs84"
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    mocked: bool = False


class NewHousehold(Strict):
    """A household found in the field."""

    location: Point
    address: str | None = Field(default=None, max_length=200)
    residents: Count = 1
    tags: list[Tag] = []

    @field_validator("location", mode="before")
    @classmethod
    def _point(cls, value: Any) -> Point:
        try:
            return parse_located_point(value)
        except MarshmallowError as error:
            raise ValueError(" ".join(error.messages)) from error

    _address = field_validator("address")(lambda cls, v: _clean_text(v))


class VisitIn(Strict):
    """One visit as a phone sends it."""

    id: uuid.UUID
    household_id: int | None = Field(default=None, ge=1)
    new_household: NewHousehold | None = None
    grid_code: str
    visited_at: AwareDatetime
    outcome: Outcome
    location: VisitLocation
    topics: list[Topic] = Field(default_factory=list, max_length=len(TOPICS))
    app_installed: bool | None = None
    residents_reached: Count | None = None
    vulnerable_reached: Count | None = None
    notes: str | None = Field(default=None, max_length=1000)

    _notes = field_validator("notes")(lambda cls, v: _clean_text(v))

    @field_validator("grid_code")
    @classmethod
    def _grid_code(cls, value: str) -> str:
        if not GRID_CODE.match(value):
            raise ValueError("Must be a grid code.")
        return value

    @model_validator(mode="after")
    def _one_household(self) -> VisitIn:
        if (self.household_id is None) == (self.new_household is None):
            raise ValueError("Give exactly one of household_id and new_household.")
        return self


_PREFIX = re.compile(r"^(Value error|Assertion failed), ")
_QUOTED = re.compile(r"'([^']*)'")
# pydantic's error types in the wording marshmallow uses everywhere else in the API (and so in the
# catalogue of core.messages): one language for a phone's per-visit errors and every field error.
_SAME_AS_MARSHMALLOW = {
    "missing": "Missing data for required field.",
    "extra_forbidden": "Unknown field.",
    "uuid_parsing": "Not a valid UUID.", "uuid_type": "Not a valid UUID.",
    "int_parsing": "Not a valid integer.", "int_type": "Not a valid integer.",
    "int_from_float": "Not a valid integer.",
    "float_parsing": "Not a valid number.", "float_type": "Not a valid number.",
    "finite_number": "Special numeric values (nan or infinity) are not permitted.",
    "bool_parsing": "Not a valid boolean.", "bool_type": "Not a valid boolean.",
    "string_type": "Not a valid string.", "list_type": "Not a valid list.",
    "model_type": "Not a valid mapping type.", "dict_type": "Not a valid mapping type.",
    "model_attributes_type": "Not a valid mapping type.",
    "datetime_parsing": "Not a valid datetime.", "datetime_type": "Not a valid datetime.",
    "datetime_from_date_parsing": "Not a valid datetime.", "timezone_aware": "Not a valid aware datetime.",
}


def _message(item: dict[str, Any]) -> str:
    kind, context = item["type"], item.get("ctx") or {}
    if kind in _SAME_AS_MARSHMALLOW:
        return _SAME_AS_MARSHMALLOW[kind]
    if kind == "literal_error":
        return f"Must be one of: {', '.join(_QUOTED.findall(str(context.get('expected', ''))))}."
    if kind == "greater_than_equal":
        return f"Must be greater than or equal to {context['ge']}."
    if kind == "less_than_equal":
        return f"Must be less than or equal to {context['le']}."
    if kind in ("string_too_long", "too_long"):
        return f"Longer than maximum length {context['max_length']}."
    message = _PREFIX.sub("", item["msg"])
    return message[:1].upper() + message[1:]


def field_errors(error: ValidationError) -> dict[str, Any]:
    """pydantic errors as the API's nested ``{"field": ["message"]}`` dict, in marshmallow's wording."""
    errors: dict[str, Any] = {}
    for item in error.errors(include_url=False, include_context=True, include_input=False):
        location = [str(part) for part in item["loc"]] or ["household_id"]
        node = errors
        for part in location[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(location[-1], []).append(_message(item))
    return errors


def parse_visit(raw: dict[str, Any]) -> VisitIn:
    """A validated visit; raises pydantic's ValidationError."""
    return VisitIn.model_validate(raw)
