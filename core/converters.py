"""URL converters for database ids: only values a column can hold match (others are 404)."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter


class Id32Converter(IntegerConverter):
    """A positive 32-bit id (integer columns)."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


class Id64Converter(IntegerConverter):
    """A positive 64-bit id (bigint columns)."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**63 - 1)
