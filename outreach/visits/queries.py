"""SQL of visits: partitions, keys, the sync batch and its flags, lists.

Every sync runs a fixed number of statements whatever the batch size: the batch
travels as arrays (``unnest``) or through one temporary table.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, any_, func, literal, select, text
from sqlalchemy.orm import undefer

from core.clock import LOCAL_DAY
from core.extensions import db
from outreach.visits.models import Visit
from outreach.visits.sync import HeldCell, KnownHousehold, StoredKey, StoredVisit

# The outside_grid rule for a staged visit ``b`` (lon, lat) and the cell ``g`` it names: neither inside the
# cell nor within :tolerance metres of it. One text for the sync and the bulk history.
OUTSIDE_CELL = """not ST_Covers(g.boundary, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326))
          and not ST_DWithin(g.boundary::geography, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326)::geography,
                             :tolerance)"""


def ensure_partitions(months: list[date]) -> None:
    """Create the monthly partitions of ``visits`` that these months need."""
    for month in sorted(set(months)):
        db.session.execute(text("select ensure_visit_partition(:m)"), {"m": month})


def existing_keys(counties: list[str], ids: list[str]) -> dict[str, StoredKey]:
    """Stored keys among (county, id) pairs, by id, with the member who stored each."""
    rows = db.session.execute(text("""
        select k.id::text, k.content_hash, k.household_id, k.flags,
               (select v.member_id from visits v
                where v.county_code = k.county_code and v.id = k.id and v.visited_at = k.visited_at)
        from unnest(cast(:counties as text[]), cast(:ids as uuid[])) as p(county, id)
        join visit_keys k on k.county_code = p.county and k.id = p.id
    """), {"counties": counties, "ids": ids})
    return {row[0]: StoredKey(row[1], row[2], list(row[3] or []), row[4]) for row in rows}


def households_for_visits(ids: list[int]) -> dict[int, KnownHousehold]:
    """Households not removed, wherever they are, by id.

    Unscoped: the caller decides access (the account's scope, or the member's cells).
    """
    rows = db.session.execute(text("""
        select id, grid_code, village_code, cardinality(tags) > 0 from households
        where id = any(:ids) and removed_at is null
    """), {"ids": ids})
    return {row[0]: KnownHousehold(row[1], row[2], row[3]) for row in rows}


def assignments_since(member_ids: list[int], since: datetime) -> list[HeldCell]:
    """The members' assignments current or ended after ``since``."""
    rows = db.session.execute(text("""
        select member_id, grid_code, valid_from, valid_to from assignments
        where member_id = any(:members) and (valid_to is null or valid_to > :since)
    """), {"members": member_ids, "since": since})
    return [HeldCell(*row) for row in rows]


def members_visits_between(member_ids: list[int], start: datetime, end: datetime) -> list[StoredVisit]:
    """Stored visits of these members in a window, by member and time."""
    rows = db.session.execute(text(f"""
        select member_id, visited_at, ST_X(location), ST_Y(location), household_id, {LOCAL_DAY}
        from visits where member_id = any(:members) and visited_at between :start and :end
        order by member_id, visited_at
    """), {"members": member_ids, "start": start, "end": end})
    return list(map(StoredVisit._make, rows))


def insert_new_households(rows: list[dict[str, Any]]) -> tuple[dict[str, int], list[tuple[str, bool]]]:
    """Create households found in the field (idempotent on the visit id).

    Returns visit id → household id for all of them, and (cell, vulnerable) of the
    ones actually created now (a retry creates none).
    """
    if not rows:
        return {}, []
    params = {key: [row[key] for row in rows] for key in
              ("visit_id", "county", "grid", "village", "lon", "lat", "address", "residents", "tags")}
    params["tags"] = ["{" + ",".join(t) + "}" for t in params["tags"]]
    inserted = db.session.execute(text("""
        insert into households (county_code, grid_code, village_code, location, address, residents, tags,
                                source_visit_id)
        select county, grid, village, ST_SetSRID(ST_MakePoint(lon, lat), 4326), address, residents,
               cast(tags as varchar(20)[]), cast(visit_id as uuid)
        from unnest(cast(:visit_id as text[]), cast(:county as text[]), cast(:grid as text[]),
                    cast(:village as text[]), cast(:lon as float8[]), cast(:lat as float8[]),
                    cast(:address as text[]), cast(:residents as int[]), cast(:tags as text[]))
             as t(visit_id, county, grid, village, lon, lat, address, residents, tags)
        on conflict (county_code, source_visit_id) where source_visit_id is not null do nothing
        returning grid_code, cardinality(tags) > 0
    """), params).all()
    found = db.session.execute(text("""
        select source_visit_id::text, id from households
        where county_code = any(:counties) and source_visit_id = any(cast(:ids as uuid[]))
    """), {"counties": sorted(set(params["county"])), "ids": params["visit_id"]})
    return dict(found.all()), [(row[0], row[1]) for row in inserted]


BATCH_COLUMNS = ("id", "key_county", "county_code", "visited_at", "household_id", "grid_code", "village_code",
                 "member_id", "username", "outcome", "lon", "lat", "raw_lon", "raw_lat", "crs", "accuracy_m",
                 "mocked", "topics", "app_installed", "residents_reached", "vulnerable_reached", "notes", "flags",
                 "new_household", "vulnerable", "hash")
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_ESCAPES)


def _number(value: float | int | None) -> str:
    return "\\N" if value is None else repr(value)


def _flag(value: bool | None) -> str:
    return "\\N" if value is None else ("t" if value else "f")


def _copy_line(row: dict[str, Any]) -> str:
    """One staged visit in PostgreSQL's COPY text format (columns as in BATCH_COLUMNS)."""
    return (f"{row['id']}\t{row['key_county']}\t{row['county_code']}\t{row['visited_at'].isoformat()}\t"
            f"{row['household_id']}\t{row['grid_code']}\t{row['village_code']}\t{row['member_id']}\t"
            f"{_text(row['username'])}\t{row['outcome']}\t{_number(row['lon'])}\t{_number(row['lat'])}\t"
            f"{_number(row['raw_lon'])}\t{_number(row['raw_lat'])}\t{row['crs']}\t{_number(row['accuracy_m'])}\t"
            f"{_flag(row['mocked'])}\t{{{','.join(row['topics'])}}}\t{_flag(row['app_installed'])}\t"
            f"{_number(row['residents_reached'])}\t{_number(row['vulnerable_reached'])}\t{_text(row['notes'])}\t"
            f"{{{','.join(row['flags'])}}}\t{_flag(row['new_household'])}\t{_flag(row['vulnerable'])}\t"
            f"{row['hash']}\n")


BATCH_TABLE_COLUMNS = """
    id uuid, key_county text, county_code text, visited_at timestamptz, household_id bigint,
    grid_code text, village_code text, member_id int, username text, outcome text, lon float8, lat float8,
    raw_lon float8, raw_lat float8, crs text, accuracy_m float8, mocked boolean, topics varchar(40)[],
    app_installed boolean, residents_reached int, vulnerable_reached int, notes text, flags varchar(20)[],
    new_household boolean, vulnerable boolean, hash text
"""


def ensure_batch_table() -> None:
    """The per-connection temporary table a sync stages its visits in (emptied by every commit)."""
    db.session.execute(text(f"create temporary table if not exists sync_batch ({BATCH_TABLE_COLUMNS}) "
                            "on commit delete rows"))


def create_history_staging(table: str) -> None:
    """An unlogged table shaped like ``sync_batch`` (the hash replaced by ``far``: a point likely outside)."""
    columns = BATCH_TABLE_COLUMNS.replace("hash text", "far boolean")
    db.session.execute(text(f"drop table if exists {table}"))
    db.session.execute(text(f"create unlogged table {table} ({columns})"))


def store_history(table: str, tolerance_m: float) -> None:
    """Flag, key and store a bulk history staged in ``table`` (set-based: a few statements in all)."""
    db.session.execute(text(f"analyze {table}"))
    # The sync's outside_grid rule, asked only of the points drawn away from their household.
    db.session.execute(text(f"""
        update {table} b set flags = b.flags || cast('{{outside_grid}}' as varchar(20)[])
        from grids g
        where b.far and g.code = b.grid_code and {OUTSIDE_CELL}
    """), {"tolerance": tolerance_m})
    db.session.execute(text(f"""
        insert into visit_keys (county_code, id, content_hash, visited_at, household_id, flags)
        select key_county, id, md5(id::text || ':' || household_id || ':' || outcome), visited_at, household_id,
               flags
        from {table} b
    """))
    db.session.execute(text(f"""
        insert into visits (county_code, id, visited_at, household_id, grid_code, village_code, member_id, username,
                            outcome, location, raw_lon, raw_lat, crs, accuracy_m, mocked, topics, app_installed,
                            residents_reached, vulnerable_reached, notes, flags, new_household)
        select county_code, id, visited_at, household_id, grid_code, village_code, member_id, username, outcome,
               ST_SetSRID(ST_MakePoint(lon, lat), 4326), raw_lon, raw_lat, crs, accuracy_m, mocked, topics,
               app_installed, residents_reached, vulnerable_reached, notes, flags, new_household
        from {table} order by visited_at
    """))


def visits_stored() -> bool:
    """Whether any visit (or its key) is stored."""
    return db.session.execute(text(
        "select exists (select from visit_keys) or exists (select from visits)")).scalar()


def renew_empty_tables(tables: list[str]) -> None:
    """Truncate tables known to be empty: new files in this transaction, so that on a cluster with
    ``wal_level = minimal`` (the project-local one) a bulk load into them writes no WAL."""
    db.session.execute(text(f"truncate {', '.join(tables)}"))


def stage_history_for_rollups(table: str) -> None:
    """Put a stored bulk history into ``sync_batch``, for the sync's own rollup fold."""
    ensure_batch_table()
    db.session.execute(text("delete from sync_batch"))
    db.session.execute(text(f"""
        insert into sync_batch select id, key_county, county_code, visited_at, household_id, grid_code, village_code,
               member_id, username, outcome, lon, lat, raw_lon, raw_lat, crs, accuracy_m, mocked, topics,
               app_installed, residents_reached, vulnerable_reached, notes, flags, new_household, vulnerable, null
        from {table}
    """))
    db.session.execute(text("analyze sync_batch"))


def stage_stored_visits(start: datetime, end: datetime) -> None:
    """Put stored visits of a period into ``sync_batch`` as the sync staged them (for checks of the fold)."""
    ensure_batch_table()
    db.session.execute(text("delete from sync_batch"))
    db.session.execute(text("""
        insert into sync_batch (id, key_county, county_code, visited_at, household_id, grid_code, village_code,
                                member_id, username, outcome, lon, lat, raw_lon, raw_lat, crs, accuracy_m, mocked,
                                topics, app_installed, residents_reached, vulnerable_reached, notes, flags,
                                new_household, vulnerable)
        select v.id, v.county_code, v.county_code, v.visited_at, v.household_id, v.grid_code, v.village_code,
               v.member_id, v.username, v.outcome, ST_X(v.location), ST_Y(v.location), v.raw_lon, v.raw_lat, v.crs,
               v.accuracy_m, v.mocked, v.topics, v.app_installed, v.residents_reached, v.vulnerable_reached, v.notes,
               v.flags, v.new_household, cardinality(h.tags) > 0
        from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
        where v.visited_at >= :start and v.visited_at < :end
    """), {"start": start, "end": end})
    db.session.execute(text("analyze sync_batch"))


def stage_batch(rows: list[dict[str, Any]]) -> None:
    """COPY the validated visits of a sync into a temporary table (one round trip)."""
    ensure_batch_table()
    # Created once per connection and emptied by every commit (no catalog churn per
    # request); cleared here too for callers that stage twice before committing.
    db.session.execute(text("delete from sync_batch"))
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"copy sync_batch ({', '.join(BATCH_COLUMNS)}) from stdin") as copy:
        copy.write("".join(_copy_line(row) for row in rows))
    # Temporary tables have no statistics until analysed: without them the planner
    # guesses wrong both ways (scans the cells for one visit, loops for 40,000).
    db.session.execute(text("analyze sync_batch"))


def flag_staged(tolerance_m: float) -> None:
    """Add the flags that need the database: outside_grid and not_assigned."""
    # A batch names a handful of cells and one member: those are read first (by primary key
    # and member index). Joined to the whole table instead, the planner hashed all 46,000
    # cells with their boundaries (and all assignments) for every batch: ~50 ms of a ~170 ms sync.
    db.session.execute(text(f"""
        with cells as materialized (
            select g.code, g.boundary from grids g
            where g.code in (select distinct grid_code from sync_batch)
        )
        update sync_batch b set flags = b.flags || cast('{{outside_grid}}' as varchar(20)[])
        from cells g
        where g.code = b.grid_code and b.lon is not null and {OUTSIDE_CELL}
    """), {"tolerance": tolerance_m})
    db.session.execute(text("""
        with held as materialized (
            select a.member_id, a.grid_code, a.valid_from, a.valid_to from assignments a
            where a.member_id in (select distinct member_id from sync_batch)
        )
        update sync_batch b set flags = b.flags || cast('{not_assigned}' as varchar(20)[])
        where not exists (
            select 1 from held a
            where a.member_id = b.member_id
              and a.grid_code in (b.grid_code, left(b.grid_code, 15) || '-00', left(b.grid_code, 12) || '-00-00')
              and a.valid_from <= b.visited_at and (a.valid_to is null or a.valid_to > b.visited_at))
    """))


def claim_staged() -> dict[str, list[str]]:
    """Insert the keys of the staged visits; drop the ones a concurrent retry stored first.

    Returns the flags of every visit actually claimed, by id.
    """
    db.session.execute(text("""
        with claimed as (
            insert into visit_keys (county_code, id, content_hash, visited_at, household_id, flags)
            select key_county, id, hash, visited_at, household_id, flags from sync_batch
            order by key_county, id
            on conflict (county_code, id) do nothing
            returning county_code, id
        )
        delete from sync_batch b
        where not exists (select 1 from claimed c where c.county_code = b.key_county and c.id = b.id)
    """))
    return {row[0]: list(row[1]) for row in db.session.execute(text("select id::text, flags from sync_batch"))}


def store_staged() -> None:
    """Insert the claimed visits (the coverage rollups follow from the same staged batch)."""
    db.session.execute(text("""
        insert into visits (county_code, id, visited_at, household_id, grid_code, village_code, member_id, username,
                            outcome, location, raw_lon, raw_lat, crs, accuracy_m, mocked, topics, app_installed,
                            residents_reached, vulnerable_reached, notes, flags, new_household)
        select county_code, id, visited_at, household_id, grid_code, village_code, member_id, username, outcome,
               case when lon is null then null else ST_SetSRID(ST_MakePoint(lon, lat), 4326) end,
               raw_lon, raw_lat, crs, accuracy_m, mocked, topics, app_installed,
               residents_reached, vulnerable_reached, notes, flags, new_household
        from sync_batch
    """))


def visits_select(prefix: str | None, grid_code: str | None, member_id: int | None, start: datetime | None,
                  end: datetime | None, flag: str | None, outcome: str | None,
                  flagged: bool | None = None, household_id: int | None = None, own: bool = False,
                  review: str | None = None) -> Select:
    """Visits filtered for the list endpoint (newest first); ``own``: a member's own visits, wherever they
    are (the member may work in cells outside the account's scope)."""
    statement = select(Visit).options(undefer(Visit.location)).order_by(Visit.visited_at.desc(), Visit.id)
    if prefix:
        statement = statement.where(Visit.village_code.startswith(prefix, autoescape=True))
    if grid_code:
        statement = statement.where(Visit.grid_code == grid_code)
    if member_id is not None:
        statement = statement.where(Visit.member_id == member_id)
    if household_id is not None:
        statement = statement.where(Visit.household_id == household_id)
    if start is not None:
        statement = statement.where(Visit.visited_at >= start)
    if end is not None:
        statement = statement.where(Visit.visited_at < end)
    if flag:
        statement = statement.where(literal(flag) == any_(Visit.flags))
    if flagged is not None:
        has_flags = func.cardinality(Visit.flags) > 0
        statement = statement.where(has_flags if flagged else ~has_flags)
    if outcome:
        statement = statement.where(Visit.outcome == outcome)
    if review:
        statement = statement.where(Visit.review.is_(None) if review == "none" else Visit.review == review)
    if own:
        statement = statement.execution_options(unscoped=True)
    return statement


def visit_by_id(visit_id, member_id: int | None = None) -> Visit | None:
    """One visit in scope, or None; with ``member_id``, that member's visit wherever it is."""
    statement = select(Visit).where(Visit.id == visit_id)
    if member_id is not None:
        statement = statement.where(Visit.member_id == member_id).execution_options(unscoped=True)
    return db.session.scalar(statement)


def visit_for_update(visit_id) -> Visit | None:
    """One visit in scope, its row locked for the rest of the transaction, or None."""
    return db.session.scalar(select(Visit).where(Visit.id == visit_id).with_for_update())


def reviews_of(county_code: str, visit_id) -> list:
    """The review decisions on a visit, oldest first."""
    from outreach.visits.models import VisitReview

    return list(db.session.scalars(select(VisitReview).where(VisitReview.county_code == county_code,
                                                             VisitReview.visit_id == visit_id)
                                   .order_by(VisitReview.reviewed_at, VisitReview.id)))

