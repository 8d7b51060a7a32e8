"""Backup and restore: a seeded database with visits is dumped (the ``make backup`` command), dropped,
restored (``make restore``), and every table, visits, households and rollups included, comes back equal."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.backup import BackupError, backup, restore

ROOT = Path(__file__).resolve().parent.parent


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the sorted rows of every table (each visit partition on its own)."""
    with psycopg.connect(_plain(url)) as connection:
        tables = [row[0] for row in connection.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind = 'r' and c.relname <> 'spatial_ref_sys' order by 1")]
        return {table: connection.execute(
            f'select count(*), coalesce(md5(string_agg(t::text, \'|\' order by t::text)), \'\') from "{table}" t'
        ).fetchone() for table in tables}


def _drop(url: str) -> None:
    parsed = make_url(url)
    with psycopg.connect(_plain(parsed.set(database="postgres").render_as_string(hide_password=False)),
                         autocommit=True) as connection:
        connection.execute(f'drop database if exists "{parsed.database}" with (force)')


def _exists(url: str) -> bool:
    parsed = make_url(url)
    with psycopg.connect(_plain(parsed.set(database="postgres").render_as_string(hide_password=False))) as connection:
        return connection.execute("select 1 from pg_database where datname = %s", (parsed.database,)).fetchone() \
            is not None


@pytest.fixture
def scratch(app, tmp_path):
    """A copy of the seeded test database with a few days of visits, in a database of its own."""
    source = app.config["SQLALCHEMY_DATABASE_URI"]
    parsed = make_url(source)
    url = parsed.set(database=f"{parsed.database}_backup").render_as_string(hide_password=False)
    seed_dump, _seconds = backup(source, tmp_path / "seed")
    restore(url, seed_dump)
    env = {**os.environ, "FLASK_APP": "app:create_app", "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "flask", "seed", "visits", "--days", "5"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)
    yield url, env
    _drop(url)


def test_backup_drop_restore_gives_back_every_row(scratch, tmp_path):
    url, env = scratch
    before = _fingerprint(url)
    assert before["households"][0] > 0 and before["village_day_counts"][0] > 0
    assert sum(count for table, (count, _) in before.items() if table.startswith("visits_")) > 0
    assert before["household_visit_days"][0] > 0 and before["grid_coverage"][0] > 0

    made = subprocess.run([sys.executable, "scripts/backup.py", "backup", "--dir", str(tmp_path / "backups")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    dump = Path(made.stdout.strip().splitlines()[-1])
    assert dump.exists() and dump.parent == tmp_path / "backups" and oct(dump.stat().st_mode)[-3:] == "600"

    _drop(url)
    assert not _exists(url)
    restored = subprocess.run([sys.executable, "scripts/backup.py", "restore", str(dump), "--yes"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
    assert restored.returncode == 0, restored.stderr

    assert _fingerprint(url) == before
    # The restored database is usable by the application (migrations at head, PostGIS working).
    check = subprocess.run([sys.executable, "-m", "flask", "db", "current"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert "(head)" in check.stdout, check.stdout + check.stderr


def test_an_unreadable_backup_is_refused_before_anything_is_dropped(app, tmp_path):
    parsed = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    url = parsed.set(database=f"{parsed.database}_untouched").render_as_string(hide_password=False)
    _drop(url)
    with psycopg.connect(_plain(parsed.set(database="postgres").render_as_string(hide_password=False)),
                         autocommit=True) as connection:
        connection.execute(f'create database "{parsed.database}_untouched"')
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("create table kept (id int); insert into kept values (1)")
    bogus = tmp_path / "bogus.dump"
    bogus.write_bytes(b"PGDMP but not really")
    try:
        with pytest.raises(BackupError):
            restore(url, bogus)
        assert _fingerprint(url)["kept"][0] == 1
    finally:
        _drop(url)
