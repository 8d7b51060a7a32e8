"""Benchmark: parsing a sync request of 500 visits, now that its items are documented.

The OpenAPI document describes each visit (``Documented(VisitInSchema)``), but the items must
still pass through the batch envelope untouched, to be validated one by one by pydantic as
before (docs/decisions.md).  Measured against the envelope as it was (``List(Raw())``) in the
same run, with the per-item pydantic validation for scale.  Target: no slower (ratio ≤ 1.1).
No database, no server.
"""
from __future__ import annotations

import sys
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

from marshmallow import Schema, fields
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.visits.schemas import SyncRequestSchema  # noqa: E402
from outreach.visits.validation import parse_visit  # noqa: E402


class RawEnvelope(Schema):
    """The batch envelope before the items were documented: a list of anything."""

    visits = fields.List(fields.Raw(), required=True)
    sent_at = fields.AwareDateTime(format="iso", load_default=None)


def visit() -> dict:
    """One visit as a phone sends it."""
    return {"id": str(uuid.uuid4()), "household_id": 12, "grid_code": "610902001001-01-01",
            "visited_at": datetime.now(UTC).isoformat(), "outcome": "completed",
            "location": {"lon": 109.0, "lat": 32.7, "crs": "gcj02", "accuracy_m": 10},
            "topics": ["investment", "app_install"], "app_installed": True, "notes": "讲了刷单诈骗"}


def main() -> None:
    console = Console()
    body = {"visits": [visit() for _ in range(500)], "sent_at": datetime.now(UTC).isoformat()}
    before, now = RawEnvelope(), SyncRequestSchema()
    assert now.load(body)["visits"] == body["visits"]  # passed through untouched
    rounds = 50
    baseline = documented = float("inf")
    with console.status("timing the envelopes (interleaved, best of 15) ..."):
        for _ in range(15):  # interleaved, so both see the same load on a shared machine
            baseline = min(baseline, timeit.timeit(lambda: before.load(body), number=rounds) / rounds)
            documented = min(documented, timeit.timeit(lambda: now.load(body), number=rounds) / rounds)
        items = min(timeit.repeat(lambda: [parse_visit(v) for v in body["visits"]], number=20, repeat=3)) / 20
    ratio = documented / baseline
    console.print(f"envelope of 500 visits: List(Raw()) {baseline * 1e3:.2f} ms, "
                  f"List(Documented(VisitInSchema)) {documented * 1e3:.2f} ms; ratio {ratio:.2f} vs target ≤ 1.1: "
                  f"{'PASS' if ratio <= 1.1 else 'FAIL'}")
    console.print(f"(per-item pydantic validation of the same 500, unchanged: {items * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
