"""Property: every figure of every coverage grouping, and the time series, equal a direct computation over
the visits table (and households / grids for the static counts), for random visit histories stored through
``store_visits`` — late arrivals, retries, repeat visits of a household on one day and on several days, visits
near local midnight, flagged visits, app statuses, households found in the field — and for periods on both
code paths (reaching the latest visit day, or ending before it).

Each example runs inside a connection-level savepoint rolled back afterwards, so examples are independent."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.extensions import db
from outreach.coverage import services as coverage_services
from outreach.visits.services import LOCAL, store_visits
from tests.helpers import sql

API = "/api/v1"
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(LOCAL).date()
LENGTH = {"county": 6, "township": 9, "village": 12, "grid": 18}
CITY = "610900000000"
COUNTY = "610981000000"  # one township with three villages
TOWNSHIP = "610981100000"
VILLAGE = "610981100004"
# (region, by): every level of grouping, for the city and below.
GROUPINGS = [(CITY, "county"), (CITY, "village"), (CITY, "grid"), (COUNTY, "township"), (TOWNSHIP, "village"),
             (VILLAGE, "grid")]
# Cells the random visits go to: several in one village, and some elsewhere in the city.
POOL_CELLS = {"610981100004": 3, "610981100005": 1, "610981100006": 1, "610925100001": 1, "610902001003": 1}
HOUSEHOLDS_PER_CELL = 3
POOL_SIZE = sum(POOL_CELLS.values()) * HOUSEHOLDS_PER_CELL
BATCHES = 4
ROW_FIELDS = {"code", "name", "households", "households_visited", "coverage", "band", "vulnerable",
              "vulnerable_visited", "vulnerable_coverage", "app_installed", "app_install_rate", "grids",
              "grids_visited", "visits", "flagged_visits"}


@contextmanager
def rolled_back():
    """Run a block in a savepoint of the test's connection and undo it (the services' commits only release
    savepoints of their own inside it)."""
    db.session.close()
    savepoint = db.session.get_bind().begin_nested()
    try:
        yield
    finally:
        db.session.close()
        savepoint.rollback()


def household_pool() -> list:
    """Households of the pool cells (vulnerable and not), with their cell's chief and a point inside the cell."""
    pool = []
    for village, n_cells in POOL_CELLS.items():
        cells = sql("select code from grids where tier = 3 and village_code = :v order by code limit :n",
                    v=village, n=n_cells).scalars().all()
        for cell in cells:
            rows = sql("""
                select h.id, h.grid_code, ST_X(h.location) as lon, ST_Y(h.location) as lat,
                       a.member_id, m.county_code as member_county,
                       ST_X(c.center) as cx, ST_Y(c.center) as cy
                from households h
                join assignments a on a.grid_code = h.grid_code and a.role = 'chief' and a.valid_to is null
                join members m on m.id = a.member_id
                join grids g on g.code = h.grid_code, ST_MaximumInscribedCircle(g.boundary) c
                where h.grid_code = :cell and h.removed_at is null
                order by cardinality(h.tags) > 0, h.id
            """, cell=cell).all()
            # Some with tags, some without.
            chosen = [rows[0], rows[-1], rows[len(rows) // 2]][:HOUSEHOLDS_PER_CELL]
            pool.extend(chosen)
    assert len(pool) == POOL_SIZE
    return pool


def local_moment(days_back: int, seconds: int, unique: int) -> datetime:
    """A moment ``seconds`` into the local day ``days_back`` before today (made unique by milliseconds)."""
    start = datetime.combine(TODAY - timedelta(days=days_back), time(0), LOCAL)
    return (start + timedelta(seconds=seconds, milliseconds=unique)).astimezone(UTC)


# --- the random histories ---

NEAR_MIDNIGHT = [0, 1, 30, 59, 86340, 86370, 86398, 86399]
visit_strategy = st.tuples(
    st.one_of(st.integers(0, 2), st.integers(0, POOL_SIZE - 1)),               # household (often the same few)
    st.one_of(st.integers(0, 6), st.integers(-1, 39)),                         # local days back (-1: tomorrow)
    st.one_of(st.integers(0, 86399), st.sampled_from(NEAR_MIDNIGHT)),           # seconds into the local day
    st.sampled_from(["completed", "completed", "completed", "nobody_home", "refused"]),
    st.sampled_from([None, None, True, False]),                                 # app_installed
    st.sampled_from([10.0, 10.0, 10.0, 20.0, None, 500.0]),                     # accuracy (500: low_accuracy)
    st.sampled_from([False, False, False, False, True]),                        # mocked
    st.integers(0, BATCHES - 1),                                                # batch
)
found_strategy = st.tuples(
    st.integers(0, POOL_SIZE - 1),                                              # cell of this pool household
    st.integers(0, 39), st.integers(0, 86399),
    st.sampled_from(["completed", "nobody_home"]),
    st.sampled_from([[], ["elderly"]]),
    st.integers(0, BATCHES - 1),
)


@st.composite
def histories(draw):
    visits = draw(st.lists(visit_strategy, min_size=4, max_size=30))
    return {
        "visits": visits,
        "found": draw(st.lists(found_strategy, max_size=2)),
        # Visit i sent again (a retry) in batch b.
        "retries": draw(st.lists(st.tuples(st.integers(0, len(visits) - 1), st.integers(0, BATCHES - 1)),
                                 max_size=3)),
        # Batches stored in this order: a batch of older visits after newer ones is a late arrival.
        "order": draw(st.permutations(range(BATCHES))),
        "delay": draw(st.lists(st.integers(0, 6 * 3600), min_size=BATCHES, max_size=BATCHES)),
        "skewed": draw(st.lists(st.sampled_from([False, False, False, True]), min_size=BATCHES,
                                max_size=BATCHES)),
        # Periods: one ending before the latest visit day, a single day, one starting before any visit.
        "back": draw(st.integers(1, 8)),
        "length": draw(st.integers(0, 12)),
        "single": draw(st.integers(0, len(visits) - 1)),
        "early_end": draw(st.integers(0, 5)),
    }


def build_batches(history: dict, pool: list) -> list[tuple[list, list, datetime, datetime | None]]:
    """(items, workers, now, sent_at) per batch, in the order they are stored."""
    per_batch: dict[int, list[tuple[dict, tuple, datetime]]] = {b: [] for b in range(BATCHES)}
    items = []
    for index, (h, days_back, seconds, outcome, app, accuracy, mocked, batch) in enumerate(history["visits"]):
        household = pool[h]
        at = local_moment(days_back, seconds, index)
        item = {"id": str(uuid.uuid4()), "household_id": household.id, "grid_code": household.grid_code,
                "outcome": outcome, "visited_at": at.isoformat(),
                "location": {"lon": household.lon, "lat": household.lat, "crs": "wgs84", "accuracy_m": accuracy,
                             "mocked": mocked}}
        if app is not None:
            item["app_installed"] = app
        worker = (household.member_id, household.member_county, f"chief{household.member_id}")
        items.append((item, worker, at))
        per_batch[batch].append((item, worker, at))
    for index, (h, days_back, seconds, outcome, tags, batch) in enumerate(history["found"]):
        household = pool[h]
        at = local_moment(days_back, seconds, 500 + index)
        item = {"id": str(uuid.uuid4()), "grid_code": household.grid_code, "outcome": outcome,
                "visited_at": at.isoformat(),
                "new_household": {"location": {"lon": household.cx, "lat": household.cy}, "address": "新户",
                                  "tags": tags},
                "location": {"lon": household.cx, "lat": household.cy, "crs": "wgs84", "accuracy_m": 10.0}}
        per_batch[batch].append((item, (household.member_id, household.member_county, "finder"), at))
    for index, batch in history["retries"]:
        per_batch[batch].append(items[index])
    batches = []
    for batch in history["order"]:
        entries = per_batch[batch]
        if not entries:
            continue
        now = max(at for *_, at in entries) + timedelta(seconds=history["delay"][batch])
        sent_at = now + timedelta(hours=2) if history["skewed"][batch] else None
        batches.append(([dict(e[0]) for e in entries], [e[1] for e in entries], now, sent_at))
    return batches


# --- the figures computed directly ---

def expected_rows(prefix: str, by: str, start: date, end: date, bands: tuple[float, float]) -> dict[str, dict]:
    """Every row of a grouping, from the visits table, households and grids."""
    length = LENGTH[by]
    params = {"like": prefix + "%", "length": length, "start": start, "end": end, "level": by}
    if by == "grid":
        groups = sql("select code, name from grids where tier = 3 and village_code like :like", **params).all()
    else:
        groups = sql("select code, name from regions where level = :level and code like :like "
                     "and code not in (select managed_by from regions where managed_by is not null)", **params).all()
    static = {key: (n, v) for key, n, v in sql("""
        select left(grid_code, :length), count(*), count(*) filter (where cardinality(tags) > 0)
        from households where removed_at is null and village_code like :like group by 1
    """, **params)}
    cells = dict(sql("""
        select left(code, :length), count(*) from grids where tier = 3 and village_code like :like group by 1
    """, **params).all())
    visited = {key: (n, v, c) for key, n, v, c in sql("""
        select left(v.grid_code, :length), count(distinct v.household_id),
               count(distinct v.household_id) filter (where cardinality(h.tags) > 0), count(distinct v.grid_code)
        from visits v join households h on h.county_code = v.county_code and h.id = v.household_id
        where v.outcome = 'completed' and v.village_code like :like
          and (v.visited_at at time zone 'Asia/Shanghai')::date between :start and :end
        group by 1
    """, **params)}
    counts = {key: (n, f) for key, n, f in sql("""
        select left(grid_code, :length), count(*), count(*) filter (where cardinality(flags) > 0)
        from visits
        where village_code like :like and (visited_at at time zone 'Asia/Shanghai')::date between :start and :end
        group by 1
    """, **params)}
    installed = dict(sql("""
        select left(grid_code, :length), count(*) from (
            select distinct on (household_id) household_id, grid_code, app_installed from visits
            where app_installed is not null and village_code like :like
            order by household_id, visited_at desc
        ) latest where app_installed group by 1
    """, **params).all())

    def ratio(part, whole):
        return round(part / whole, 4) if whole else None

    def band(share):
        if share is None or share < bands[0]:
            return "red"
        return "amber" if share < bands[1] else "green"

    rows = {}
    for code, name in groups:
        key = code[:length]
        households, vulnerable = static.get(key, (0, 0))
        households_visited, vulnerable_visited, cells_visited = visited.get(key, (0, 0, 0))
        visits, flagged = counts.get(key, (0, 0))
        coverage = ratio(households_visited, households)
        rows[code] = {
            "code": code, "name": name, "households": households, "households_visited": households_visited,
            "coverage": coverage, "band": band(coverage), "vulnerable": vulnerable,
            "vulnerable_visited": vulnerable_visited, "vulnerable_coverage": ratio(vulnerable_visited, vulnerable),
            "app_installed": installed.get(key, 0), "app_install_rate": ratio(installed.get(key, 0), households),
            "grids": cells.get(key, 0), "grids_visited": cells_visited, "visits": visits, "flagged_visits": flagged,
        }
    return rows


def expected_days(prefix: str, start: date, end: date) -> dict[date, dict]:
    """Per local day: visits, completed, flagged, and households first reached in [start, end] that day."""
    params = {"like": prefix + "%", "start": start, "end": end}
    days = {start + timedelta(days=i): {"visits": 0, "completed": 0, "flagged": 0, "reached": 0}
            for i in range((end - start).days + 1)}
    for day, visits, completed, flagged in sql("""
        select (visited_at at time zone 'Asia/Shanghai')::date, count(*),
               count(*) filter (where outcome = 'completed'), count(*) filter (where cardinality(flags) > 0)
        from visits
        where village_code like :like and (visited_at at time zone 'Asia/Shanghai')::date between :start and :end
        group by 1
    """, **params):
        days[day].update(visits=visits, completed=completed, flagged=flagged)
    for day, reached in sql("""
        select first_day, count(*) from (
            select household_id, min((visited_at at time zone 'Asia/Shanghai')::date) as first_day from visits
            where outcome = 'completed' and village_code like :like
              and (visited_at at time zone 'Asia/Shanghai')::date between :start and :end
            group by household_id
        ) firsts group by 1
    """, **params):
        days[day]["reached"] = reached
    return days


def region_households(prefix: str) -> int:
    return sql("select count(*) from households where removed_at is null and village_code like :like",
               like=prefix + "%").scalar()


def latest_completed_day() -> date | None:
    return sql("select max((visited_at at time zone 'Asia/Shanghai')::date) from visits "
               "where outcome = 'completed'").scalar()


def periods(history: dict) -> list[tuple[date | None, date | None]]:
    """(from, to) pairs; None: the default."""
    result: list[tuple[date | None, date | None]] = [(None, None)]
    latest = latest_completed_day()
    if latest is not None:
        end = latest - timedelta(days=history["back"])  # before the latest visit day: the other code path
        result.append((end - timedelta(days=history["length"]), end))
    days_back = history["visits"][history["single"]][1]
    single = TODAY - timedelta(days=days_back)
    result.append((single, single))
    result.append((TODAY - timedelta(days=60), TODAY))
    result.append((TODAY - timedelta(days=60), TODAY - timedelta(days=history["early_end"])))
    return result


def query(start: date | None, end: date | None) -> str:
    return "".join(f"&{name}={value.isoformat()}" for name, value in (("from", start), ("to", end)) if value)


# A history written out by hand: household 0 completed on local days 2, 9 (at 23:59:59), 8 (at 00:00:00) stored
# newest first; household 1 just before and just after a local midnight, then a late completed visit 12 days
# back; the same household twice on one day; a visit tomorrow; app statuses overridden by older late arrivals
# (which must not win); retries; a household found in the field; flagged visits (accuracy, mocked, clock skew).
HAND_WRITTEN = {
    "visits": [
        (0, 2, 36000, "completed", True, 10.0, False, 0),
        (0, 9, 86399, "completed", None, 10.0, False, 1),
        (0, 8, 0, "completed", False, 10.0, False, 2),
        (0, 5, 43200, "nobody_home", None, 10.0, False, 3),
        (1, 3, 86398, "completed", False, 500.0, False, 0),
        (1, 2, 1, "completed", None, 10.0, True, 0),
        (1, 12, 50000, "completed", True, 10.0, False, 3),
        (2, 1, 40000, "refused", True, 10.0, False, 1),
        (2, 20, 40000, "completed", None, 10.0, False, 2),
        (2, 20, 40100, "completed", None, 10.0, False, 2),
        (3, 0, 100, "completed", None, 10.0, False, 0),
        (9, 33, 3000, "completed", True, 10.0, False, 3),
        (12, 7, 20000, "completed", False, None, False, 1),
        (15, 0, 86000, "completed", True, 10.0, False, 0),
        (18, -1, 3600, "completed", None, 10.0, False, 1),
    ],
    "found": [(4, 4, 30000, "completed", ["elderly"], 2)],
    "retries": [(0, 3), (4, 1), (7, 1)],
    "order": [0, 1, 2, 3],
    "delay": [60, 3600, 0, 7200],
    "skewed": [False, True, False, False],
    "back": 1, "length": 10, "single": 1, "early_end": 3,
}


# --- the properties ---

PROPERTY_SETTINGS = settings(max_examples=15, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(history=histories())
@example(history=HAND_WRITTEN)
def test_every_coverage_figure_equals_the_visit_history(app, client, monkeypatch, history):
    monkeypatch.setattr(coverage_services, "today", lambda: TODAY)
    bands = app.config["GRIDS_COVERAGE_BANDS"]
    with rolled_back():
        assert sql("select count(*) from visits").scalar() == 0  # examples do not see each other
        pool = household_pool()
        stored: set[str] = set()
        for items, workers, now, sent_at in build_batches(history, pool):
            results = store_visits(items, workers, None, sent_at=sent_at, now=now)
            seen: set[str] = set()
            for result, item in zip(results, items, strict=True):
                too_old = datetime.fromisoformat(item["visited_at"]) < now - timedelta(days=30)
                # A retry of a stored visit is a duplicate however old; a new visit too old is rejected.
                expected = "duplicate" if item["id"] in stored else "rejected" if too_old else \
                    "duplicate" if item["id"] in seen else "created"
                assert result["status"] == expected, (result, item)
                seen.add(item["id"])
            stored |= {item["id"] for item, result in zip(items, results, strict=True)
                       if result["status"] == "created"}
        for start, end in periods(history):
            period_start = start or (end or TODAY) - timedelta(days=29)
            period_end = end or TODAY
            for region, by in GROUPINGS:
                prefix = {CITY: "6109", COUNTY: "610981", TOWNSHIP: "610981100", VILLAGE: VILLAGE}[region]
                # The statistical reading groups by code prefix, as computed here from the visits; the
                # managed one regroups township rows (tests/test_coverage.py::test_zones_*).
                response = client.get(f"{API}/coverage?region={region}&by={by}&view=statistical"
                                      f"{query(start, end)}")
                assert response.status_code == 200, response.get_json()
                rows = response.get_json()
                expected = expected_rows(prefix, by, period_start, period_end, bands)
                # Cells also name their responsible member (the chief).
                assert all(set(row) == ROW_FIELDS | ({"responsible"} if by == "grid" else set()) for row in rows)
                got = {row["code"]: {k: v for k, v in row.items() if k != "responsible"} for row in rows}
                assert len(got) == len(rows)
                assert set(got) == set(expected), (region, by)
                for code, row in expected.items():
                    assert got[code] == row, (region, by, period_start, period_end, code)
                # Lagging first: coverage ascending, regions without households last.
                shares = [row["coverage"] for row in rows]
                known = [s for s in shares if s is not None]
                assert shares[:len(known)] == known and known == sorted(known)


@PROPERTY_SETTINGS
@given(history=histories())
@example(history=HAND_WRITTEN)
def test_timeseries_adds_up_to_the_coverage_of_the_period(client, monkeypatch, history):
    monkeypatch.setattr(coverage_services, "today", lambda: TODAY)
    with rolled_back():
        assert sql("select count(*) from visits").scalar() == 0  # examples do not see each other
        pool = household_pool()
        for items, workers, now, sent_at in build_batches(history, pool):
            store_visits(items, workers, None, sent_at=sent_at, now=now)
        for start, end in periods(history):
            period_start = start or (end or TODAY) - timedelta(days=29)
            period_end = end or TODAY
            for region, prefix in ((CITY, "6109"), (COUNTY, "610981"), (VILLAGE, VILLAGE)):
                households = region_households(prefix)
                days = expected_days(prefix, period_start, period_end)
                visited = expected_rows(prefix, "grid", period_start, period_end, (0.6, 0.9))
                households_visited = sum(row["households_visited"] for row in visited.values())

                daily = client.get(f"{API}/coverage/timeseries?region={region}&interval=day{query(start, end)}")
                assert daily.status_code == 200, daily.get_json()
                body = daily.get_json()
                assert (body["region"], body["interval"], body["households"]) == (region, "day", households)
                assert (body["from"], body["to"]) == (period_start.isoformat(), period_end.isoformat())
                series = body["series"]
                assert [b["start"] for b in series] == [d.isoformat() for d in days]
                assert all(b["start"] == b["end"] for b in series)
                for bucket, (day, figures) in zip(series, days.items(), strict=True):
                    assert (bucket["visits"], bucket["completed_visits"], bucket["flagged_visits"],
                            bucket["households_reached"]) == (figures["visits"], figures["completed"],
                                                              figures["flagged"], figures["reached"]), day
                assert sum(b["households_reached"] for b in series) == households_visited
                cumulative = [b["cumulative_households_reached"] for b in series]
                assert cumulative == sorted(cumulative)
                running = 0
                for bucket in series:
                    running += bucket["households_reached"]
                    assert bucket["cumulative_households_reached"] == running
                    assert bucket["cumulative_coverage"] == round(running / households, 4)
                assert running == households_visited

                weekly = client.get(f"{API}/coverage/timeseries?region={region}&interval=week{query(start, end)}")
                assert weekly.status_code == 200, weekly.get_json()
                weeks = weekly.get_json()["series"]
                assert weeks[0]["start"] == period_start.isoformat() and weeks[-1]["end"] == period_end.isoformat()
                for week in weeks:
                    inside = [b for b in series if week["start"] <= b["start"] <= week["end"]]
                    for field in ("visits", "completed_visits", "flagged_visits", "households_reached"):
                        assert week[field] == sum(b[field] for b in inside), (week, field)
                    assert week["cumulative_households_reached"] == inside[-1]["cumulative_households_reached"]
