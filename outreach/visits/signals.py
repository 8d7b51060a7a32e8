"""Visits follow the territory: ``seed --reset`` empties them with it (see ``grids.signals``)."""
from __future__ import annotations

from grids import signals
from outreach.visits.models import Visit, VisitKey


def _tables(_sender) -> list[str]:
    return [Visit.__tablename__, VisitKey.__tablename__]


def connect() -> None:
    """Register the visit tables to be emptied with the territory (idempotent; called by ``outreach.connect``)."""
    signals.territory_reset.connect(_tables, weak=False)
