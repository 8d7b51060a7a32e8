"""Signals other packages listen to when an assignment starts or ends (grids never imports them).

Handlers run inside the sender's transaction, before it commits (the notification outbox is
written atomically with the change).
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: None; kwargs: made and ended, the ids of the assignments that began and ended (one change by hand,
# or every change of an applied plan)
assignments_changed = _signals.signal("assignments-changed")
