"""The bulk visit history (the default seed): its rollups equal the visit table's and the sync fold's."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.clock import LOCAL, LOCAL_DAY
from core.extensions import db
from outreach.coverage import rollups
from outreach.visits import queries
from outreach.visits.history import seed_history

# Every rollup table as rows (what the reports read), in a fixed order; the sync leaves
# counters of latest days at zero where households moved on, which count as absent.
STORED = {
    "grid_day_counts": "select county_code, grid_code, day, visits, completed, flagged from grid_day_counts",
    "village_day_counts": "select village_code, day, visits, completed, flagged from village_day_counts",
    "grid_coverage": "select grid_code, village_code, last_visit_at, last_completed_on, app_installed "
                     "from grid_coverage",
    "household_coverage": "select county_code, household_id, grid_code, vulnerable, last_visit_at, "
                          "last_completed_on, app_installed, app_recorded_at from household_coverage",
    "household_visit_days": "select county_code, household_id, day, previous_day, grid_code, vulnerable "
                            "from household_visit_days",
    "last_completed_counts": "select village_code, day, households, vulnerable from last_completed_counts "
                             "where households <> 0 or vulnerable <> 0",
    "household_visit_months": "select county_code, household_id, month, village_code, vulnerable "
                              "from household_visit_months",
    "village_month_counts": "select village_code, month, households, vulnerable, visits, flagged "
                            "from village_month_counts where households <> 0 or visits <> 0",
    "village_app_counts": "select village_code, app_installed from village_app_counts where app_installed <> 0",
}
# The same figures recomputed from the visit table alone.
FROM_VISITS = {
    "grid_day_counts": f"""
        select county_code, grid_code, {LOCAL_DAY}, count(*), count(*) filter (where outcome = 'completed'),
               count(*) filter (where flags <> '{{}}') from visits group by 1, 2, 3""",
    "village_day_counts": f"""
        select village_code, {LOCAL_DAY}, count(*), count(*) filter (where outcome = 'completed'),
               count(*) filter (where flags <> '{{}}') from visits group by 1, 2""",
    "grid_coverage": f"""
        with per_household as ({{households}}),
             apps as (select grid_code, count(*) filter (where app_installed) as n from per_household group by 1)
        select v.grid_code, v.village_code, v.last_visit_at, v.last_completed_on, coalesce(a.n, 0)
        from (select grid_code, min(village_code) as village_code, max(visited_at) as last_visit_at,
                     max({LOCAL_DAY}) filter (where outcome = 'completed') as last_completed_on
              from visits group by grid_code) v
        left join apps a using (grid_code)""",
    "household_coverage": "{households}",
    "household_visit_days": f"""
        select county_code, household_id, day, lag(day) over (partition by county_code, household_id order by day),
               grid_code, vulnerable
        from (select v.county_code, v.household_id, {LOCAL_DAY} as day, min(v.grid_code) as grid_code,
                     bool_or(cardinality(h.tags) > 0) as vulnerable
              from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
              where v.outcome = 'completed' group by 1, 2, 3) d""",
    "last_completed_counts": """
        with per_household as ({households})
        select v.village_code, p.last_completed_on, count(*), count(*) filter (where p.vulnerable)
        from per_household p
        join (select county_code, household_id, min(village_code) as village_code from visits group by 1, 2) v
          using (county_code, household_id)
        where p.last_completed_on is not null group by 1, 2""",
    "household_visit_months": f"""
        select v.county_code, v.household_id, date_trunc('month', {LOCAL_DAY})::date, min(v.village_code),
               bool_or(cardinality(h.tags) > 0)
        from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
        where v.outcome = 'completed' group by 1, 2, 3""",
    "village_month_counts": f"""
        with months as (
            select v.village_code, date_trunc('month', {LOCAL_DAY})::date as month, v.household_id,
                   bool_or(v.outcome = 'completed') as completed, bool_or(cardinality(h.tags) > 0) as vulnerable,
                   count(*) as visits, count(*) filter (where v.flags <> '{{}}') as flagged
            from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
            group by 1, 2, 3)
        select village_code, month, count(*) filter (where completed),
               count(*) filter (where completed and vulnerable), sum(visits), sum(flagged)
        from months group by 1, 2""",
    "village_app_counts": """
        with per_household as ({households})
        select left(grid_code, 12), count(*) from per_household where app_installed group by 1""",
}
HOUSEHOLDS = f"""
    select v.county_code, v.household_id, min(v.grid_code) as grid_code, bool_or(cardinality(h.tags) > 0) as vulnerable,
           max(v.visited_at) as last_visit_at,
           max({LOCAL_DAY}) filter (where v.outcome = 'completed') as last_completed_on,
           coalesce((array_agg(v.app_installed order by v.visited_at desc, v.app_installed desc)
                     filter (where v.app_installed is not null))[1], false) as app_installed,
           max(v.visited_at) filter (where v.app_installed is not null) as app_recorded_at
    from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
    group by v.county_code, v.household_id"""


def snapshot(statements: dict[str, str]) -> dict[str, list[tuple]]:
    """Sorted rows of every rollup."""
    return {name: sorted(tuple(row) for row in db.session.execute(text(sql.replace("{households}", HOUSEHOLDS))))
            for name, sql in statements.items()}


def visit_indexes() -> set[tuple[str, str]]:
    """(table, definition without its name) of every index on the visit table and its partitions."""
    rows = db.session.execute(text("""select tablename, regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON')
                                      from pg_indexes where tablename ~ '^visits(_\\d{4}_\\d{2})?$'""")).all()
    return {tuple(row) for row in rows}


def test_bulk_history_rollups_equal_the_visit_table_and_the_sync_fold(app):
    now = datetime.now(UTC)
    indexes = visit_indexes()
    seed_history(days=6, seed=5, now=now)
    # Nothing is left uncommitted, not even the planner statistics gathered last (they were rolled
    # back with the session, and reports planned for an empty rollup table sorted millions of rows).
    assert not db.session().in_transaction()
    assert db.session.execute(text("select count(*) from pg_stats where tablename = 'household_visit_days' "
                                   "and attname = 'day' and n_distinct > 1")).scalar() == 1
    analysed = set(db.session.execute(text("select distinct tablename from pg_stats where tablename = any(:t)"),
                                      {"t": ["visits", "visit_keys", *rollups.ROLLUP_TABLES]}).scalars())
    assert analysed == {"visits", "visit_keys", *rollups.ROLLUP_TABLES}
    # The secondary indexes dropped for the load are back, on the parent and every partition.
    assert visit_indexes() >= indexes and len(indexes) > 5
    visits = db.session.execute(text("select count(*), count(distinct household_id) from visits")).one()
    assert visits[0] > 1000 and db.session.execute(text("select count(*) from visit_keys")).scalar() == visits[0]
    flagged = dict(db.session.execute(text(
        "select flag, count(*) from visits, unnest(flags) as flag group by flag")).all())
    assert {"mocked_location", "low_accuracy", "outside_grid"} <= set(flagged)

    recomputed = snapshot(FROM_VISITS)
    bulk = snapshot(STORED)
    for name in STORED:
        assert bulk[name] == recomputed[name], name
        assert bulk[name], name

    # The sync's fold, one batch per local day as phones syncing every evening would have sent them.
    for table in STORED:
        db.session.execute(text(f"delete from {table}"))
    today = now.astimezone(LOCAL).date()
    for offset in range(6, -1, -1):
        start = datetime.combine(today - timedelta(days=offset), datetime.min.time(), LOCAL)
        queries.stage_stored_visits(start, start + timedelta(days=1))
        rollups.add_staged_visits()
    assert snapshot(STORED) == recomputed


def test_history_reaches_the_reports(client):
    seed_history(days=30, seed=9)
    rows = client.get("/api/v1/coverage?by=village").get_json()
    shares = [row["coverage"] for row in rows]
    # Each village's 30-day target is a beta(5, 2) draw: most villages are well visited, not all.
    assert 0.55 < sum(shares) / len(shares) < 0.85
    assert min(shares) < 0.6 < max(shares)
