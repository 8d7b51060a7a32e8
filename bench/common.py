"""Shared set-up of the benchmarks: a scratch database in the same server, migrated."""
from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import flask_migrate
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from config import LOCAL_DATABASE_URL  # noqa: E402
from core.extensions import lift_statement_timeout  # noqa: E402
from grids.cli import run_seed  # noqa: E402
from grids.queries import database_is_empty  # noqa: E402

BENCH_SEED = 20241


def seeded_bench_app(console):
    """The scratch database ``grids_bench`` with the full reference data set, seeded on first use."""
    app = bench_app("grids_bench", recreate=False)
    with app.app_context():
        if database_is_empty():
            console.print("seeding the full reference data set into grids_bench first ...")
            run_seed(1.0, BENCH_SEED, reset=False, console=console)
    return app


def bench_app(database: str = "grids_bench", recreate: bool = True):
    """An app bound to a scratch database ``database`` on the configured server."""
    base = os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL.format(port=os.environ.get("GRIDS_PG_PORT",
                                                                                              "54329"))
    url = make_url(base).set(database=database)
    plain = url.set(drivername="postgresql")
    admin = plain.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if recreate and exists:
            connection.execute(f'drop database "{database}" with (force)')
        if recreate or not exists:  # a fresh clone has no scratch database yet: make it
            connection.execute(f'create database "{database}"')
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute("create extension if not exists postgis")
    # Tokens are minted before the accounts' set-up, which can outlast an access token's 15 minutes on a
    # loaded machine (argon2 for every worker account): they live for the whole benchmark.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                      "JWT_ACCESS_TOKEN_EXPIRES": timedelta(hours=6)})
    with app.app_context():
        lift_statement_timeout()  # seeding and baselines are batch work (the timeout guards web requests)
        flask_migrate.upgrade()
    return app


def timed(function, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs of ``function``, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result
