"""Test fixtures: a real PostGIS database, migrated once per session, seeded at a small
scale; every test runs inside a transaction that is rolled back afterwards."""
from __future__ import annotations

import os

import flask_migrate
import psycopg
import pytest
from sqlalchemy.engine import make_url

from app import create_app
from config import LOCAL_DATABASE_URL
from core.extensions import db
from grids.seed import seed_ankang

TEST_SCALE = 0.01
TEST_SEED = 7


def _test_database_url() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    base = os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL.format(port=os.environ.get("GRIDS_PG_PORT",
                                                                                              "54329"))
    url = make_url(base)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


def _recreate_database(url: str) -> None:
    """Drop and create the test database, with PostGIS, so every session starts clean."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{parsed.database}" with (force)')
        connection.execute(f'create database "{parsed.database}"')
    target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target, autocommit=True) as connection:
        connection.execute("create extension if not exists postgis")


@pytest.fixture(scope="session")
def app():
    url = _test_database_url()
    _recreate_database(url)
    application = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with application.app_context():
        flask_migrate.upgrade()
        seed_ankang(scale=TEST_SCALE, seed=TEST_SEED)
        db.session.remove()
    return application


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
        db.session = db._make_scoped_session({"bind": connection, "join_transaction_mode": "create_savepoint"})
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def client(app):
    return app.test_client()
