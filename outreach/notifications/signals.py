"""Notifications for changes made in ``grids`` (signals, in the sender's transaction)."""
from __future__ import annotations

from grids.assignments import signals
from outreach.notifications import outbox


def _assignments_changed(_sender, made: list[int], ended: list[int]) -> None:
    for change, ids in (("made", made), ("ended", ended)):
        if ids:
            outbox.assignments_changed(ids, change)


def connect() -> None:
    """Subscribe the handlers (idempotent; called by ``create_app``)."""
    signals.assignments_changed.connect(_assignments_changed, weak=False)
