"""Signals other packages listen to when an assignment starts or ends (grids never imports them).

Handlers run inside the sender's transaction, before it commits (the notification outbox is
written atomically with the change).
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Assignment; kwargs: change ("made" or "ended")
assignment_changed = _signals.signal("assignment-changed")
