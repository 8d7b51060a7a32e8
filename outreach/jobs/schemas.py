"""Response shape of the periodic jobs."""
from __future__ import annotations

from marshmallow import Schema, fields


class JobSchema(Schema):
    """A periodic job and how it went last."""

    name = fields.String()
    description = fields.String()
    schedule = fields.String(metadata={"description": "cron, UTC (a sixth field gives seconds)"})
    last_run_at = fields.DateTime(allow_none=True)
    last_status = fields.String(allow_none=True, metadata={"description": "succeeded or failed"})
    last_duration_ms = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"description": "the error's type, when it failed"})
    runs = fields.Integer()
    failures = fields.Integer()
    waiting = fields.Integer(metadata={"description": "runs queued, not started (retries, a busy worker)"})
    next_run_at = fields.DateTime()
