"""Test fixtures: a real PostGIS database, migrated once per session, seeded at a small
scale; every test runs inside a transaction that is rolled back afterwards."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import flask_migrate
import psycopg
import pytest
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from config import LOCAL_DATABASE_URL
from core.extensions import db, limiter
from grids.accounts.services import ensure_admin
from grids.seed import seed_ankang
from tests.helpers import bearer

TEST_SCALE = 0.01
TEST_SEED = 7
ADMIN_PASSWORD = "admin-test-password"


def _test_database_url() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    base = os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL.format(port=os.environ.get("GRIDS_PG_PORT",
                                                                                              "54329"))
    url = make_url(base)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


def _recreate_database(url: str, template: str | None = None) -> None:
    """Drop and create a database: empty with PostGIS (every session starts clean), or a copy of the
    database named ``template``."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{parsed.database}" with (force)')
        connection.execute(f'create database "{parsed.database}"' + (f' template "{template}"' if template else ""))
    if template is None:
        target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(target, autocommit=True) as connection:
            connection.execute("create extension if not exists postgis")


@pytest.fixture(scope="session")
def app():
    url = _test_database_url()
    _recreate_database(url)
    # Limits per account and address are process-wide: tests that check them lower them.
    application = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True,
                              "GRIDS_SYNC_RATE_LIMIT": "100000 per minute",
                              "GRIDS_LOGIN_RATE_LIMIT": "100000 per minute",
                              "GRIDS_LOGIN_ADDRESS_RATE_LIMIT": "100000 per minute",
                              # Visits are placed at any hour of the day by the tests; the night
                              # window of implausible_pace is turned on by the tests of that flag.
                              "GRIDS_PACE_NIGHT_HOURS": None,
                              # a notification stream read through the test client ends after a second
                              "GRIDS_SSE_MAX_SECONDS": 1, "GRIDS_SSE_HEARTBEAT_SECONDS": 0.5})
    with application.app_context():
        flask_migrate.upgrade()
        seed_ankang(scale=TEST_SCALE, seed=TEST_SEED)
        ensure_admin(ADMIN_PASSWORD, application.config["GRIDS_CITY_CODE"])
        db.session.remove()
        db.engine.dispose()  # a template copy needs the source database idle
    # Copies of the seeded database for tests that need a real server: live_server, and
    # writable_server, which generated clients may change at will.
    for suffix in ("live", "writable"):
        _recreate_database(_live_database_url(url, suffix), template=make_url(url).database)
    return application


def _live_database_url(url: str, suffix: str = "live") -> str:
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(app, url: str, log: Path, visits_days: int = 0, **settings: str):
    """gunicorn serving the app on a free local port against the database at ``url`` (after ``visits_days``
    days of generated visits; ``settings`` added to its environment): a fixture body yielding the server's
    description, then stopping it."""
    port = _free_port()
    root = Path(__file__).resolve().parent.parent
    # The default sign-in limits (only failures count), held across the workers by the database.
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": app.config["SECRET_KEY"], "GRIDS_LOG_FORMAT": "text"}
    for name in ("GRIDS_LOGIN_RATE_LIMIT", "GRIDS_LOGIN_ADDRESS_RATE_LIMIT", "GRIDS_RATELIMIT_STORAGE"):
        env.pop(name, None)
    # Browser tests enter visits at the machine's clock, whatever the hour: no night window.
    env["GRIDS_PACE_NIGHT_HOURS"] = ""
    # push subscriptions may point at a local fake push service (plain http)
    env["GRIDS_PUSH_ALLOW_HTTP"] = "1"
    if app.config.get("GRIDS_PHONE_KEY"):
        env["GRIDS_PHONE_KEY"] = app.config["GRIDS_PHONE_KEY"]
    env.update(settings)
    if visits_days:
        # Visits through the sync service, so maps, lists and flags have something to show.
        subprocess.run([sys.executable, "-m", "flask", "seed", "visits", "--days", str(visits_days)], cwd=root,
                       check=True, env={**env, "FLASK_APP": "app:create_app"}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
             "app:create_app()"],
            cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine boots workers slowly
        while True:
            try:
                with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the live server did not start; see {log}") from None
                time.sleep(0.2)
        yield SimpleNamespace(url=base, log=log, username="admin", password=ADMIN_PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def live_server(app, tmp_path_factory):
    """gunicorn serving the app on 127.0.0.1 against a copy of the seeded test database,
    with 30 days of generated visits.

    For clients that must speak real HTTP (a browser, GDAL).  The per-test rollback does
    not reach it: what it writes stays in its own copy, never in the test database.
    """
    url = _live_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    yield from _serve(app, url, tmp_path_factory.mktemp("live_server") / "gunicorn.log", visits_days=30)


@pytest.fixture(scope="session")
def writable_server(app, tmp_path_factory):
    """Like ``live_server``, on a copy of its own with no generated visits: for clients that write at
    random (generated requests may deactivate members, change the scorecard...), which must not disturb
    the tests sharing ``live_server``."""
    url = _live_database_url(app.config["SQLALCHEMY_DATABASE_URI"], "writable")
    # (a notification stream read by a generated client ends after a second)
    yield from _serve(app, url, tmp_path_factory.mktemp("writable_server") / "gunicorn.log",
                      GRIDS_SSE_MAX_SECONDS="1", GRIDS_SSE_HEARTBEAT_SECONDS="0.5")


@pytest.fixture(autouse=True)
def db_session(app):
    """Bind the session to one connection whose outer transaction is rolled back.

    Services commit as usual; with ``create_savepoint`` their commits release
    savepoints inside the outer transaction, so nothing outlives the test.
    """
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        # A plain Session: Flask-SQLAlchemy's own picks the engine per table and would
        # bypass the connection (and so the rollback).
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        db.session = scoped_session(factory, scopefunc=_app_ctx_id)
        try:
            yield db.session
        finally:
            limiter.reset()  # the counters live in the database (their own connection): start each test afresh
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def anonymous_client(app):
    """A client that sends no token."""
    return app.test_client()


@pytest.fixture
def client(app, db_session):
    """A client signed in as the seeded city administrator ``admin``."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = bearer(app, "admin")
    return test_client
