"""Bulk loads into empty tables: their indexes held back while the rows go in, built once after.

Used by the seeders (the territory's households, a first visit history and its rollups).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from core.extensions import db


def _keys_and_indexes(tables: list[str] | tuple[str, ...]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """The primary keys (table, name, definition) and the other indexes (name, definition) of ``tables``."""
    keys = db.session.execute(text("""
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
        where conrelid = any(cast(:tables as regclass[])) and contype = 'p' order by conname
    """), {"tables": list(tables)}).all()
    rows = db.session.execute(text("""
        select c.relname, pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = any(cast(:tables as regclass[])) and not i.indisprimary order by c.relname
    """), {"tables": list(tables)}).all()
    # A partitioned parent's definition reads "ON ONLY visits" (that parent alone); built again, it must reach
    # every partition.
    return ([tuple(key) for key in keys],
            [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in rows])


@contextmanager
def indexes_deferred(tables: list[str] | tuple[str, ...]) -> Iterator[None]:
    """While a bulk load goes into empty ``tables`` (the territory's households, the visits, or the rollups
    of a first history), their primary keys and other indexes are dropped, then built again (one sorted
    build per table or partition instead of millions of scattered insertions: most of a city's load time
    otherwise), in the caller's transaction, so a failure leaves them as they were.  Nothing in between may
    rely on the keys (no ``on conflict``).  Pass no table to keep them (a table that already holds rows)."""
    keys, indexes = _keys_and_indexes(tables) if tables else ([], [])
    for name, _ in indexes:
        db.session.execute(text(f'drop index "{name}"'))
    for table, name, _ in keys:
        db.session.execute(text(f'alter table {table} drop constraint "{name}"'))
    yield
    for table, name, definition in keys:
        db.session.execute(text(f'alter table {table} add constraint "{name}" {definition}'))
    for _, definition in indexes:
        db.session.execute(text(definition))
