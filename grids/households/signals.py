"""Signals other packages listen to when a household changes (grids never imports them).

Handlers run inside the sender's transaction, before it commits, so rollups kept
elsewhere (visit coverage) change atomically with the household.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Household; kwargs: was_vulnerable (bool)
vulnerability_changed = _signals.signal("household-vulnerability-changed")
# sender: the Household, already marked removed
household_removed = _signals.signal("household-removed")
