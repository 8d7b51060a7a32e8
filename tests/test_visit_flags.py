"""Flags stored with synced visits: each with a case that raises it and a case that must not.

Flags never drop a visit: every item here is created, and the flags echoed in the result are the
ones stored on the visit and its key.
"""
from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from outreach.visits.services import LOCAL
from outreach.visits.sync import haversine_m
from tests.helpers import auth, make_user, sql, to_crs

API = "/api/v1"
SYNC = f"{API}/visits/sync"


# --- helpers ---

def inside(code: str) -> tuple[float, float]:
    """A WGS84 point safely inside a cell (the centre of its largest inscribed circle)."""
    row = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
              "where g.code = :c", c=code).one()
    return float(row[0]), float(row[1])


def east_of_cell(code: str, metres: float) -> tuple[float, float]:
    """A WGS84 point ``metres`` east of the cell's easternmost vertex (so that far from the cell)."""
    row = sql("""
        with v as (select (ST_DumpPoints(boundary)).geom as p from grids where code = :c),
        e as (select ST_Project(p::geography, :m, radians(90)) as q from v order by ST_X(p) desc limit 1)
        select ST_X(q::geometry), ST_Y(q::geometry),
               ST_Distance(q, (select boundary::geography from grids where code = :c)) from e
    """, c=code, m=metres).one()
    assert abs(row[2] - metres) < 0.02 * metres + 1, row  # really that far from the cell
    return float(row[0]), float(row[1])


def shifted(point: tuple[float, float], east_m: float) -> tuple[float, float]:
    """A point ``east_m`` metres east of ``point``."""
    lon, lat = point
    moved = (lon + east_m / (111_320.0 * math.cos(math.radians(lat))), lat)
    assert abs(haversine_m(*point, *moved) - abs(east_m)) < 0.01 * abs(east_m) + 1
    return moved


def make_phone(username: str, member_id: int, grid: str, village: str, assignment_id: int | None = None):
    make_user(username, "grid_worker", village, member_id)
    households = list(sql("select id from households where grid_code = :g and removed_at is null order by id",
                          g=grid).scalars())
    lon, lat = inside(grid)
    return SimpleNamespace(username=username, member_id=member_id, assignment_id=assignment_id, grid=grid,
                           village=village, county=village[:6], households=households, lon=lon, lat=lat,
                           headers=auth(username))


@pytest.fixture
def phone(db_session):
    """The chief of one tier-3 cell (living in its village, holding no other assignment)."""
    row = sql("""
        select a.id, a.member_id, g.code, g.village_code
        from assignments a join grids g on g.code = a.grid_code join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = 3 and m.village_code = g.village_code
          and (select count(*) from assignments b where b.member_id = a.member_id and b.valid_to is null) = 1
        order by g.code limit 1
    """).one()
    return make_phone("w1", row.member_id, row.code, row.village_code, row.id)


@pytest.fixture
def colleague(phone):
    """Another member of the same village with a phone (not assigned to the first phone's cell)."""
    member = sql("""
        select min(m.id) from members m where m.village_code = :v and m.id <> :me
          and not exists (select 1 from assignments a where a.member_id = m.id and a.valid_to is null
                          and a.grid_code in (cast(:g as text), left(cast(:g as text), 15) || '-00',
                                              left(cast(:g as text), 12) || '-00-00'))
    """, v=phone.village, me=phone.member_id, g=phone.grid).scalar()
    assert member is not None
    return make_phone("w2", member, phone.grid, phone.village)


def other_cell(phone) -> tuple[str, list[int]]:
    """Another tier-3 cell of the worker's village (the worker is not assigned to it), with its households."""
    code = sql("select min(code) from grids where tier = 3 and village_code = :v and code <> :g",
               v=phone.village, g=phone.grid).scalar()
    households = list(sql("select id from households where grid_code = :g and removed_at is null order by id",
                          g=code).scalars())
    return code, households


def item(phone, household: int | None = None, *, at: datetime | None = None, point=None, crs: str = "wgs84",
         accuracy: float | None = 10.0, mocked: bool | None = None, grid: str | None = None, **fields) -> dict:
    """One visit as a phone sends it (``point`` in WGS84, sent converted to ``crs``)."""
    lon, lat = to_crs(*(point or (phone.lon, phone.lat)), crs)
    location = {"lon": lon, "lat": lat, "crs": crs, "accuracy_m": accuracy}
    if mocked is not None:
        location["mocked"] = mocked
    body = {"id": str(uuid.uuid4()), "household_id": phone.households[0] if household is None else household,
            "grid_code": grid or phone.grid, "visited_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "outcome": "completed", "location": location}
    body.update(fields)
    return body


def sync(client, phone, items, sent_at: datetime | None = None) -> list[list[str]]:
    """Sync; every item must be created; the flags of each (checked against what was stored)."""
    body = {"visits": items}
    if sent_at is not None:
        body["sent_at"] = sent_at.isoformat()
    response = client.post(SYNC, json=body, headers=phone.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["created"] * len(items), results
    for result in results:
        stored = sql("select v.flags, k.flags from visits v join visit_keys k using (county_code, id) "
                     "where v.id = cast(:id as uuid)", id=result["id"]).one()
        assert sorted(stored[0]) == sorted(stored[1]) == sorted(result["flags"]), (stored, result)
    return [sorted(r["flags"]) for r in results]


def local(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL)


def days_ago(n: int):
    return datetime.now(UTC).astimezone(LOCAL).date() - timedelta(days=n)


def transaction_now() -> datetime:
    """The database's now(): constant in the test transaction, so what ``valid_from``/``valid_to`` get."""
    return sql("select now()").scalar()


# --- a clean visit, and all at once ---

def test_a_plain_visit_has_no_flags(client, phone):
    assert sync(client, phone, [item(phone)]) == [[]]


def test_flags_accumulate_and_never_drop_the_visit(client, phone):
    cell, households = other_cell(phone)
    visit = item(phone, households[0], grid=cell, point=east_of_cell(cell, 500), accuracy=500, mocked=True,
                 at=datetime.now(UTC) + timedelta(hours=2))
    [flags] = sync(client, phone, [visit], sent_at=datetime.now(UTC) - timedelta(hours=1))
    assert flags == sorted(["outside_grid", "future_time", "clock_skew", "mocked_location", "low_accuracy",
                            "not_assigned"])


# --- outside_grid ---

@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_point_inside_the_cell_in_any_crs_is_not_outside_grid(client, phone, crs):
    assert sync(client, phone, [item(phone, crs=crs)]) == [[]]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_point_outside_the_cell_in_a_chinese_crs_is_outside_grid(client, phone, crs):
    [flags] = sync(client, phone, [item(phone, point=east_of_cell(phone.grid, 500), crs=crs)])
    assert "outside_grid" in flags


@pytest.mark.parametrize(("metres", "flagged"), [(50, False), (90, False), (150, True), (500, True),
                                                 (5000, True)])
def test_outside_grid_beyond_the_tolerance(client, phone, metres, flagged):
    [flags] = sync(client, phone, [item(phone, point=east_of_cell(phone.grid, metres))])
    assert ("outside_grid" in flags) is flagged, flags


def test_outside_grid_is_measured_from_the_households_cell(client, phone):
    """A point deep in the worker's own cell is outside the cell of a household it visits elsewhere."""
    cell, households = other_cell(phone)
    [flags] = sync(client, phone, [item(phone, households[0], grid=cell)])  # point: the worker's own cell
    distance = sql("select ST_Distance(boundary::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) "
                   "from grids where code = :c", x=phone.lon, y=phone.lat, c=cell).scalar()
    assert ("outside_grid" in flags) is (distance > 100)


# --- impossible_travel ---

@pytest.mark.parametrize(("minutes", "flagged"), [(0, True), (1, True), (1.5, True), (2.5, False), (10, False),
                                                  (60, False)])
def test_impossible_travel_between_two_visits_of_a_batch(client, phone, minutes, flagged):
    """2 km: in 1 minute is 120 km/h, in 1.5 minutes 80 km/h (over 60); 2.5 minutes is 48 km/h."""
    start = datetime.now(UTC) - timedelta(hours=3)
    first = item(phone, phone.households[0], at=start)
    second = item(phone, phone.households[1], at=start + timedelta(minutes=minutes),
                  point=shifted((phone.lon, phone.lat), 2000))
    flags = sync(client, phone, [first, second])
    assert "impossible_travel" not in flags[0]
    assert ("impossible_travel" in flags[1]) is flagged, flags


@pytest.mark.parametrize(("metres", "flagged"), [(250, False), (400, True)])
def test_jumps_under_300_m_are_ignored(client, phone, metres, flagged):
    start = datetime.now(UTC) - timedelta(hours=3)
    flags = sync(client, phone, [item(phone, at=start),
                                 item(phone, phone.households[1], at=start + timedelta(seconds=5),
                                      point=shifted((phone.lon, phone.lat), metres))])
    assert ("impossible_travel" in flags[1]) is flagged, flags
    assert "impossible_travel" not in flags[0]


def test_the_later_visit_is_blamed_whatever_the_order_sent(client, phone):
    start = datetime.now(UTC) - timedelta(hours=3)
    later = item(phone, phone.households[1], at=start + timedelta(minutes=1),
                 point=shifted((phone.lon, phone.lat), 2000))
    flags = sync(client, phone, [later, item(phone, at=start)])
    assert "impossible_travel" in flags[0] and "impossible_travel" not in flags[1]


def test_stored_earlier_visit_then_batch_visit_far_away(client, phone):
    start = datetime.now(UTC) - timedelta(hours=3)
    earlier = item(phone, at=start)
    assert sync(client, phone, [earlier]) == [[]]
    [flags] = sync(client, phone, [item(phone, phone.households[1], at=start + timedelta(minutes=1),
                                        point=shifted((phone.lon, phone.lat), 2000))])
    assert "impossible_travel" in flags
    assert list(sql("select flags from visits where id = cast(:id as uuid)", id=earlier["id"]).scalar()) == []


def test_stored_earlier_visit_then_batch_visit_reachable(client, phone):
    start = datetime.now(UTC) - timedelta(hours=3)
    sync(client, phone, [item(phone, at=start)])
    [flags] = sync(client, phone, [item(phone, phone.households[1], at=start + timedelta(hours=1),
                                        point=shifted((phone.lon, phone.lat), 2000))])
    assert "impossible_travel" not in flags


def test_late_arriving_earlier_visit_is_flagged_not_the_stored_one(client, phone):
    start = datetime.now(UTC) - timedelta(hours=3)
    stored = item(phone, at=start)
    sync(client, phone, [stored])
    [flags] = sync(client, phone, [item(phone, phone.households[1], at=start - timedelta(minutes=1),
                                        point=shifted((phone.lon, phone.lat), 2000))])
    assert "impossible_travel" in flags
    assert list(sql("select flags from visits where id = cast(:id as uuid)", id=stored["id"]).scalar()) == []


def test_travel_is_per_worker(client, phone, colleague):
    start = datetime.now(UTC) - timedelta(hours=3)
    sync(client, phone, [item(phone, at=start)])
    [flags] = sync(client, colleague, [item(colleague, phone.households[1], at=start + timedelta(minutes=1),
                                            point=shifted((phone.lon, phone.lat), 2000))])
    assert "impossible_travel" not in flags


def test_travel_two_days_apart_is_not_compared(client, phone):
    start = datetime.now(UTC) - timedelta(days=4)
    sync(client, phone, [item(phone, at=start)])
    [flags] = sync(client, phone, [item(phone, phone.households[1], at=start + timedelta(days=2),
                                        point=shifted((phone.lon, phone.lat), 50_000))])
    assert "impossible_travel" not in flags


# --- future_time ---

@pytest.mark.parametrize(("ahead", "flagged"), [(timedelta(hours=1), True), (timedelta(minutes=6), True),
                                                (timedelta(minutes=1), False), (timedelta(hours=-1), False)])
def test_future_time(client, phone, ahead, flagged):
    [flags] = sync(client, phone, [item(phone, at=datetime.now(UTC) + ahead)])
    assert ("future_time" in flags) is flagged, flags
    assert "clock_skew" not in flags


# --- clock_skew ---

@pytest.mark.parametrize(("offset", "flagged"), [(timedelta(minutes=-10), True), (timedelta(minutes=10), True),
                                                 (timedelta(hours=-5), True), (timedelta(minutes=-1), False),
                                                 (timedelta(minutes=1), False), (None, False)])
def test_clock_skew_from_sent_at(client, phone, offset, flagged):
    sent_at = None if offset is None else datetime.now(UTC) + offset
    flags = sync(client, phone, [item(phone), item(phone, phone.households[1])], sent_at=sent_at)
    assert [("clock_skew" in f) for f in flags] == [flagged, flagged], flags


def test_clock_skew_compares_instants_not_local_clock_faces(client, phone):
    sent_at = datetime.now(UTC).astimezone(LOCAL)  # +08:00, the same instant
    [flags] = sync(client, phone, [item(phone)], sent_at=sent_at)
    assert "clock_skew" not in flags


# --- mocked_location ---

@pytest.mark.parametrize(("mocked", "flagged"), [(True, True), (False, False), (None, False)])
def test_mocked_location(client, phone, mocked, flagged):
    [flags] = sync(client, phone, [item(phone, mocked=mocked)])
    assert flags == (["mocked_location"] if flagged else [])


# --- low_accuracy ---

@pytest.mark.parametrize(("accuracy", "flagged"), [(150, True), (100.5, True), (100, False), (30, False),
                                                   (None, False)])
def test_low_accuracy(client, phone, accuracy, flagged):
    [flags] = sync(client, phone, [item(phone, accuracy=accuracy)])
    assert flags == (["low_accuracy"] if flagged else [])


# --- not_assigned ---

def test_own_cell_is_not_flagged_another_cell_is(client, phone):
    cell, households = other_cell(phone)
    flags = sync(client, phone, [item(phone), item(phone, households[0], grid=cell, point=inside(cell),
                                                    at=datetime.now(UTC) - timedelta(hours=3))])
    assert flags == [[], ["not_assigned"]]


def tier2_chief(db_session):
    """The chief of a tier-2 cell who is assigned to nothing below it, with a tier-3 cell under it."""
    row = sql("""
        select a.member_id, g.code, g.village_code from assignments a join grids g on g.code = a.grid_code
        join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = 2 and m.village_code = g.village_code
          and not exists (select 1 from assignments b where b.member_id = a.member_id and b.valid_to is null
                          and b.grid_code like left(g.code, 15) || '%' and b.grid_code <> g.code)
        order by g.code limit 1
    """).one()
    child = sql("select min(code) from grids where tier = 3 and parent_code = :p", p=row.code).scalar()
    return make_phone("w2", row.member_id, child, row.village_code)


def test_assignment_to_a_cell_above_covers_the_cells_below(client, db_session):
    worker = tier2_chief(db_session)
    outside = sql("select min(code) from grids where tier = 3 and village_code = :v and parent_code <> :p "
                  "and not exists (select 1 from assignments a where a.member_id = :m and a.valid_to is null "
                  "and a.grid_code in (code, parent_code, left(code, 12) || '-00-00'))",
                  v=worker.village, p=worker.grid[:15] + "-00", m=worker.member_id).scalar()
    outside_household = sql("select min(id) from households where grid_code = :g", g=outside).scalar()
    elsewhere = item(worker, outside_household, grid=outside, point=inside(outside),
                     at=datetime.now(UTC) - timedelta(hours=3))
    flags = sync(client, worker, [item(worker), elsewhere])
    assert flags == [[], ["not_assigned"]]


def test_visit_dated_before_the_assignment_ended_is_not_flagged(client, phone):
    response = client.delete(f"{API}/assignments/{phone.assignment_id}")  # admin ends it: valid_to = now()
    assert response.status_code == 200, response.get_data(as_text=True)
    ended = transaction_now()
    assert datetime.fromisoformat(response.get_json()["valid_to"]) == ended
    flags = sync(client, phone, [item(phone, at=ended - timedelta(hours=1)),
                                 item(phone, phone.households[1], at=ended + timedelta(seconds=1))])
    assert flags == [[], ["not_assigned"]]  # the late visit is kept; only the one after the end is flagged


def test_visit_dated_before_a_new_assignment_began_is_flagged(client, phone):
    cell, households = other_cell(phone)
    response = client.post(f"{API}/assignments", json={"member_id": phone.member_id, "grid_code": cell,
                                                       "role": "worker"})
    assert response.status_code == 201, response.get_data(as_text=True)
    began = transaction_now()
    flags = sync(client, phone, [item(phone, households[0], grid=cell, point=inside(cell),
                                      at=began - timedelta(hours=1)),
                                 item(phone, households[1], grid=cell, point=inside(cell),
                                      at=began + timedelta(seconds=1))])
    assert flags == [["not_assigned"], []]


# --- repeat_visit ---

def test_repeat_visit_same_household_same_local_day_in_one_batch(client, phone):
    day = days_ago(2)
    flags = sync(client, phone, [item(phone, at=local(day, 15), outcome="nobody_home"),
                                 item(phone, at=local(day, 10), outcome="nobody_home")])
    assert flags == [["repeat_visit"], []]  # the later of the two repeats the earlier


def test_repeat_visit_after_a_stored_visit(client, phone):
    day = days_ago(2)
    assert sync(client, phone, [item(phone, at=local(day, 10))]) == [[]]
    assert sync(client, phone, [item(phone, at=local(day, 17))]) == [["repeat_visit"]]


def test_next_local_day_is_not_a_repeat(client, phone):
    day = days_ago(3)
    assert sync(client, phone, [item(phone, at=local(day, 10))]) == [[]]
    assert sync(client, phone, [item(phone, at=local(day + timedelta(days=1), 10))]) == [[]]


def test_local_midnight_separates_days(client, phone):
    """23:30 and 00:30 local (15:30 and 16:30 UTC, one UTC day) are two local days: no repeat."""
    day = days_ago(3)
    late, early = local(day, 23, 30), local(day + timedelta(days=1), 0, 30)
    assert late.astimezone(UTC).date() == early.astimezone(UTC).date()
    assert sync(client, phone, [item(phone, at=late), item(phone, at=early)]) == [[], []]


def test_one_local_day_across_utc_midnight_is_a_repeat(client, phone):
    """07:30 and 09:00 local are 23:30 and 01:00 UTC (two UTC days) but one local day."""
    day = days_ago(3)
    early, later = local(day, 7, 30), local(day, 9)
    assert early.astimezone(UTC).date() != later.astimezone(UTC).date()
    assert sync(client, phone, [item(phone, at=early)]) == [[]]
    assert sync(client, phone, [item(phone, at=later)]) == [["repeat_visit"]]


def test_other_household_same_day_is_not_a_repeat(client, phone):
    day = days_ago(2)
    assert sync(client, phone, [item(phone, at=local(day, 10)),
                                item(phone, phone.households[1], at=local(day, 11))]) == [[], []]


def test_other_worker_same_household_same_day_is_not_a_repeat(client, phone, colleague):
    day = days_ago(2)
    assert sync(client, phone, [item(phone, at=local(day, 10))]) == [[]]
    [flags] = sync(client, colleague, [item(colleague, at=local(day, 11))])
    assert "repeat_visit" not in flags and "not_assigned" in flags
