"""CQL2 filters (OGC API – Features Part 3) translated into SQLAlchemy expressions.

Text and JSON are parsed by ``cql2`` (PyPI), which implements the whole CQL2 1.0 grammar and
gives the JSON form of either; this module walks that JSON. Property names are looked up in
the collection's allow-list (:mod:`outreach.ogc.collections`), every literal becomes a bound
parameter, and geometry literals are checked with shapely and handed to PostGIS as bound WKT.
Nothing a client sends is ever spliced into SQL text. The result is one more WHERE criterion
next to the collection's own and the caller's scope, so a filter can only narrow them.

Supported: comparisons (``= <> < <= > >=``, property–property too), ``AND OR NOT``, ``LIKE``,
``BETWEEN``, ``IN``, ``IS NULL``, ``CASEI``, boolean literals, and the spatial functions
``S_INTERSECTS S_DISJOINT S_CONTAINS S_WITHIN S_TOUCHES S_CROSSES S_OVERLAPS S_EQUALS`` with
GeoJSON/WKT geometry and ``BBOX`` literals in ``filter-crs``. Anything else (temporal, array,
arithmetic, other functions) answers 400 with the reason.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import cql2
import shapely
from shapely.geometry import box, shape
from sqlalchemy import Boolean, ColumnElement, Float, String, and_, false, func, literal, not_, or_, true

from outreach.ogc import crs as crs_module
from outreach.ogc.collections import Property

MAX_FILTER_LENGTH = 20_000  # characters; a county's outline as a literal fits
MAX_DEPTH = 40
MAX_NODES = 2_000
GEOMETRY = "geometry"

TEXT, JSON_LANG = "cql2-text", "cql2-json"
# GDAL 3.6 (Debian 12) and QGIS built on it name CQL2 text by its draft name.
LANGUAGES = {TEXT: TEXT, JSON_LANG: JSON_LANG, "cql-text": TEXT}

COMPARISONS = {"=": "__eq__", "<>": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
SPATIAL = {"s_intersects": "ST_Intersects", "s_disjoint": "ST_Disjoint", "s_contains": "ST_Contains",
           "s_within": "ST_Within", "s_touches": "ST_Touches", "s_crosses": "ST_Crosses",
           "s_overlaps": "ST_Overlaps", "s_equals": "ST_Equals"}
NUMERIC = {"integer", "number"}


class FilterError(ValueError):
    """A filter that cannot be parsed or names something not allowed; the message is safe to show."""


def parse(text: str, language: str) -> Any:
    """The CQL2 JSON form (dicts, lists, literals) of a filter in ``language``."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    language = LANGUAGES[language]
    try:
        expression = cql2.parse_text(text) if language == TEXT else cql2.parse_json(text)
        return expression.to_json()
    except (cql2.ParseError, ValueError, TypeError) as error:
        raise FilterError(_parse_message(language, error)) from None


def _parse_message(language: str, error: Exception) -> str:
    # cql2's message quotes the filter back with a caret; only the position is kept.
    where = re.search(r"(\d+):(\d+)", str(error)) if language == TEXT else None
    position = f" (line {where.group(1)}, column {where.group(2)})" if where else ""
    return f"The filter is not valid {language}{position}."


class Translator:
    """Turns one parsed filter into a SQL criterion over a collection's properties."""

    def __init__(self, properties: Mapping[str, Property], geometry: ColumnElement, crs: crs_module.Crs):
        self.properties = properties
        self.geometry = geometry
        self.crs = crs
        self.nodes = 0

    def criterion(self, node: Any, depth: int = 0) -> ColumnElement:
        """A boolean SQL expression for a CQL2 JSON predicate."""
        self._count(depth)
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or "op" not in node:
            raise FilterError("The filter must be a predicate (a comparison, a spatial test, AND/OR/NOT, ...).")
        op, args = str(node["op"]).lower(), node.get("args") or []
        if op in ("and", "or"):
            if len(args) < 2:
                raise FilterError(f"{op.upper()} needs at least two operands.")
            parts = [self.criterion(arg, depth + 1) for arg in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            self._arity(op, args, 1)
            return not_(self.criterion(args[0], depth + 1))
        if op in COMPARISONS:
            self._arity(op, args, 2)
            (left, left_type), (right, right_type) = (self.scalar(a, depth + 1) for a in args)
            self._comparable(op, left_type, right_type)
            return getattr(left, COMPARISONS[op])(right)
        if op == "like":
            self._arity(op, args, 2)
            value, kind = self.scalar(args[0], depth + 1)
            pattern, pattern_kind = self.scalar(args[1], depth + 1)
            if kind != "string" or pattern_kind != "string":
                raise FilterError("LIKE compares a text property with a text pattern.")
            return value.like(pattern, escape="\\")
        if op == "between":
            self._arity(op, args, 3)
            (value, kind), (low, low_kind), (high, high_kind) = (self.scalar(a, depth + 1) for a in args)
            if not {kind, low_kind, high_kind} <= NUMERIC:
                raise FilterError("BETWEEN takes a numeric property and two numbers.")
            return value.between(low, high)
        if op == "in":
            self._arity(op, args, 2)
            value, kind = self.scalar(args[0], depth + 1)
            if not isinstance(args[1], list) or not args[1]:
                raise FilterError("IN needs a non-empty list of values.")
            items = [self.scalar(item, depth + 1) for item in args[1]]
            for _, item_kind in items:
                self._comparable("IN", kind, item_kind)
            return value.in_([item for item, _ in items])
        if op == "isnull":
            self._arity("IS NULL", args, 1)
            if isinstance(args[0], dict) and args[0].get("property") == GEOMETRY:
                return self.geometry.is_(None)
            value, _ = self.scalar(args[0], depth + 1)
            return value.is_(None)
        if op in SPATIAL:
            self._arity(op.upper(), args, 2)
            left, right = (self.spatial(a, depth + 1) for a in args)
            return getattr(func, SPATIAL[op])(left, right)
        if op.startswith("t_") or op.startswith("a_"):
            raise FilterError(f"{op.upper()}: these features have no temporal or array properties.")
        raise FilterError(f"Unsupported operator or function in the filter: {op}.")

    def scalar(self, node: Any, depth: int) -> tuple[ColumnElement, str]:
        """A scalar SQL expression and its type (``string``, ``integer``, ``number``, ``boolean``)."""
        self._count(depth)
        if isinstance(node, bool):
            return literal(node, Boolean), "boolean"
        if isinstance(node, int | float):
            if not math.isfinite(node):
                raise FilterError("Numbers in the filter must be finite.")
            return literal(float(node), Float), "number"
        if isinstance(node, str):
            return literal(node, String), "string"
        if isinstance(node, dict):
            if "property" in node:
                prop = self._property(node["property"])
                return prop.expression, prop.type
            op = str(node.get("op", "")).lower()
            if op == "casei":
                self._arity("CASEI", node.get("args") or [], 1)
                value, kind = self.scalar(node["args"][0], depth + 1)
                if kind != "string":
                    raise FilterError("CASEI takes text.")
                return func.lower(value), "string"
            if op in ("+", "-", "*", "/", "%", "^", "div"):
                raise FilterError("Arithmetic is not supported in filters.")
            if {"timestamp", "date", "interval"} & node.keys():
                raise FilterError("These features have no temporal properties.")
            if "bbox" in node or "type" in node:
                raise FilterError("A geometry can only be an argument of a spatial function (S_INTERSECTS, ...).")
        raise FilterError("Unsupported value in the filter.")

    def spatial(self, node: Any, depth: int) -> ColumnElement:
        """A geometry SQL expression: the ``geometry`` property or a literal in ``filter-crs``."""
        self._count(depth)
        if isinstance(node, dict) and "property" in node:
            if node["property"] != GEOMETRY:
                self._property(node["property"])  # unknown → "unknown queryable"
                raise FilterError(f"{node['property']} is not a geometry; the geometry queryable is '{GEOMETRY}'.")
            return self.geometry
        if isinstance(node, dict) and "bbox" in node:
            values = node["bbox"]
            if not isinstance(values, list) or len(values) not in (4, 6):
                raise FilterError("BBOX takes 4 numbers (or 6 with heights).")
            if len(values) == 6:
                values = values[0:2] + values[3:5]
            try:
                x1, y1, x2, y2 = crs_module.check_bbox(tuple(float(v) for v in values), self.crs)
            except (TypeError, ValueError) as error:
                raise FilterError(f"BBOX: {error}") from None
            geometry = box(x1, y1, x2, y2)
        elif isinstance(node, dict) and "type" in node:
            geometry = _geometry(node)
            low_x, low_y, high_x, high_y = self.crs.bounds
            min_x, min_y, max_x, max_y = geometry.bounds
            if not (low_x <= min_x and max_x <= high_x and low_y <= min_y and max_y <= high_y):
                raise FilterError("A geometry literal in the filter is out of range for filter-crs.")
        else:
            raise FilterError("A spatial function compares the 'geometry' property with a geometry literal.")
        # Bound WKT in filter-crs, turned into the stored CRS by PostGIS.
        return crs_module.to_storage(func.ST_GeomFromText(literal(geometry.wkt, String), self.crs.srid), self.crs)

    def _property(self, name: Any) -> Property:
        prop = self.properties.get(name) if isinstance(name, str) else None
        if prop is None:
            known = ", ".join([*self.properties, GEOMETRY])
            raise FilterError(f"Unknown queryable {str(name)[:60]!r}; the queryables are: {known}.")
        return prop

    def _comparable(self, op: str, left: str, right: str) -> None:
        if not (left == right or {left, right} <= NUMERIC):
            raise FilterError(f"{op} cannot compare {left} with {right}.")

    @staticmethod
    def _arity(op: str, args: list, count: int) -> None:
        if len(args) != count:
            raise FilterError(f"{op.upper()} takes {count} argument{'s' if count > 1 else ''}.")

    def _count(self, depth: int) -> None:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise FilterError("The filter is too deeply nested or too long.")


def _geometry(node: dict) -> shapely.Geometry:
    """A GeoJSON geometry literal as a shapely geometry, checked to be well-formed with finite coordinates."""
    try:
        geometry = shape(node)
        coordinates = shapely.get_coordinates(geometry)
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException):
        raise FilterError("A geometry literal in the filter is malformed.") from None
    if geometry.is_empty or not bool(coordinates.size) or not math.isfinite(float(coordinates.sum())):
        raise FilterError("A geometry literal in the filter is empty or has non-finite coordinates.")
    if not geometry.is_valid:
        raise FilterError(f"A geometry literal in the filter is not valid ({shapely.is_valid_reason(geometry)}).")
    return geometry


def translate(text: str, language: str, properties: Mapping[str, Property], geometry: ColumnElement,
              filter_crs: crs_module.Crs) -> ColumnElement:
    """The SQL criterion of a filter given as CQL2 text or JSON; FilterError when it is not acceptable."""
    return Translator(properties, geometry, filter_crs).criterion(parse(text, language))


def to_json(text: str, language: str) -> str:
    """The CQL2 JSON form of a filter as text (for messages and tests)."""
    return json.dumps(parse(text, language), ensure_ascii=False)
