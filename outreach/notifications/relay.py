"""The outbox relay run by the worker: delivers pending (notification, channel) rows.

One thread per channel claims a batch of due rows with ``FOR UPDATE SKIP LOCKED`` (so several workers
share the work), sends them, and records the outcome in the same transaction that holds the claim.
Killed mid-batch, the transaction dies with the process and the rows are pending again: a message
may be sent twice (receivers drop repeats by the notification id) but is recorded exactly once.

In-app delivery is the recorded moment a notification becomes visible to the live stream: it takes
the next value of ``notifications_delivered_seq`` under an advisory lock, so commits happen in
sequence order and a stream that follows the sequence never skips one, and wakes the streams with
``pg_notify('grids_notifications', user_id)``.
"""
from __future__ import annotations

import logging
import select
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.extensions import db
from core.personal_data import decrypt_phone
from outreach.notifications import outbox
from outreach.notifications.channels import PushSender, TransientError, sms_provider
from outreach.notifications.templates import render, sms_text

log = logging.getLogger("grids.notifications")
STREAM_CHANNEL = "grids_notifications"
IN_APP_LOCK = 7_201_701  # advisory lock id serialising in-app deliveries


def backoff_seconds(attempts: int) -> int:
    """Wait before the next try: 5 s, 20 s, 80 s, … capped at an hour."""
    return min(5 * 4 ** (attempts - 1), 3600)


def libpq_url(app: Flask) -> str:
    """The database URL as psycopg takes it."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _retry_wait(row, attempts: int, now: datetime) -> int:
    """Seconds before the next attempt: the back-off, and for what is not urgent never inside the quiet
    hours (a retry falling in them waits for their end)."""
    wait = backoff_seconds(attempts)
    quiet = None if row["urgent"] else outbox.quiet_until(now + timedelta(seconds=wait))
    return max(wait, int((quiet - now).total_seconds()) + 1) if quiet else wait


class Relay:
    """Channel threads and the LISTEN thread that wakes them."""

    def __init__(self, app: Flask, batch_size: int | None = None):
        self.app = app
        self.batch_size = batch_size or app.config["GRIDS_DELIVERY_BATCH"]
        self.poll_seconds = app.config["GRIDS_DELIVERY_POLL_SECONDS"]
        self.max_attempts = app.config["GRIDS_DELIVERY_MAX_ATTEMPTS"]
        self.stopping = threading.Event()
        self.wake = {channel: threading.Event() for channel in ("in_app", "push", "sms")}
        self.threads: list[threading.Thread] = []
        self.push: PushSender | None = None
        self.sms = None
        self.pool = ThreadPoolExecutor(max_workers=app.config["GRIDS_PUSH_THREADS"], thread_name_prefix="push")

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> Relay:
        """Set up the channels (the VAPID key, the SMS adapter)."""
        self.push = PushSender(self.app)
        self.sms = sms_provider(self.app)
        return self

    def start(self) -> None:
        """Start the listener and one thread per channel."""
        self.open()
        for name, target in (("listen", self._listen), ("in_app", self._loop), ("push", self._loop),
                             ("sms", self._loop)):
            thread = threading.Thread(target=target, args=() if name == "listen" else (name,),
                                      name=f"relay-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        """Finish the batches in hand and stop."""
        self.stopping.set()
        for event in self.wake.values():
            event.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _listen(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(libpq_url(self.app), autocommit=True) as connection:
                    connection.execute(f"listen {outbox.OUTBOX_CHANNEL}")
                    for event in self.wake.values():
                        event.set()  # catch up on whatever was written while we were not listening
                    while not self.stopping.is_set():
                        ready, _, _ = select.select([connection.fileno()], [], [], 1.0)
                        if ready:
                            for _notify in connection.notifies(timeout=0):
                                pass
                            for event in self.wake.values():
                                event.set()
            except psycopg.Error:
                log.warning("outbox listener lost its connection; reconnecting")
                self.stopping.wait(2)

    def _loop(self, channel: str) -> None:
        with self.app.app_context():
            while not self.stopping.is_set():
                self.wake[channel].clear()
                try:
                    while not self.stopping.is_set() and self.deliver(channel) > 0:
                        pass
                except Exception:  # the database went away, a bug: log, wait, try again
                    log.exception("delivery of %s failed; retrying", channel)
                    db.session.remove()
                    self.stopping.wait(self.poll_seconds)
                    continue
                self.wake[channel].wait(self.poll_seconds)

    # -- one batch -------------------------------------------------------------------------------
    def deliver(self, channel: str) -> int:
        """Deliver one batch of due rows of ``channel``; how many rows were handled."""
        # The session (not a bare connection): the claim, the sends' outcomes and the commit are one
        # transaction, and tests run the same code inside their rolled-back transaction.
        try:
            handled = self._deliver(db.session.connection(), channel)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return handled

    def _deliver(self, connection, channel: str) -> int:
        if channel == "in_app":
            return self._in_app(connection)
        rows = connection.execute(text("""
            select d.notification_id, d.attempts, n.user_id, n.member_id, n.kind, n.params, n.urgent,
                   n.object_type, n.object_id, n.created_at
            from notification_deliveries d join notifications n on n.id = d.notification_id
            where d.channel = :channel and d.status = 'pending' and d.not_before <= now()
            order by d.not_before, d.notification_id
            limit :limit
            for update of d skip locked
        """), {"channel": channel, "limit": self.batch_size}).mappings().all()
        if not rows:
            return 0
        outcomes = self._push(connection, rows) if channel == "push" else self._sms(connection, rows)
        self._record(connection, channel, rows, outcomes)
        return len(rows)

    def _in_app(self, connection) -> int:
        connection.execute(text("select pg_advisory_xact_lock(:lock)"), {"lock": IN_APP_LOCK})
        return connection.execute(text(f"""
            with due as (
                select notification_id from notification_deliveries
                where channel = 'in_app' and status = 'pending' and not_before <= now()
                order by notification_id limit :limit for update skip locked
            ), sent as (
                update notification_deliveries d set status = 'sent', sent_at = clock_timestamp(),
                       attempts = d.attempts + 1
                from due where d.notification_id = due.notification_id and d.channel = 'in_app'
                returning d.notification_id
            ), numbered as (
                update notifications n set delivered_seq = nextval('notifications_delivered_seq')
                from sent where n.id = sent.notification_id
                returning n.user_id
            ), woken as (
                select pg_notify('{STREAM_CHANNEL}', user_id::text) from (select distinct user_id from numbered) u
            )
            select (select count(*) from numbered) + 0 * (select count(*) from woken)
        """), {"limit": self.batch_size * 5}).scalar_one()

    def _payload(self, row) -> dict[str, Any]:
        title, body = render(row["kind"], row["params"], self.app.config["GRIDS_NOTIFICATION_LOCALE"])
        return {"id": row["notification_id"], "kind": row["kind"], "title": title, "body": body,
                "object": {"type": row["object_type"], "id": row["object_id"]},
                "created_at": row["created_at"].isoformat(), "urgent": row["urgent"]}

    def _push(self, connection, rows) -> list[tuple[str, str | None]]:
        users = sorted({row["user_id"] for row in rows})
        subscriptions: dict[int, list[dict[str, Any]]] = {}
        for sub in connection.execute(text("""
            select id, user_id, endpoint, p256dh, auth from push_subscriptions where user_id = any(:users)
        """), {"users": users}).mappings():
            subscriptions.setdefault(sub["user_id"], []).append(dict(sub))
        jobs = []
        for row in rows:
            payload = self._payload(row)
            jobs.append([(sub, self.pool.submit(self.push.send, sub, payload, row["urgent"]))
                         for sub in subscriptions.get(row["user_id"], [])])
        outcomes, gone, reached = [], [], []
        for sends in jobs:
            if not sends:
                outcomes.append(("skipped", None))
                continue
            error = None
            for sub, future in sends:
                try:
                    result = future.result()
                except TransientError as failure:
                    error = str(failure)
                    continue
                if result == "gone":
                    gone.append(sub["id"])
                elif result == "sent":
                    reached.append(sub["id"])
                else:
                    error = error or result
            outcomes.append(("retry", error) if error else ("sent", None))
        if gone:  # the browser unsubscribed: forget the subscription
            connection.execute(text("delete from push_subscriptions where id = any(:ids)"), {"ids": gone})
        if reached:
            connection.execute(text("update push_subscriptions set last_success_at = now() where id = any(:ids)"),
                               {"ids": sorted(set(reached))})
        return outcomes

    def _sms(self, connection, rows) -> list[tuple[str, str | None]]:
        # The account's own phone first (a supervisor's), else the member's.
        members = sorted({row["member_id"] for row in rows if row["member_id"]})
        users = sorted({row["user_id"] for row in rows if row["user_id"]})
        phones = {m: decrypt_phone(bytes(p)) for m, p in connection.execute(text(
            "select id, phone_encrypted from members where id = any(:ids) and phone_encrypted is not null"),
            {"ids": members})}
        own = {u: decrypt_phone(bytes(p)) for u, p in connection.execute(text(
            "select id, phone_encrypted from users where id = any(:ids) and phone_encrypted is not null"),
            {"ids": users})}
        futures = []
        for row in rows:
            phone = own.get(row["user_id"]) or phones.get(row["member_id"])
            if phone is None:
                futures.append(None)
                continue
            futures.append(self.pool.submit(self.sms.send, phone, sms_text(row["kind"], row["params"]),
                                            f"n{row['notification_id']}"))
        outcomes = []
        for future in futures:
            if future is None:
                outcomes.append(("skipped", None))
                continue
            try:
                result = future.result()
            except TransientError as failure:
                outcomes.append(("retry", str(failure)))
                continue
            outcomes.append(("sent", None) if result == "sent" else ("retry", result))
        return outcomes

    def _record(self, connection, channel: str, rows, outcomes) -> None:
        ids, statuses, errors, waits = [], [], [], []
        now = datetime.now(UTC)
        for row, (outcome, error) in zip(rows, outcomes, strict=True):
            attempts = row["attempts"] + 1
            if outcome == "retry":
                status = "failed" if attempts >= self.max_attempts else "pending"
            else:
                status = outcome
            ids.append(row["notification_id"])
            statuses.append(status)
            errors.append(error[:200] if error else None)
            waits.append(_retry_wait(row, attempts, now) if outcome == "retry" else 0)
        connection.execute(text("""
            update notification_deliveries d
            set status = r.status, attempts = d.attempts + 1,
                failures = d.failures + case when r.error is not null then 1 else 0 end,
                last_error = coalesce(r.error, d.last_error),
                sent_at = case when r.status = 'sent' then clock_timestamp() end,
                not_before = case when r.status = 'pending' then now() + make_interval(secs => r.wait)
                                  else d.not_before end
            from unnest(cast(:ids as bigint[]), cast(:statuses as text[]), cast(:errors as text[]),
                        cast(:waits as int[])) as r(id, status, error, wait)
            where d.notification_id = r.id and d.channel = :channel
        """), {"ids": ids, "statuses": statuses, "errors": errors, "waits": waits, "channel": channel})
        failed = sum(1 for outcome, _ in outcomes if outcome == "retry")
        if failed:
            log.warning("%s: %d of %d deliveries failed; will retry", channel, failed, len(rows))
