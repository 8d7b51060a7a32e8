"""Signals of the territory as a whole that other packages listen to (grids never imports them).

``territory_reset``: ``seed --reset`` empties the territory in one TRUNCATE; each
receiver returns the names of the tables it keeps about the territory, emptied in
the same statement (outreach's visits and coverage rollups).  Cases, certifications
and warnings reference regions and go by CASCADE.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

territory_reset = _signals.signal("territory-reset")


def dependent_tables() -> list[str]:
    """The tables other packages registered to be emptied with the territory, in registration order."""
    return [table for _receiver, tables in territory_reset.send(None) for table in tables]
