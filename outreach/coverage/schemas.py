"""Schemas of coverage reports."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from grids.hierarchy import LEVELS
from grids.schemas import REGION_CODE
from outreach.coverage.services import SORT_KEYS, VIEWS


class CoverageArgs(Schema):
    """What to report."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."),
                           metadata={"description": "default: your scope"})
    by = fields.String(validate=validate.OneOf(LEVELS[1:]),
                       metadata={"description": "default: the level below the region"})
    from_ = fields.Date(data_key="from", metadata={"description": "local date, inclusive (default: 29 days ago)"})
    to = fields.Date(metadata={"description": "local date, inclusive (default: today)"})
    sort = fields.String(load_default="coverage", validate=validate.OneOf(SORT_KEYS),
                         metadata={"description": "default coverage ascending: lagging first"})
    view = fields.String(load_default="managed", validate=validate.OneOf(VIEWS),
                         metadata={"description": "managed (default): the two zones as county-level units and "
                                                  "汉滨区 without their townships; statistical: the ten counties "
                                                  "of the statistical codes"})
    f = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx", "geojson"]),
                      metadata={"description": "json rows, or a download: csv (UTF-8 with BOM), xlsx, geojson"})


class ResponsibleSchema(Schema):
    """The member responsible for a cell (its chief), phone masked."""

    member_id = fields.Integer()
    name = fields.String()
    phone = fields.String(allow_none=True)


class CoverageRowSchema(Schema):
    """Coverage of one region or cell."""

    code = fields.String()
    name = fields.String()
    households = fields.Integer()
    households_visited = fields.Integer()
    coverage = fields.Float(allow_none=True, metadata={"description": "households_visited / households"})
    band = fields.String(metadata={"description": "red, amber or green"})
    vulnerable = fields.Integer()
    vulnerable_visited = fields.Integer()
    vulnerable_coverage = fields.Float(allow_none=True)
    app_installed = fields.Integer()
    app_install_rate = fields.Float(allow_none=True)
    grids = fields.Integer(metadata={"description": "tier-3 cells"})
    grids_visited = fields.Integer()
    visits = fields.Integer()
    flagged_visits = fields.Integer()
    responsible = fields.Nested(ResponsibleSchema, allow_none=True,
                                metadata={"description": "cells only: the chief, phone masked"})


class TimeseriesArgs(Schema):
    """What to chart."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    interval = fields.String(load_default="day", validate=validate.OneOf(["day", "week"]))
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class BucketSchema(Schema):
    """One day or week."""

    start = fields.Date()
    end = fields.Date()
    visits = fields.Integer()
    completed_visits = fields.Integer()
    flagged_visits = fields.Integer()
    households_reached = fields.Integer(metadata={"description": "first reached in the period during this bucket"})
    cumulative_households_reached = fields.Integer()
    cumulative_coverage = fields.Float(allow_none=True)


class TimeseriesSchema(Schema):
    """A coverage time series."""

    region = fields.String()
    interval = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    households = fields.Integer()
    series = fields.List(fields.Nested(BucketSchema))
