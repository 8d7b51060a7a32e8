"""A PostgreSQL storage for the request limits (``limits`` / flask-limiter), so sign-in, OGC
Basic and sync limits hold across every gunicorn worker and host that share the database.

flask-limiter ships no PostgreSQL storage.  This one implements the fixed window the app's
limits use: one row per key in the UNLOGGED table ``rate_limits`` (migration 0012), counted with
a single ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, so concurrent workers never lose a hit.
Each thread keeps its own autocommit connection (a hit must not wait for, or roll back with, the
request's transaction).  Why not a project-local Redis: see docs/decisions.md.

URI: ``postgresql-limits://user:password@host:port/database``; ``GRIDS_RATELIMIT_STORAGE`` unset
means the application's own database.
"""
from __future__ import annotations

import os
import random
import threading
import time

import psycopg
from limits.storage import Storage

SCHEME = "postgresql-limits"


def storage_uri(database_url: str) -> str:
    """The limits URI for a SQLAlchemy database URL (``postgresql+psycopg://…``)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername=SCHEME)
    return url.render_as_string(hide_password=False)


class PostgresStorage(Storage):
    """Fixed-window counters in PostgreSQL."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._conninfo = "postgresql" + uri[len(SCHEME):]
        self._local = threading.local()

    @property
    def base_exceptions(self):
        return psycopg.Error

    def _connection(self) -> psycopg.Connection:
        connection = getattr(self._local, "connection", None)
        # A forked worker must not share its parent's socket; a broken connection is replaced.
        if connection is None or connection.closed or getattr(self._local, "pid", None) != os.getpid():
            connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3,
                                         options="-c statement_timeout=2000")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def _execute(self, sql: str, params: tuple = ()):
        try:
            return self._connection().execute(sql, params)
        except psycopg.OperationalError:
            self._local.connection = None  # reconnect once (server restarted, idle timeout)
            return self._connection().execute(sql, params)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` hits to ``key``'s window (a new window of ``expiry`` seconds once it has ended)."""
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            self._execute("delete from rate_limits where expires_at < now() - interval '1 minute'")
        row = self._execute("""
            insert into rate_limits as r (key, hits, expires_at)
            values (%s, %s, clock_timestamp() + make_interval(secs => %s))
            on conflict (key) do update set
                hits = case when r.expires_at <= clock_timestamp() then excluded.hits else r.hits + excluded.hits end,
                expires_at = case when r.expires_at <= clock_timestamp() then excluded.expires_at else r.expires_at end
            returning hits
        """, (key, amount, float(expiry))).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        """Hits in ``key``'s current window."""
        row = self._execute("select hits from rate_limits where key = %s and expires_at > clock_timestamp()",
                            (key,)).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends (epoch seconds)."""
        row = self._execute("select extract(epoch from expires_at) from rate_limits where key = %s "
                            "and expires_at > clock_timestamp()", (key,)).fetchone()
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            self._execute("select 1")
            return True
        except psycopg.Error:
            return False

    def reset(self) -> int | None:
        """Forget every counter."""
        return self._execute("delete from rate_limits").rowcount

    def clear(self, key: str) -> None:
        """Forget ``key``'s counter."""
        self._execute("delete from rate_limits where key = %s", (key,))
