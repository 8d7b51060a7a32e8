"""Notifications for changes made in ``grids`` (signals, in the sender's transaction)."""
from __future__ import annotations

from grids.assignments import signals
from outreach.notifications import outbox


def _assignment_changed(assignment, change: str) -> None:
    outbox.to_member(assignment.member_id, "assignment_changed", f"assignment:{assignment.id}:{change}",
                     "assignment", str(assignment.id),
                     {"assignment_id": assignment.id, "grid_code": assignment.grid_code, "role": assignment.role,
                      "change": change})


def connect() -> None:
    """Subscribe the handlers (idempotent; called by ``create_app``)."""
    signals.assignment_changed.connect(_assignment_changed, weak=False)
