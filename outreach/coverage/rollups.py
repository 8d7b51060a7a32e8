"""Keeping the coverage rollups (:mod:`outreach.coverage.models`) in step, in the writer's transaction.

Three writers: the visit sync folds each stored batch in (:func:`add_staged_visits`,
a fixed handful of set-based statements over the staged batch); a household's
tags changing moves it between vulnerable and not (:func:`follow_vulnerability`);
a household removed leaves every rollup (:func:`forget_household`).  The last two
follow ``grids.households.signals`` (see :mod:`outreach.coverage.signals`).
"""
from __future__ import annotations

from sqlalchemy import text

from core.clock import LOCAL_DAY
from core.extensions import db
from outreach.coverage import models  # noqa: F401  (the tables written here join the metadata)

ROLLUP_TABLES = ("grid_day_counts", "village_day_counts", "grid_coverage", "household_visit_days",
                 "household_coverage", "last_completed_counts", "household_visit_months", "village_month_counts",
                 "village_app_counts")


def add_day_counts(source: str, empty: bool = False) -> None:
    """Per cell and per village and day: visits, completed, flagged (additive, so one statement each).

    ``empty``: the counters hold nothing yet and may be without their keys for the load (a first history, see
    :mod:`outreach.coverage.bulk`), so the rows are plain inserts."""
    day = LOCAL_DAY
    counters = {"grid_day_counts": ("county_code, grid_code", 3), "village_day_counts": ("village_code", 2)}
    for table, (keys, width) in counters.items():
        columns = ", ".join(str(n) for n in range(1, width + 1))
        add = "" if empty else f"""
            on conflict ({keys}, day) do update set
                visits = {table}.visits + excluded.visits,
                completed = {table}.completed + excluded.completed,
                flagged = {table}.flagged + excluded.flagged"""
        db.session.execute(text(f"""
            insert into {table} ({keys}, day, visits, completed, flagged)
            select {keys}, {day}, count(*), count(*) filter (where outcome = 'completed'),
                   count(*) filter (where flags <> '{{}}')
            from {source} group by {columns}{add}
        """))


def add_staged_visits() -> None:
    """Fold the visits staged in ``sync_batch`` (already stored) into every coverage rollup, set-based.

    The visit sync calls this once per batch, in its transaction, after storing the visits.
    """
    day = LOCAL_DAY
    add_day_counts("sync_batch")
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
    # The months' counters: visits and flagged visits, and households new to the month.  A
    # household's month row is inserted once (of two concurrent syncs, the second waits on the
    # first's key and then finds it), so only the insert that made the row counts the household.
    db.session.execute(text(f"""
        with fresh as (
            insert into household_visit_months (county_code, household_id, month, village_code, vulnerable)
            select county_code, household_id, date_trunc('month', {day})::date, min(village_code), bool_or(vulnerable)
            from sync_batch where outcome = 'completed'
            group by 1, 2, 3 order by 1, 2, 3
            on conflict do nothing
            returning village_code, month, vulnerable
        ), counts as (
            select village_code, date_trunc('month', {day})::date as month, 0 as households, 0 as vulnerable,
                   count(*) as visits, count(*) filter (where flags <> '{{}}') as flagged
            from sync_batch group by 1, 2
            union all
            select village_code, month, 1, vulnerable::int, 0, 0 from fresh
        )
        insert into village_month_counts (village_code, month, households, vulnerable, visits, flagged)
        select village_code, month, sum(households), sum(vulnerable), sum(visits), sum(flagged) from counts
        group by 1, 2 order by 1, 2
        on conflict (village_code, month) do update set
            households = village_month_counts.households + excluded.households,
            vulnerable = village_month_counts.vulnerable + excluded.vulnerable,
            visits = village_month_counts.visits + excluded.visits,
            flagged = village_month_counts.flagged + excluded.flagged
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
        ), village_apps as (
            insert into village_app_counts (village_code, app_installed)
            select left(c.grid_code, 12), sum(case when c.app_installed then 1 else -1 end)
            from changed c join before o using (county_code, household_id)
            where c.app_installed is distinct from o.app_installed
            group by 1 order by 1
            on conflict (village_code) do update
            set app_installed = village_app_counts.app_installed + excluded.app_installed
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
    db.session.execute(text("""
        with changed as (
            update household_visit_months set vulnerable = :vulnerable
            where county_code = :county and household_id = :id and vulnerable is distinct from :vulnerable
            returning village_code, month
        )
        update village_month_counts c
        set vulnerable = c.vulnerable + case when :vulnerable then 1 else -1 end
        from changed where c.village_code = changed.village_code and c.month = changed.month
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
        ), village_apps as (
            update village_app_counts c set app_installed = c.app_installed - 1
            from gone where c.village_code = left(gone.grid_code, 12) and gone.app_installed
            returning 1
        ), months as (
            delete from household_visit_months where county_code = :county and household_id = :id
            returning village_code, month, vulnerable
        ), month_counts as (
            update village_month_counts c
            set households = c.households - 1, vulnerable = c.vulnerable - months.vulnerable::int
            from months where c.village_code = months.village_code and c.month = months.month
            returning 1
        )
        -- (data-modifying CTEs run whether or not the main statement reads them)
        delete from household_visit_days d where d.county_code = :county and d.household_id = :id
    """), {"county": county_code, "id": household_id})


def remove_visit(county_code: str, visit_id: str, visited_at, household_id: int, grid_code: str) -> None:
    """Take one voided visit out of every coverage rollup (it stays in ``visits``), in the caller's transaction.

    The visit must already be marked voided: the household's figures are recomputed from its
    remaining visits (a handful of index look-ups on one household), so the result is what the
    rollups would hold had the visit never been synced.
    """
    params = {"county": county_code, "id": visit_id, "at": visited_at, "household": household_id,
              "grid": grid_code}
    # The household's coverage row first: the same lock the sync takes, so the two cannot interleave.
    db.session.execute(text("""
        select 1 from household_coverage where county_code = :county and household_id = :household for update
    """), params)
    db.session.execute(text(f"""
        with v as (
            select grid_code, village_code, {LOCAL_DAY} as day, (outcome = 'completed')::int as completed,
                   (flags <> '{{}}')::int as flagged
            from visits where county_code = :county and id = :id and visited_at = :at
        ), cells as (
            update grid_day_counts c set visits = c.visits - 1, completed = c.completed - v.completed,
                                         flagged = c.flagged - v.flagged
            from v where c.county_code = :county and c.grid_code = v.grid_code and c.day = v.day
            returning 1
        ), months as (
            update village_month_counts c set visits = c.visits - 1, flagged = c.flagged - v.flagged
            from v where c.village_code = v.village_code and c.month = date_trunc('month', v.day)::date
            returning 1
        )
        update village_day_counts c set visits = c.visits - 1, completed = c.completed - v.completed,
                                        flagged = c.flagged - v.flagged
        from v where c.village_code = v.village_code and c.day = v.day
    """), params)
    # The day leaves the household's visit days when no other completed visit stands on it.
    db.session.execute(text(f"""
        delete from household_visit_days d
        where d.county_code = :county and d.household_id = :household
          and d.day = (select {LOCAL_DAY} from visits where county_code = :county and id = :id and visited_at = :at
                       and outcome = 'completed')
          and not exists (
              select 1 from visits v
              where v.county_code = :county and v.household_id = :household and v.outcome = 'completed'
                and v.review is distinct from 'voided'
                and (v.visited_at at time zone 'Asia/Shanghai')::date = d.day)
    """), params)
    # The month leaves the household's visit months when no completed day of it is left.
    db.session.execute(text(f"""
        with v as (
            select date_trunc('month', {LOCAL_DAY})::date as month from visits
            where county_code = :county and id = :id and visited_at = :at
        ), gone as (
            delete from household_visit_months m using v
            where m.county_code = :county and m.household_id = :household and m.month = v.month
              and not exists (
                  select 1 from household_visit_days d
                  where d.county_code = :county and d.household_id = :household
                    and d.day >= v.month and d.day < v.month + interval '1 month')
            returning m.village_code, m.month, m.vulnerable
        )
        update village_month_counts c
        set households = c.households - 1, vulnerable = c.vulnerable - gone.vulnerable::int
        from gone where c.village_code = gone.village_code and c.month = gone.month
    """), params)
    db.session.execute(text("""
        update household_visit_days d set previous_day = x.previous_day
        from (
            select day, lag(day) over (order by day) as previous_day from household_visit_days
            where county_code = :county and household_id = :household
        ) x
        where d.county_code = :county and d.household_id = :household and d.day = x.day
          and d.previous_day is distinct from x.previous_day
    """), params)
    db.session.execute(text(f"""
        with standing as (
            select max(visited_at) as last_visit_at,
                   max({LOCAL_DAY}) filter (where outcome = 'completed') as last_completed_on,
                   (array_agg(app_installed order by visited_at desc, app_installed desc)
                       filter (where app_installed is not null))[1] as app_installed,
                   max(visited_at) filter (where app_installed is not null) as app_recorded_at
            from visits
            where county_code = :county and household_id = :household and review is distinct from 'voided'
        ), before as (
            select grid_code, last_completed_on, vulnerable, app_installed from household_coverage
            where county_code = :county and household_id = :household
        ), changed as (
            update household_coverage h set
                last_visit_at = s.last_visit_at, last_completed_on = s.last_completed_on,
                app_installed = coalesce(s.app_installed, false), app_recorded_at = s.app_recorded_at,
                changed_at = now()
            from standing s
            where h.county_code = :county and h.household_id = :household
            returning h.grid_code, h.last_completed_on, h.vulnerable, h.app_installed
        ), apps as (
            update grid_coverage g
            set app_installed = g.app_installed + case when c.app_installed then 1 else -1 end
            from changed c, before b
            where g.grid_code = c.grid_code and c.app_installed is distinct from b.app_installed
            returning 1
        ), village_apps as (
            insert into village_app_counts (village_code, app_installed)
            select left(c.grid_code, 12), case when c.app_installed then 1 else -1 end
            from changed c, before b
            where c.app_installed is distinct from b.app_installed
            on conflict (village_code) do update
            set app_installed = village_app_counts.app_installed + excluded.app_installed
            returning 1
        ), moves as (
            select left(b.grid_code, 12) as village_code, b.last_completed_on as day, -1 as households,
                   -b.vulnerable::int as vulnerable
            from changed c, before b
            where b.last_completed_on is not null and b.last_completed_on is distinct from c.last_completed_on
            union all
            select left(c.grid_code, 12), c.last_completed_on, 1, c.vulnerable::int
            from changed c, before b
            where c.last_completed_on is not null and b.last_completed_on is distinct from c.last_completed_on
        )
        insert into last_completed_counts (village_code, day, households, vulnerable)
        select village_code, day, sum(households), sum(vulnerable) from moves group by 1, 2
        on conflict (village_code, day) do update set
            households = last_completed_counts.households + excluded.households,
            vulnerable = last_completed_counts.vulnerable + excluded.vulnerable
    """), params)
    # The cell's latest visit and completed day, from its households' (one cell: a few dozen rows).
    db.session.execute(text("""
        update grid_coverage g set last_visit_at = x.last_visit_at, last_completed_on = x.last_completed_on
        from (select max(last_visit_at) as last_visit_at, max(last_completed_on) as last_completed_on
              from household_coverage where grid_code = :grid) x
        where g.grid_code = :grid
    """), params)
