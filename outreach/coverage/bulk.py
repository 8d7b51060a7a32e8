"""The rollups of a first visit history, written in bulk (the default seed, ``outreach.visits.history``).

When nothing is stored yet, every rollup of :mod:`outreach.coverage.models` can be written once
from the staged history by one INSERT … SELECT each, instead of the sync's fold
(:func:`outreach.coverage.rollups.add_staged_visits`), whose read-modify-write passes are what a
batch arriving on top of stored figures needs.  The caller holds every index back, primary keys included
(:func:`core.bulk.indexes_deferred`): inserting millions of rows into indexes in
random order was most of this step's time.
"""
from __future__ import annotations

from sqlalchemy import text

from core.clock import LOCAL_DAY
from core.extensions import db
from outreach.coverage import rollups

# Memory for each sort or hash of the first fold (the default spills a city's history to disk in batches).
WORK_MEM = "256MB"


def rollups_empty() -> bool:
    """Whether no rollup holds anything yet (a fresh territory)."""
    anything = " or ".join(f"exists (select from {table})" for table in rollups.ROLLUP_TABLES)
    return not db.session.execute(text(f"select {anything}")).scalar()


def fold_into_empty(source: str) -> None:
    """Fold stored visits staged in ``source`` (shaped like ``sync_batch``) into rollups that hold nothing
    yet: each rollup written once by one INSERT … SELECT, with none of the sync's read-modify-write
    passes (previous days, coverage rows then their update, app deltas, months and their counters).
    What it writes is what :func:`~outreach.coverage.rollups.add_staged_visits` would write over empty
    rollups; ``tests/test_history.py`` checks both against the visit table."""
    day = LOCAL_DAY
    # The sorts and hash tables below hold millions of rows: in memory rather than spilled in batches to disk
    # (this transaction only).
    db.session.execute(text(f"set local work_mem = '{WORK_MEM}'"))
    rollups.add_day_counts(source, empty=True)
    db.session.execute(text(f"""
        insert into household_visit_days (county_code, household_id, day, previous_day, grid_code, vulnerable)
        select county_code, household_id, day,
               lag(day) over (partition by county_code, household_id order by day), grid_code, vulnerable
        from (select county_code, household_id, {day} as day, min(grid_code) as grid_code,
                     bool_or(vulnerable) as vulnerable
              from {source} where outcome = 'completed' group by 1, 2, 3) d
    """))
    db.session.execute(text(f"""
        with per_household as (
            -- What the latest visit that recorded the app said (a tie: installed), from the latest moment
            -- of each answer: plain aggregates, so one hash pass instead of sorting the history.
            select county_code, household_id, grid_code, village_code, vulnerable, last_visit_at, last_completed_on,
                   coalesce(installed_at >= not_installed_at, installed_at is not null) as app_installed,
                   greatest(installed_at, not_installed_at) as app_recorded_at
            from (select county_code, household_id, min(grid_code) as grid_code, min(village_code) as village_code,
                         bool_or(vulnerable) as vulnerable, max(visited_at) as last_visit_at,
                         max({day}) filter (where outcome = 'completed') as last_completed_on,
                         max(visited_at) filter (where app_installed) as installed_at,
                         max(visited_at) filter (where not app_installed) as not_installed_at
                  from {source} group by county_code, household_id) h
        ), stored as (
            insert into household_coverage (county_code, household_id, grid_code, vulnerable, last_visit_at,
                                            last_completed_on, app_installed, app_recorded_at)
            select county_code, household_id, grid_code, vulnerable, last_visit_at, last_completed_on,
                   app_installed, app_recorded_at
            from per_household
            returning 1
        ), apps as (
            insert into village_app_counts (village_code, app_installed)
            select left(grid_code, 12), count(*) from per_household where app_installed group by 1
            returning 1
        )
        insert into last_completed_counts (village_code, day, households, vulnerable)
        select village_code, last_completed_on, count(*), count(*) filter (where vulnerable)
        from per_household where last_completed_on is not null group by 1, 2
    """))
    db.session.execute(text(f"""
        with months as (
            insert into household_visit_months (county_code, household_id, month, village_code, vulnerable)
            select county_code, household_id, date_trunc('month', {day})::date, min(village_code), bool_or(vulnerable)
            from {source} where outcome = 'completed' group by 1, 2, 3
            returning village_code, month, vulnerable
        ), counts as (
            select village_code, date_trunc('month', {day})::date as month, 0 as households, 0 as vulnerable,
                   count(*) as visits, count(*) filter (where flags <> '{{}}') as flagged
            from {source} group by 1, 2
            union all
            select village_code, month, 1, vulnerable::int, 0, 0 from months
        )
        insert into village_month_counts (village_code, month, households, vulnerable, visits, flagged)
        select village_code, month, sum(households), sum(vulnerable), sum(visits), sum(flagged) from counts
        group by 1, 2
    """))
    db.session.execute(text(f"""
        insert into grid_coverage (grid_code, village_code, last_visit_at, last_completed_on, app_installed)
        select v.grid_code, v.village_code, v.last_visit_at, v.last_completed_on, coalesce(a.households, 0)
        from (select grid_code, village_code, max(visited_at) as last_visit_at,
                     max({day}) filter (where outcome = 'completed') as last_completed_on
              from {source} group by 1, 2) v
        left join (select grid_code, count(*) filter (where app_installed) as households
                   from household_coverage group by 1) a using (grid_code)
    """))
