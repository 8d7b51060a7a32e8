"""Query parameters of the OGC endpoints, parsed with marshmallow.

OGC API – Features Core asks for 400 on unknown or invalid query parameters
(/req/core/query-param-unknown, /req/core/query-param-invalid), so every schema
rejects unknown names and the parser answers 400 in the one error shape.
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from core.errors import DomainError
from grids.schemas import BBoxField

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


class OgcBBoxField(BBoxField):
    """OGC's bbox: 4 numbers, or 6 with heights (``minlon,minlat,minh,maxlon,maxlat,maxh``).

    The features are flat, so heights select nothing away and are dropped.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.count(",") == 5:
            parts = value.split(",")
            value = ",".join(parts[0:2] + parts[3:5])
        return super()._deserialize(value, attr, data, **kwargs)


class ItemsArgs(FormatArgs):
    """Filters and paging of a collection's items."""

    bbox = OgcBBoxField()
    # Larger limits are not an error: the service answers at most MAX_LIMIT features (OGC API –
    # Features 1.0.1 asks servers to use their maximum instead).
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, MAX_OFFSET))
    # Core defines datetime; these features have no time of their own, so it selects nothing away.
    datetime = fields.String()


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
