"""Query parameters of the OGC endpoints, parsed with marshmallow.

OGC API – Features Core asks for 400 on unknown or invalid query parameters
(/req/core/query-param-unknown, /req/core/query-param-invalid), so every schema
rejects unknown names and the parser answers 400 in the one error shape.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.errors import DomainError
from outreach.ogc import cql
from outreach.ogc import crs as crs_module
from outreach.ogc.collections import COLLECTIONS, described_properties

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 2_000_000_000  # keeps OFFSET inside what PostgreSQL takes; far past any collection


class BadQuery(DomainError):
    """A query parameter the OGC API does not know, or an invalid value (400)."""

    status = 400


class FormatArgs(Schema):
    """``f``: only JSON is offered (GeoJSON for features)."""

    class Meta:
        unknown = RAISE

    f = fields.String(validate=validate.OneOf(["json", "geojson"]))


def _crs(value: str) -> crs_module.Crs:
    try:
        return crs_module.parse(value)
    except ValueError:
        raise ValidationError("Unsupported CRS; use one of: " +
                              ", ".join(c.uri for c in crs_module.SUPPORTED) + ".") from None


class CrsField(fields.Field):
    """A CRS URI (or safe CURIE such as ``[EPSG:4490]``) among the supported ones."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Must be a CRS URI.")
        return _crs(value)


class OgcBBoxField(fields.Field):
    """OGC's bbox: 4 numbers, or 6 with heights (``minx,miny,minh,maxx,maxy,maxh``), in ``bbox-crs``'s axis order.

    The features are flat, so heights select nothing away and are dropped. Ranges are checked once
    ``bbox-crs`` is known (:meth:`ItemsArgs._check_bbox`).
    """

    def _deserialize(self, value, attr, data, **kwargs):
        parts = value.split(",") if isinstance(value, str) else []
        if len(parts) not in (4, 6):
            raise ValidationError("bbox must be 4 numbers (or 6 with heights), separated by commas.")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValidationError("bbox values must be numbers.") from None
        if len(numbers) == 6:
            numbers = numbers[0:2] + numbers[3:5]
        return tuple(numbers)


class NameListField(fields.Field):
    """A comma-separated list of property names (``properties``); empty means none."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Must be a comma-separated list of property names.")
        names = [name.strip() for name in value.split(",") if name.strip()]
        if len(set(names)) != len(names):
            raise ValidationError("A property is named twice.")
        return names


class SortByField(fields.Field):
    """``sortby``: comma-separated property names, each optionally prefixed ``+`` (ascending) or ``-``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("Must be a comma-separated list of property names, each with an optional +/-.")
        keys = []
        for item in value.split(","):
            item = item.strip()
            descending = item.startswith("-")
            name = item.lstrip("+-").strip()
            if not name:
                raise ValidationError("Must be a comma-separated list of property names, each with an optional +/-.")
            keys.append((name, descending))
        if len({name for name, _ in keys}) != len(keys):
            raise ValidationError("A property is named twice.")
        return keys


class ItemArgs(FormatArgs):
    """Output options of one feature."""

    crs = CrsField(load_default=crs_module.CRS84)
    properties = NameListField()


class ItemsArgs(ItemArgs):
    """Selection, sorting and paging of a collection's items."""

    bbox = OgcBBoxField()
    bbox_crs = CrsField(data_key="bbox-crs", load_default=crs_module.CRS84)
    # Larger limits are not an error: the service answers at most MAX_LIMIT features (OGC API –
    # Features 1.0.1 asks servers to use their maximum instead).
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, MAX_OFFSET))
    # Core defines datetime; these features have no time of their own, so it selects nothing away.
    datetime = fields.String()
    filter = fields.String()
    filter_lang = fields.String(data_key="filter-lang", load_default=cql.TEXT,
                                validate=validate.OneOf(list(cql.LANGUAGES)))
    filter_crs = CrsField(data_key="filter-crs", load_default=crs_module.CRS84)
    sortby = SortByField()

    @validates_schema
    def _check_bbox(self, data, **kwargs):
        if "bbox" in data:
            try:
                data["bbox"] = crs_module.check_bbox(data["bbox"], data.get("bbox_crs", crs_module.CRS84))
            except ValueError as error:
                raise ValidationError({"bbox": [str(error)]}) from None


_QUERYABLE_FIELDS = {
    "integer": lambda: fields.Integer(strict=False),
    "number": lambda: fields.Float(allow_nan=False),
    "string": lambda: fields.String(),
}


@cache
def items_schema(collection_id: str) -> type[Schema]:
    """ItemsArgs plus the collection's queryables as query parameters (equality tests)."""
    collection = COLLECTIONS[collection_id]
    extra = {}
    for prop in described_properties(collection):
        field = _QUERYABLE_FIELDS[prop.type]()
        if prop.enum:
            field.validators.append(validate.OneOf(prop.enum))
        extra[prop.name] = field
    return ItemsArgs.from_dict(extra, name=f"ItemsArgs_{collection_id.replace('-', '_')}")


def parse(schema: Schema, args: Any) -> dict[str, Any]:
    """Load query args (a werkzeug MultiDict) with ``schema``; 400 with field errors when they are bad."""
    repeated = [name for name in args if len(args.getlist(name)) > 1]
    if repeated:
        raise BadQuery(_l("A query parameter is given more than once."),
                       errors={"query": {name: ["Give this parameter once."] for name in repeated}})
    try:
        return schema.load(args.to_dict(flat=True))
    except ValidationError as error:
        raise BadQuery(_l("Invalid query parameters."), errors={"query": error.messages}) from error
