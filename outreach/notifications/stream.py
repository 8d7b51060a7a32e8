"""The live stream behind ``GET /me/notifications/stream`` (Server-Sent Events).

gunicorn serves it from a thread (``--threads``: one open stream holds one thread, never a database
connection).  Each web process keeps one listening connection (``LISTEN grids_notifications``) in a
background thread, started on the first stream; the worker's in-app delivery NOTIFYs the user's id,
and the hub wakes that user's streams, which read their new rows in delivery order
(``delivered_seq``) with a short query.  A stream ends after ``GRIDS_SSE_MAX_SECONDS``; the browser
reconnects with ``Last-Event-ID`` and misses nothing.
"""
from __future__ import annotations

import json
import logging
import select
import threading
import time
from collections.abc import Iterator

import psycopg
from flask import Flask

from outreach.notifications import queries
from outreach.notifications.relay import STREAM_CHANNEL, libpq_url
from outreach.notifications.templates import render

log = logging.getLogger("grids.notifications")
EXTENSION = "grids_notification_hub"


class Hub:
    """Wakes the streams of a user when the worker says they have something new."""

    def __init__(self, app: Flask):
        self.app = app
        self.lock = threading.Lock()
        self.waiting: dict[int, set[threading.Event]] = {}
        self.thread = threading.Thread(target=self._listen, name="notification-hub", daemon=True)
        self.thread.start()

    def subscribe(self, user_id: int) -> threading.Event:
        """An event set whenever ``user_id`` has new notifications."""
        event = threading.Event()
        with self.lock:
            self.waiting.setdefault(user_id, set()).add(event)
        return event

    def unsubscribe(self, user_id: int, event: threading.Event) -> None:
        """Stop waking ``event``."""
        with self.lock:
            events = self.waiting.get(user_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self.waiting[user_id]

    def _wake(self, user_id: int | None) -> None:
        with self.lock:
            targets = [e for events in self.waiting.values() for e in events] if user_id is None \
                else list(self.waiting.get(user_id, ()))
        for event in targets:
            event.set()

    def _listen(self) -> None:
        while True:
            try:
                with psycopg.connect(libpq_url(self.app), autocommit=True) as connection:
                    connection.execute(f"listen {STREAM_CHANNEL}")
                    self._wake(None)  # whatever happened while we were not listening
                    while True:
                        ready, _, _ = select.select([connection.fileno()], [], [], 30.0)
                        if ready:
                            for notify in connection.notifies(timeout=0):
                                self._wake(int(notify.payload) if notify.payload.isdigit() else None)
            except psycopg.Error:
                log.warning("notification hub lost its connection; reconnecting")
                time.sleep(2)


def hub(app: Flask) -> Hub:
    """This process's hub (started on first use, never at import or app creation)."""
    with _HUB_LOCK:
        current = app.extensions.get(EXTENSION)
        if current is None:
            current = app.extensions[EXTENSION] = Hub(app)
        return current


_HUB_LOCK = threading.Lock()


def events(app: Flask, user_id: int, position: int, locale: str | None) -> Iterator[str]:
    """The text/event-stream of ``user_id`` after delivery position ``position``."""
    waiter = hub(app).subscribe(user_id)
    heartbeat = app.config["GRIDS_SSE_HEARTBEAT_SECONDS"]
    ends = time.monotonic() + app.config["GRIDS_SSE_MAX_SECONDS"]
    try:
        yield "retry: 3000\n\n"
        while time.monotonic() < ends:
            waiter.clear()
            with app.app_context():  # rendering needs it too (the language)
                rows = queries.delivered_after(user_id, position)
                ready = [(row["delivered_seq"], row["id"], json.dumps(item(row, locale), ensure_ascii=False))
                         for row in rows]
            for _seq, notification_id, data in ready:
                yield f"id: {notification_id}\nevent: notification\ndata: {data}\n\n"
            if ready:
                position = ready[-1][0]
            if not waiter.wait(min(heartbeat, max(0.0, ends - time.monotonic()))):
                yield ": keep-alive\n\n"
    finally:
        hub(app).unsubscribe(user_id, waiter)


def item(row, locale: str | None) -> dict:
    """A notification as the API shows it, title and body in ``locale``."""
    title, body = render(row["kind"], row["params"], locale)
    return {"id": row["id"], "kind": row["kind"], "title": title, "body": body,
            "object": {"type": row["object_type"], "id": row["object_id"]},
            "created_at": row["created_at"].isoformat(), "read_at": row["read_at"].isoformat()
            if row["read_at"] else None, "urgent": row["urgent"]}
