"""Logical backups with PostgreSQL's own tools: ``pg_dump`` (custom format, compressed) and
``pg_restore`` into a database recreated from nothing.

A backup is one consistent snapshot of the whole database (every table, partition, index
definition, sequence and the PostGIS extension), taken while the service runs.  The recovery
point is the moment the backup started; restoring drops and recreates the database, so the
service should be stopped first (its connections are closed).  See README "Backup and restore".
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

RESTORE_JOBS = 2  # pg_restore loads tables and builds indexes in parallel


class BackupError(RuntimeError):
    """A backup or restore step failed; the message names the step."""


def _plain(url: str):
    return make_url(url).set(drivername="postgresql")


def _libpq_env(url: str) -> tuple[dict[str, str], str]:
    """Environment for the PostgreSQL tools (password never on the command line), and the database name."""
    parsed = _plain(url)
    env = {**os.environ, "PGHOST": parsed.host or "127.0.0.1", "PGPORT": str(parsed.port or 5432),
           "PGUSER": parsed.username or "postgres"}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return env, parsed.database


def tool(name: str, url: str) -> str:
    """The ``pg_dump``/``pg_restore`` matching the server's major version (Debian keeps one per version)."""
    server = _plain(url).set(database="postgres")  # the database itself may not exist (a restore)
    with psycopg.connect(server.render_as_string(hide_password=False), connect_timeout=5) as connection:
        major = int(connection.execute("show server_version_num").fetchone()[0]) // 10000
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    # The server's own version, else the newest (a newer pg_dump reads older servers).
    for path in candidates:
        if Path(path).parts[-3] == str(major):
            return path
    if candidates and int(Path(candidates[-1]).parts[-3]) >= major:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(f"{name} for PostgreSQL {major} not found (Debian package postgresql-client-{major})")


def backup(url: str, directory: Path) -> tuple[Path, float]:
    """Dump the database at ``url`` into ``directory``; returns the file and the seconds it took."""
    env, database = _libpq_env(url)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = directory / f"{database}-{stamp}.dump"
    partial = target.with_name(target.name + ".partial")
    started = time.perf_counter()
    result = subprocess.run([tool("pg_dump", url), "--format=custom", "--compress=6", "--no-owner",
                             "--file", str(partial), database], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    # A dump whose table of contents cannot be read is no backup: check before calling it one.
    listed = subprocess.run([tool("pg_restore", url), "--list", str(partial)], env=env, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the dump cannot be read back: {listed.stderr.strip()}")
    os.chmod(partial, 0o600)  # phones are encrypted, but names and addresses are personal data
    os.replace(partial, target)
    return target, time.perf_counter() - started


def restore(url: str, dump: Path, jobs: int = RESTORE_JOBS) -> float:
    """Drop the database at ``url`` (closing its connections), recreate it and load ``dump`` into it.

    Returns the seconds it took.  Fails without touching the database when the dump is unreadable.
    """
    env, database = _libpq_env(url)
    dump = Path(dump)
    restore_tool = tool("pg_restore", url)
    listed = subprocess.run([restore_tool, "--list", str(dump)], env=env, capture_output=True, text=True)
    if listed.returncode != 0:
        raise BackupError(f"not a readable backup: {listed.stderr.strip()}")
    started = time.perf_counter()
    admin = _plain(url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{database}" with (force)')
        connection.execute(f'create database "{database}"')
    result = subprocess.run([restore_tool, "--no-owner", "--exit-on-error", f"--jobs={jobs}", "--dbname", database,
                             str(dump)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    with psycopg.connect(_plain(url).render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute("analyze")  # planner statistics are not in a dump
    return time.perf_counter() - started
