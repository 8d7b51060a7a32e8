"""Request bodies checked before any view: JSON nested too deeply or holding invalid Unicode,
and text with invisible or deceptive characters.

Python's JSON parser raises ``RecursionError`` on very deep nesting and accepts lone
surrogates (``"\\ud800"``) that PostgreSQL then cannot store: both were 500s.  Text may not
hold C0/C1 control characters (tab, LF, CR excepted), bidirectional overrides and isolates, or
zero-width characters: they hide or reorder what a reviewer reads in a name or a note.
One check covers every JSON body (names, notes, reasons, imports); CSV imports call
:func:`text_problem` on each field.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request
from flask_babel import lazy_gettext as _l

from core.errors import error_response

MAX_DEPTH = 32  # the deepest real body (GeoJSON multipolygons) is 6
# Batches whose items are accepted or rejected one by one: their text is checked per item by the
# domain validation (the same rule, core.fields.has_control_characters), not for the whole batch.
ITEMWISE_ENDPOINTS = {"visits.VisitSync"}
# Code point ranges (inclusive) text may not hold; the published OpenAPI document forbids the same
# (core.openapi builds its string pattern from them).
FORBIDDEN_RANGES = (
    (0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F),  # C0 (not tab, LF, CR), DEL, C1
    (0x061C, 0x061C), (0x200E, 0x200F), (0x202A, 0x202E), (0x2066, 0x2069),  # bidi marks, overrides, isolates
    (0x200B, 0x200D), (0x2060, 0x2060), (0xFEFF, 0xFEFF), (0x180E, 0x180E),  # zero-width characters
)
FORBIDDEN = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in FORBIDDEN_RANGES) + "]")
SURROGATE = re.compile("[\ud800-\udfff]")


class BodyTooDeep(ValueError):
    """Nesting deeper than :data:`MAX_DEPTH`."""


class InvalidUnicode(ValueError):
    """A lone surrogate in a string."""


def text_problem(value: str) -> str | None:
    """Why ``value`` may not be stored as text, or None."""
    if SURROGATE.search(value):
        return str(_l("Invalid Unicode (a lone surrogate)."))
    if FORBIDDEN.search(value):
        return str(_l("Control, invisible or direction-changing characters are not allowed."))
    return None


def _walk(value: Any, depth: int, path: tuple, problems: dict) -> None:
    if depth > MAX_DEPTH:
        raise BodyTooDeep
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise InvalidUnicode
        if FORBIDDEN.search(value):
            _put(problems, path, str(_l("Control, invisible or direction-changing characters are not allowed.")))
    elif isinstance(value, dict):
        for key, item in value.items():
            if SURROGATE.search(key):
                raise InvalidUnicode
            if FORBIDDEN.search(key):
                _put(problems, path + (key,), str(_l("Control, invisible or direction-changing characters are "
                                                     "not allowed.")))
            _walk(item, depth + 1, path + (key,), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, depth + 1, path + (index,), problems)


def _too_deep(value: Any, depth: int = 0) -> bool:
    """Whether containers nest deeper than :data:`MAX_DEPTH` (strings and numbers are not visited)."""
    if depth > MAX_DEPTH:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_too_deep(child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _put(problems: dict, path: tuple, message: str) -> None:
    """Nest a field error like marshmallow does: ``{"visits": {0: {"notes": [message]}}}``."""
    if not path:
        problems.setdefault("_schema", []).append(message)
        return
    node = problems
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return
    node.setdefault(path[-1], [message]) if isinstance(node, dict) else None


def _text_is_plain(data: bytes) -> bool:
    """The raw body holds no forbidden character and no ``\\u`` escape (which could spell one)."""
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\\u" not in raw and FORBIDDEN.search(raw) is None


def check_body():
    """``before_request``: 400 for JSON too deep or with invalid Unicode, 422 for forbidden characters."""
    if not request.is_json or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        document = json.loads(data)
    except RecursionError:
        return error_response(400, _l("The JSON body is nested too deeply."))
    except (ValueError, UnicodeDecodeError):
        return None  # malformed JSON: the view's parser answers 400 as usual
    if isinstance(document, (dict, list)) and _text_is_plain(data):
        # Every string stands in the body as it is stored: when the body holds no forbidden character
        # and no \u escape, no string does, and only the nesting is left to check (a 500-visit sync
        # spent ~18 ms walking every string; this takes ~1 ms).
        return error_response(400, _l("The JSON body is nested too deeply.")) if _too_deep(document) else None
    problems: dict = {}
    try:
        _walk(document, 0, (), problems)
    except BodyTooDeep:
        return error_response(400, _l("The JSON body is nested too deeply."))
    except InvalidUnicode:
        return error_response(400, _l("The JSON body holds invalid Unicode (a lone surrogate)."))
    if problems and request.endpoint not in ITEMWISE_ENDPOINTS:
        return error_response(422, None, {"json": problems})
    return None


def install_input_checks(app: Flask) -> None:
    """Run :func:`check_body` before every request."""
    app.before_request(check_body)
