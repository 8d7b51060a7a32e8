"""SQL of visits: partitions, keys, the sync batch, flags, rollups, lists and worklists.

Every sync runs a fixed number of statements whatever the batch size: the batch
travels as arrays (``unnest``) or through one temporary table.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import undefer

from core.extensions import db
from outreach.visits.models import Visit

LOCAL_DAY = "(visited_at at time zone 'Asia/Shanghai')::date"


def ensure_partitions(months: list[date]) -> None:
    """Create the monthly partitions of ``visits`` that these months need."""
    for month in sorted(set(months)):
        db.session.execute(text("select ensure_visit_partition(:m)"), {"m": month})


def existing_keys(counties: list[str], ids: list[str]) -> dict[str, tuple[str, int, list[str]]]:
    """Stored keys among (county, id) pairs: id → (content hash, household id, flags)."""
    rows = db.session.execute(text("""
        select k.id::text, k.content_hash, k.household_id, k.flags
        from unnest(cast(:counties as text[]), cast(:ids as uuid[])) as p(county, id)
        join visit_keys k on k.county_code = p.county and k.id = p.id
    """), {"counties": counties, "ids": ids})
    return {row[0]: (row[1], row[2], list(row[3] or [])) for row in rows}


def households_for_visits(ids: list[int], prefix: str | None) -> dict[int, tuple[str, str, bool]]:
    """Households (not removed, inside the scope prefix): id → (grid code, village code, vulnerable)."""
    rows = db.session.execute(text("""
        select id, grid_code, village_code, cardinality(tags) > 0 from households
        where id = any(:ids) and removed_at is null and village_code like :like
    """), {"ids": ids, "like": (prefix or "") + "%"})
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def members_visits_between(member_ids: list[int], start: datetime, end: datetime) -> list[tuple]:
    """(member, visited_at, lon, lat, household id, local day) of stored visits of members in a window."""
    return db.session.execute(text(f"""
        select member_id, visited_at, ST_X(location), ST_Y(location), household_id, {LOCAL_DAY}
        from visits where member_id = any(:members) and visited_at between :start and :end
        order by member_id, visited_at
    """), {"members": member_ids, "start": start, "end": end}).all()


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


def stage_batch(rows: list[dict[str, Any]]) -> None:
    """COPY the validated visits of a sync into a temporary table (one round trip)."""
    db.session.execute(text("""
        create temporary table if not exists sync_batch (
            id uuid, key_county text, county_code text, visited_at timestamptz, household_id bigint,
            grid_code text, village_code text, member_id int, username text, outcome text, lon float8, lat float8,
            raw_lon float8, raw_lat float8, crs text, accuracy_m float8, mocked boolean, topics varchar(40)[],
            app_installed boolean, residents_reached int, vulnerable_reached int, notes text, flags varchar(20)[],
            new_household boolean, vulnerable boolean, hash text
        ) on commit delete rows
    """))
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
    db.session.execute(text("""
        update sync_batch b set flags = b.flags || cast('{outside_grid}' as varchar(20)[])
        from grids g
        where g.code = b.grid_code and b.lon is not null
          and not ST_Covers(g.boundary, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326))
          and not ST_DWithin(g.boundary::geography, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326)::geography,
                             :tolerance)
    """), {"tolerance": tolerance_m})
    db.session.execute(text("""
        update sync_batch b set flags = b.flags || cast('{not_assigned}' as varchar(20)[])
        where not exists (
            select 1 from assignments a
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
    """Insert the claimed visits and update every rollup from them, in this transaction."""
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
    update_rollups()


def update_rollups() -> None:
    """Fold the visits in ``sync_batch`` into the coverage rollups (set-based)."""
    day = LOCAL_DAY
    db.session.execute(text(f"""
        insert into grid_day_counts (county_code, grid_code, day, visits, completed, flagged)
        select county_code, grid_code, {day}, count(*), count(*) filter (where outcome = 'completed'),
               count(*) filter (where flags <> '{{}}')
        from sync_batch group by 1, 2, 3
        on conflict (county_code, grid_code, day) do update set
            visits = grid_day_counts.visits + excluded.visits,
            completed = grid_day_counts.completed + excluded.completed,
            flagged = grid_day_counts.flagged + excluded.flagged
    """))
    db.session.execute(text(f"""
        insert into village_day_counts (village_code, day, visits, completed, flagged)
        select village_code, {day}, count(*), count(*) filter (where outcome = 'completed'),
               count(*) filter (where flags <> '{{}}')
        from sync_batch group by 1, 2
        on conflict (village_code, day) do update set
            visits = village_day_counts.visits + excluded.visits,
            completed = village_day_counts.completed + excluded.completed,
            flagged = village_day_counts.flagged + excluded.flagged
    """))
    db.session.execute(text(f"""
        insert into grid_coverage (grid_code, village_code, last_visit_at, last_completed_on, app_installed)
        select grid_code, village_code, max(visited_at), max({day}) filter (where outcome = 'completed'), 0
        from sync_batch group by 1, 2
        on conflict (grid_code) do update set
            last_visit_at = greatest(grid_coverage.last_visit_at, excluded.last_visit_at),
            last_completed_on = greatest(grid_coverage.last_completed_on, excluded.last_completed_on)
    """))
    # Days with a completed visit per household, then the previous such day of each.
    db.session.execute(text(f"""
        insert into household_visit_days (county_code, household_id, day, grid_code, vulnerable)
        select distinct county_code, household_id, {day}, grid_code, vulnerable
        from sync_batch where outcome = 'completed'
        on conflict do nothing
    """))
    db.session.execute(text("""
        update household_visit_days d set previous_day = x.previous_day
        from (
            select county_code, household_id, day,
                   lag(day) over (partition by county_code, household_id order by day) as previous_day
            from household_visit_days
            where (county_code, household_id) in (
                select distinct county_code, household_id from sync_batch where outcome = 'completed')
        ) x
        where d.county_code = x.county_code and d.household_id = x.household_id and d.day = x.day
          and d.previous_day is distinct from x.previous_day
    """))
    # Make sure every household of the batch has a coverage row, lock those rows in a
    # fixed order, then move each household's latest completed day and keep the
    # per-village counters of latest days in step.
    db.session.execute(text("""
        insert into household_coverage (county_code, household_id, grid_code, vulnerable, app_installed)
        select county_code, household_id, min(grid_code), bool_or(vulnerable), false from sync_batch
        group by county_code, household_id
        order by county_code, household_id
        on conflict do nothing
    """))
    db.session.execute(text("""
        select 1 from household_coverage
        where (county_code, household_id) in (select distinct county_code, household_id from sync_batch)
        order by county_code, household_id for update
    """))
    db.session.execute(text(f"""
        with batch as (
            select county_code, household_id, min(village_code) as village_code, bool_or(vulnerable) as vulnerable,
                   max(visited_at) as last_visit_at,
                   max({day}) filter (where outcome = 'completed') as last_completed_on,
                   (array_agg(app_installed order by visited_at desc, app_installed desc)
                       filter (where app_installed is not null))[1] as app_installed,
                   max(visited_at) filter (where app_installed is not null) as app_recorded_at
            from sync_batch group by county_code, household_id
        ), before as (
            select h.county_code, h.household_id, h.last_completed_on, h.app_installed
            from household_coverage h join batch b using (county_code, household_id)
        ), changed as (
            update household_coverage h set
                last_visit_at = greatest(h.last_visit_at, b.last_visit_at),
                last_completed_on = greatest(h.last_completed_on, b.last_completed_on),
                -- the latest recorded status wins; at the very same instant, "installed" wins
                app_installed = case when b.app_recorded_at > coalesce(h.app_recorded_at, '-infinity')
                                          or (b.app_recorded_at = h.app_recorded_at and b.app_installed)
                                     then b.app_installed else h.app_installed end,
                app_recorded_at = greatest(h.app_recorded_at, b.app_recorded_at),
                changed_at = now()
            from batch b
            where h.county_code = b.county_code and h.household_id = b.household_id
            returning h.county_code, h.household_id, h.grid_code, h.last_completed_on, h.vulnerable, h.app_installed
        ), app_moves as (
            update grid_coverage g set app_installed = g.app_installed + d.delta
            from (
                select c.grid_code, sum(case when c.app_installed then 1 else -1 end) as delta
                from changed c join before o using (county_code, household_id)
                where c.app_installed is distinct from o.app_installed
                group by c.grid_code
            ) d
            where g.grid_code = d.grid_code
            returning 1
        ), moved as (
            select b.village_code, o.last_completed_on as old_day, c.last_completed_on as new_day, c.vulnerable
            from changed c
            join before o using (county_code, household_id)
            join batch b using (county_code, household_id)
            where c.last_completed_on is distinct from o.last_completed_on
        ), moves as (
            select village_code, old_day as day, -1 as households, -vulnerable::int as vulnerable
            from moved where old_day is not null
            union all
            select village_code, new_day, 1, vulnerable::int from moved where new_day is not null
        )
        insert into last_completed_counts (village_code, day, households, vulnerable)
        select village_code, day, sum(households), sum(vulnerable) from moves group by 1, 2
        on conflict (village_code, day) do update set
            households = last_completed_counts.households + excluded.households,
            vulnerable = last_completed_counts.vulnerable + excluded.vulnerable
    """))


def visits_select(prefix: str | None, grid_code: str | None, member_id: int | None, start: datetime | None,
                  end: datetime | None, flag: str | None, outcome: str | None,
                  flagged: bool | None = None) -> Select:
    """Visits filtered for the list endpoint (newest first)."""
    statement = select(Visit).options(undefer(Visit.location)).order_by(Visit.visited_at.desc(), Visit.id)
    if prefix:
        statement = statement.where(Visit.village_code.startswith(prefix, autoescape=True))
    if grid_code:
        statement = statement.where(Visit.grid_code == grid_code)
    if member_id is not None:
        statement = statement.where(Visit.member_id == member_id)
    if start is not None:
        statement = statement.where(Visit.visited_at >= start)
    if end is not None:
        statement = statement.where(Visit.visited_at < end)
    if flag:
        statement = statement.where(Visit.flags.any(flag))
    if flagged is not None:
        has_flags = func.cardinality(Visit.flags) > 0
        statement = statement.where(has_flags if flagged else ~has_flags)
    if outcome:
        statement = statement.where(Visit.outcome == outcome)
    return statement


def visit_by_id(visit_id) -> Visit | None:
    """One visit in scope, or None."""
    return db.session.scalar(select(Visit).where(Visit.id == visit_id))


def watermark() -> datetime:
    """A time before which every committed change is visible: the oldest open transaction's start.

    Changes are then fetched with ``>=`` it: one stamped exactly at the watermark by a
    transaction still open now comes again next time rather than never.
    """
    return db.session.execute(text("""
        select least(now(), coalesce(min(xact_start), now())) from pg_stat_activity
        where datname = current_database() and xact_start is not null
          and backend_type = 'client backend'  -- autovacuum never writes what a worklist shows
    """)).scalar()


def worklist_cells(member_id: int, since: datetime | None) -> tuple[list[tuple], list[str]]:
    """(code, tier, name, role, GeoJSON, added since) of current cells; codes of cells dropped since."""
    current = db.session.execute(text("""
        select g.code, g.tier, g.name, min(a.role), ST_AsGeoJSON(g.boundary, 7)::json,
               bool_or(cast(:since as timestamptz) is null or a.valid_from >= :since)
        from assignments a join grids g on g.code = a.grid_code
        where a.member_id = :member and a.valid_to is null
        group by g.code, g.tier, g.name, g.boundary order by g.code
    """), {"member": member_id, "since": since}).all()
    removed: list[str] = []
    if since is not None:
        removed = [row[0] for row in db.session.execute(text("""
            select distinct grid_code from assignments
            where member_id = :member and valid_to >= :since
              and grid_code not in (select grid_code from assignments where member_id = :member and valid_to is null)
        """), {"member": member_id, "since": since})]
    return current, removed


def worklist_households(prefixes: list[str], since: datetime | None) -> list[tuple]:
    """Households under cell prefixes (changed since ``since`` when given), with their latest visits."""
    if not prefixes:
        return []
    return db.session.execute(text("""
        select h.id, h.grid_code, h.address, ST_AsGeoJSON(h.location, 7)::json, h.residents, h.tags,
               c.last_visit_at, c.last_completed_on, h.removed_at
        from households h
        left join household_coverage c on c.county_code = h.county_code and c.household_id = h.id
        where h.grid_code like any(cast(:likes as text[]))
          and (cast(:since as timestamptz) is null and h.removed_at is null
               or h.updated_at >= :since or h.removed_at >= :since or c.changed_at >= :since)
        order by h.grid_code, h.id
    """), {"likes": [p + "%" for p in prefixes], "since": since}).all()


def follow_vulnerability(county_code: str, household_id: int, vulnerable: bool) -> None:
    """A household's tags changed: move it between vulnerable and not in every coverage rollup."""
    params = {"county": county_code, "id": household_id, "vulnerable": vulnerable}
    db.session.execute(text("""
        with changed as (
            update household_coverage set vulnerable = :vulnerable, changed_at = now()
            where county_code = :county and household_id = :id and vulnerable is distinct from :vulnerable
            returning grid_code, last_completed_on
        )
        update last_completed_counts c
        set vulnerable = c.vulnerable + case when :vulnerable then 1 else -1 end
        from changed where c.village_code = left(changed.grid_code, 12) and c.day = changed.last_completed_on
    """), params)
    db.session.execute(text("""
        update household_visit_days set vulnerable = :vulnerable
        where county_code = :county and household_id = :id and vulnerable is distinct from :vulnerable
    """), params)


def forget_household(county_code: str, household_id: int) -> None:
    """A household was removed: take it out of every coverage rollup (its visits stay)."""
    db.session.execute(text("""
        with gone as (
            delete from household_coverage where county_code = :county and household_id = :id
            returning grid_code, last_completed_on, vulnerable, app_installed
        ), counts as (
            update last_completed_counts c
            set households = c.households - 1, vulnerable = c.vulnerable - gone.vulnerable::int
            from gone where c.village_code = left(gone.grid_code, 12) and c.day = gone.last_completed_on
            returning 1
        ), apps as (
            update grid_coverage g set app_installed = g.app_installed - 1
            from gone where g.grid_code = gone.grid_code and gone.app_installed
            returning 1
        )
        -- (data-modifying CTEs run whether or not the main statement reads them)
        delete from household_visit_days d where d.county_code = :county and d.household_id = :id
    """), {"county": county_code, "id": household_id})
