"""Field, per-item and import error messages in the caller's language (zh-CN or en).

Messages are written in English where they arise: marshmallow's validators, the sync's pydantic
errors (reshaped into the same wording by ``outreach.visits.validation``), the services' own checks
and the import reports.  They are translated once, where the answer is built: an exact message of
the catalogue, or a known template with its values (``"Must be one of: %(choices)s."``).  Why not at
each raise: see ``docs/decisions.md``.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask_babel import gettext


def N_(message: str) -> str:  # noqa: N802  (the gettext convention for "extract, translate later")
    """Mark a message for the catalogue; it is translated when answered."""
    return message


MESSAGES = (
    # marshmallow's own messages (fields, validators, schemas)
    N_("Missing data for required field."), N_("Field may not be null."), N_("Unknown field."),
    N_("Invalid input type."), N_("Invalid value."), N_("Not a valid string."), N_("Not a valid integer."),
    N_("Not a valid number."), N_("Not a valid boolean."), N_("Not a valid list."), N_("Not a valid tuple."),
    N_("Not a valid mapping type."), N_("Not a valid UUID."), N_("Not a valid datetime."),
    N_("Not a valid date."), N_("Not a valid time."), N_("Not a valid aware datetime."),
    N_("Not a valid naive datetime."), N_("Not a valid email address."), N_("Not a valid URL."),
    N_("Invalid input."), N_("Invalid data."), N_("String does not match expected pattern."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Number too large."),
    N_("Must be one of: %(choices)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s."), N_("Must be less than or equal to %(max)s."),
    N_("Must be greater than %(min)s."), N_("Must be less than %(max)s."),
    N_("Longer than maximum length %(max)s."), N_("Shorter than minimum length %(min)s."),
    N_("Length must be between %(min)s and %(max)s."), N_("Length must be %(equal)s."),
    # the project's field rules
    N_("Must not contain control characters."), N_("Must be a grid code."),
    N_("Must be a 12-digit region code."), N_("Not a phone number."), N_("Must not be blank."),
    N_("A point must be an object."), N_("Geometry type must be Point."),
    N_("Point coordinates must be [lon, lat]."), N_("lon and lat must be numbers."),
    N_("Coordinates out of range (lon -180..180, lat -90..90)."), N_("The point is outside the city."),
    N_("crs must be one of: %(choices)s."),
    N_("Give exactly one of household_id and new_household."), N_("Give a household_id or a location."),
    # visits, households and warnings (per item and per field)
    N_("A visit must be an object."), N_("Unknown household, or outside your scope."),
    N_("The household is in cell %(cell)s."), N_("The point is outside every grid cell."),
    N_("The point is outside your scope."), N_("Older than %(days)s days."), N_("Too far in the future."),
    N_("Required with an outcome event."), N_("Required when money was transferred."),
    N_("Unknown member, or outside your scope."), N_("Must not be after 'to'."),
    N_("Not a worklist token of yours."),
    # household CSV import
    N_("Not a number."), N_("Missing."), N_("Out of range (-180..180)."), N_("Out of range (-90..90)."),
    N_("Must be between 0 and 100."), N_("Not an integer."), N_("Unknown tags: %(tags)s; allowed: %(allowed)s."),
    N_("At most 200 characters."), N_("More values than header columns."),
    N_("Missing columns: %(missing)s; expected %(expected)s."),
    N_("Send the CSV as the body or as the multipart field 'file'."), N_("Not UTF-8."),
    N_("At most %(n)s rows."), N_("Line %(line)s: %(error)s"),
    # grid import
    N_("not a GeoJSON Feature"), N_("property 'code' is missing or not a string"),
    N_("code must look like 610902001001-03-07 (village-NN-NN)"), N_("property 'tier' must be 1, 2 or 3"),
    N_("code %(code)s is not a tier-%(tier)s code"), N_("the cell's village is outside your scope"),
    N_("property 'name' must be a non-empty string of at most 100 characters"),
    N_("code already used by feature %(index)s"), N_("village %(code)s does not exist"),
    N_("a tier-1 cell must equal its village %(code)s"),
    N_("parent cell %(code)s does not exist or was rejected"), N_("not inside its parent cell %(code)s"),
    N_("overlaps sibling cell %(code)s"),
    N_("the children of %(code)s would no longer cover it (import them together)"),
    N_("stored child cell %(code)s would fall outside it"),
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _catalogue() -> tuple[frozenset[str], tuple[tuple[re.Pattern, str], ...]]:
    exact = frozenset(m for m in MESSAGES if not _PLACEHOLDER.search(m))
    patterns = []
    for message in MESSAGES:
        if _PLACEHOLDER.search(message):
            parts = _PLACEHOLDER.split(message)  # text, name, text, name, ..., text
            regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
            patterns.append((re.compile(regex + r"\Z", re.S), message))
    return exact, tuple(patterns)


def translate(message: str) -> str:
    """One message in the request's language (unknown messages are answered as they are)."""
    exact, patterns = _catalogue()
    if message in exact:
        return gettext(message)
    for pattern, template in patterns:
        match = pattern.match(message)
        if match:
            return gettext(template, **match.groupdict())
    return message


def translate_errors(errors: Any) -> Any:
    """Field errors (nested dicts and lists of messages) with every message translated."""
    if isinstance(errors, dict):
        return {key: translate_errors(value) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [translate_errors(value) for value in errors]
    if isinstance(errors, str):
        return translate(errors)
    return errors
