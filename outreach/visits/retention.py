"""Visit retention: monthly partitions older than a configurable age are archived to a compressed
file and then detached and dropped; an archive can be loaded back.

This is a service module (it commits).  ``archive_old_visit_partitions`` is what a periodic job
calls; ``flask visits archive`` and ``flask visits load-archive`` are the command-line faces.

An archive is one gzip file ``visits_YYYY_MM.archive.gz``: a first line of JSON (format,
partition, bounds, row counts, columns, checksum of the data lines), then the partition's rows in
PostgreSQL's COPY text format ending with ``\\.``, then the same visits' idempotency keys
(``visit_keys``) likewise.  The file is written, flushed to disk and read back (row count and
checksum) before the partition is touched.  Rollups are aggregates and are kept, so reports of
archived months stay as they were; loading an archive back restores the visit rows and keys.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from core.errors import Conflict, Invalid
from core.extensions import db

FORMAT = "grids-visit-archive/1"
END = b"\\.\n"
PARTITION_NAME = re.compile(r"^visits_(\d{4})_(\d{2})$")


@dataclass
class ArchivedPartition:
    """One partition archived (or, with ``dry_run``, that would be)."""

    partition: str
    month: date
    visits: int
    keys: int
    path: Path | None


def archive_directory() -> Path:
    """Where archives are written (``GRIDS_ARCHIVE_DIR``)."""
    return Path(current_app.config["GRIDS_ARCHIVE_DIR"])


def _month_start(today: date, months_back: int) -> date:
    year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
    return date(year, month + 1, 1)


def partitions_older_than(months: int, today: date | None = None) -> list[tuple[str, date]]:
    """Visit partitions whose whole month ended more than ``months`` full months before this one."""
    cutoff = _month_start(today or datetime.now(UTC).date(), months)
    names = db.session.scalars(text(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'visits'::regclass order by c.relname")).all()
    old = []
    for name in names:
        match = PARTITION_NAME.match(name)
        if match:
            month = date(int(match[1]), int(match[2]), 1)
            if month < cutoff:
                old.append((name, month))
    return old


def archive_old_visit_partitions(older_than_months: int | None = None, directory: Path | None = None,
                                 dry_run: bool = False,
                                 progress: Callable[[str], None] | None = None) -> list[ArchivedPartition]:
    """Archive, then detach and drop, every visit partition older than ``older_than_months``
    (default ``GRIDS_VISIT_RETENTION_MONTHS``).  Returns what was archived, oldest first."""
    months = older_than_months if older_than_months is not None \
        else current_app.config["GRIDS_VISIT_RETENTION_MONTHS"]
    # Never archive a month phones may still send visits for (the sync window).
    window_months = current_app.config["GRIDS_VISIT_WINDOW_DAYS"] // 28 + 1
    if months < window_months:
        raise Invalid(errors={"older_than_months": [
            f"Must be at least {window_months}: visits of younger months may still arrive."]})
    directory = directory or archive_directory()
    done = []
    for name, month in partitions_older_than(months):
        if dry_run:
            visits = db.session.scalar(text(f'select count(*) from "{name}"'))
            done.append(ArchivedPartition(name, month, visits, 0, None))
            continue
        done.append(_archive_partition(name, month, directory))
        if progress is not None:
            progress(name)
    return done


def _copy_out(cursor, query: str, sink, digest) -> int:
    rows = 0
    with cursor.copy(f"copy ({query}) to stdout") as copy:
        for chunk in copy:
            data = bytes(chunk)
            sink.write(data)
            digest.update(data)
            rows += data.count(b"\n")
    sink.write(END)
    return rows


def _columns(table: str) -> list[str]:
    return db.session.scalars(text(
        "select attname from pg_attribute where attrelid = cast(:t as regclass) and attnum > 0 "
        "and not attisdropped order by attnum"), {"t": table}).all()


def _archive_partition(name: str, month: date, directory: Path) -> ArchivedPartition:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.archive.gz"
    partial = path.with_name(path.name + ".partial")
    visit_columns, key_columns = _columns("visits"), _columns("visit_keys")
    connection = db.session.connection()
    # One snapshot for the counts and both copies; the partition is locked against writes meanwhile.
    connection.execute(text(f'lock table "{name}" in share mode'))
    counts = connection.execute(text(
        f'select (select count(*) from "{name}"), '
        f'(select count(*) from visit_keys k join "{name}" v on k.county_code = v.county_code and k.id = v.id)'
    )).one()
    header = {"format": FORMAT, "partition": name, "month": month.isoformat(), "visits": counts[0],
              "keys": counts[1], "visit_columns": visit_columns, "key_columns": key_columns,
              "archived_at": datetime.now(UTC).isoformat()}
    cursor = connection.connection.driver_connection.cursor()
    visit_digest, key_digest = hashlib.sha256(), hashlib.sha256()
    # The checksums go after the data (a gzip stream cannot be rewritten in place): a trailer line.
    with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as sink:
        sink.write(json.dumps(header, ensure_ascii=False).encode() + b"\n")
        visits = _copy_out(cursor, f'select {", ".join(visit_columns)} from "{name}"', sink, visit_digest)
        keys = _copy_out(cursor, "select " + ", ".join(f"k.{c}" for c in key_columns)
                         + f' from visit_keys k join "{name}" v on k.county_code = v.county_code and k.id = v.id',
                         sink, key_digest)
        sink.write(json.dumps({"visits_sha256": visit_digest.hexdigest(),
                               "keys_sha256": key_digest.hexdigest()}).encode() + b"\n")
        sink.flush()
        raw.flush()
        os.fsync(raw.fileno())
    if (visits, keys) != tuple(counts):
        partial.unlink()
        raise Conflict(_l("The archive of %(name)s did not hold every row; nothing was detached.", name=name))
    _verify(partial)  # read back from disk before anything is dropped
    os.replace(partial, path)
    connection.execute(text(
        f'delete from visit_keys k using "{name}" v where k.county_code = v.county_code and k.id = v.id'))
    connection.execute(text(f'alter table visits detach partition "{name}"'))
    connection.execute(text(f'drop table "{name}"'))
    db.session.commit()
    return ArchivedPartition(name, month, visits, keys, path)


def _scan(path: Path, start_section: Callable[[dict, int], Callable[[bytes], None] | None] | None = None) -> dict:
    """Stream an archive, checking its counts and checksums; ``start_section(header, n)`` may return
    a function that receives section ``n``'s lines (0: visits, 1: keys).  Returns the header."""
    try:
        with gzip.open(path, "rb") as source:
            header = json.loads(source.readline())
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError("not a visit archive")
            counts, digests = [], []
            for section in range(2):
                sink = start_section(header, section) if start_section else None
                digest, rows = hashlib.sha256(), 0
                for line in source:
                    if line == END:
                        break
                    digest.update(line)
                    rows += 1
                    if sink is not None:
                        sink(line)
                else:
                    raise ValueError("truncated")
                counts.append(rows)
                digests.append(digest.hexdigest())
            trailer = json.loads(source.readline())
    except (OSError, ValueError, EOFError, KeyError) as error:
        raise Invalid(errors={"file": [f"Not a readable visit archive ({error.__class__.__name__})."]}) from None
    if counts != [header["visits"], header["keys"]] \
            or digests != [trailer.get("visits_sha256"), trailer.get("keys_sha256")]:
        raise Invalid(errors={"file": ["The archive's rows do not match its counts or checksums."]})
    return header


def _verify(path: Path) -> None:
    _scan(path)


def load_visit_archive(path: Path) -> ArchivedPartition:
    """Load an archive back: its month's partition is recreated (it must be empty) with the visits
    and their idempotency keys.  Nothing is committed unless the whole archive checks out."""
    path = Path(path)
    connection = db.session.connection()
    cursor = connection.connection.driver_connection.cursor()
    copies = ExitStack()  # the COPY of the section being read

    def start_section(header: dict, section: int):
        copies.close()  # ends the previous section's COPY
        name = header.get("partition", "")
        if not PARTITION_NAME.match(name):
            raise ValueError("unexpected partition name")
        if section == 0:
            connection.execute(text("select ensure_visit_partition(:m)"), {"m": date.fromisoformat(header["month"])})
            if connection.execute(text(f'select exists (select from "{name}")')).scalar():
                raise Conflict(_l("Partition %(name)s already holds visits; the archive was not loaded.", name=name))
            target = f'"{name}" ({", ".join(header["visit_columns"])})'
        else:
            connection.execute(text("create temporary table archived_keys (like visit_keys) on commit drop"))
            target = f'archived_keys ({", ".join(header["key_columns"])})'
        return copies.enter_context(cursor.copy(f"copy {target} from stdin")).write

    try:
        with copies:
            header = _scan(path, start_section)
    except BaseException:
        db.session.rollback()  # a failed check ends the COPY in error (the with) and undoes everything
        raise
    connection.execute(text("insert into visit_keys select * from archived_keys on conflict do nothing"))
    db.session.commit()
    return ArchivedPartition(header["partition"], date.fromisoformat(header["month"]), header["visits"],
                             header["keys"], path)
