"""Visit sync (POST /visits/sync): created, duplicate, conflict and rejected items, batch limits, the
key barrier (also under real concurrency), households found in the field, the rollups kept with the
visits, and a number of SQL statements that does not grow with the batch."""
from __future__ import annotations

import copy
import threading
import uuid
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import scoped_session, sessionmaker

from config import CITY_BBOX
from core.extensions import db
from outreach.visits import queries
from outreach.visits.services import LOCAL, store_visits
from tests.helpers import assert_error, auth, make_user, sql, to_crs

API = "/api/v1"
SYNC = f"{API}/visits/sync"
RESULT_FIELDS = {"id", "status", "flags", "errors", "household_id"}


# --- helpers ---

def lone_chiefs():
    """Tier-3 cells whose chief lives in the cell's village and holds no other assignment."""
    return sql("""
        select a.id as assignment_id, a.member_id, g.code, g.village_code
        from assignments a join grids g on g.code = a.grid_code join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = 3 and m.village_code = g.village_code
          and (select count(*) from assignments b where b.member_id = a.member_id and b.valid_to is null) = 1
        order by g.code
    """).all()


def inside(code: str) -> tuple[float, float]:
    """A WGS84 point safely inside a cell (the centre of its largest inscribed circle)."""
    row = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
              "where g.code = :c", c=code).one()
    return float(row[0]), float(row[1])


def make_phone(username: str, row) -> SimpleNamespace:
    make_user(username, "grid_worker", row.village_code, row.member_id)
    households = list(sql("select id from households where grid_code = :g and removed_at is null order by id",
                          g=row.code).scalars())
    lon, lat = inside(row.code)
    return SimpleNamespace(username=username, member_id=row.member_id, assignment_id=row.assignment_id,
                           grid=row.code, village=row.village_code, county=row.village_code[:6],
                           households=households, lon=lon, lat=lat, headers=auth(username))


@pytest.fixture
def phone(db_session):
    """A grid worker's phone: the chief of one tier-3 cell (and of nothing else)."""
    return make_phone("w1", lone_chiefs()[0])


def item(phone, household: int | None = None, *, at: datetime | None = None, point=None, crs: str = "wgs84",
         accuracy: float | None = 10.0, mocked: bool | None = None, **fields) -> dict:
    """One visit as a phone sends it (``point`` in WGS84, sent converted to ``crs``)."""
    lon, lat = to_crs(*(point or (phone.lon, phone.lat)), crs)
    location = {"lon": lon, "lat": lat, "crs": crs, "accuracy_m": accuracy}
    if mocked is not None:
        location["mocked"] = mocked
    body = {"id": str(uuid.uuid4()), "household_id": phone.households[0] if household is None else household,
            "grid_code": phone.grid, "visited_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "outcome": "completed", "location": location}
    body.update(fields)
    return body


def sync(client, phone, items, sent_at: datetime | None = None) -> list[dict]:
    body = {"visits": items}
    if sent_at is not None:
        body["sent_at"] = sent_at.isoformat()
    response = client.post(SYNC, json=body, headers=phone.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert len(results) == len(items)
    for result in results:
        assert set(result) == RESULT_FIELDS, result
    return results


def counts() -> tuple[int, int, int]:
    """Rows in visits, visit_keys and households."""
    return tuple(sql("select (select count(*) from visits), (select count(*) from visit_keys), "
                     "(select count(*) from households)").one())


def stored(visit_id: str):
    return sql("""
        select household_id, grid_code, village_code, county_code, member_id, username, visited_at, outcome,
               ST_X(location) as lon, ST_Y(location) as lat, raw_lon, raw_lat, crs, accuracy_m, mocked, topics,
               app_installed, residents_reached, vulnerable_reached, notes, flags, new_household
        from visits where id = cast(:id as uuid)
    """, id=visit_id).one()


def other_village_household(village: str) -> int:
    return sql("select min(id) from households where village_code <> :v and removed_at is null", v=village).scalar()


# --- created ---

@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_created_is_echoed_and_stored_with_raw_and_wgs84_location(client, phone, crs):
    household = phone.households[1]
    at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=123000)
    raw_lon, raw_lat = to_crs(phone.lon, phone.lat, crs)
    visit = item(phone, household, at=at, crs=crs, accuracy=12.5, mocked=False,
                 topics=["investment", "app_install"], app_installed=True, residents_reached=2,
                 vulnerable_reached=0, notes="讲了刷单诈骗\nok")
    [result] = sync(client, phone, [visit])
    assert result == {"id": visit["id"], "status": "created", "flags": [], "errors": {}, "household_id": household}

    row = stored(visit["id"])
    assert (row.household_id, row.grid_code, row.village_code, row.county_code) == (
        household, phone.grid, phone.village, phone.county)
    assert (row.member_id, row.username, row.outcome) == (phone.member_id, "w1", "completed")
    assert row.visited_at == at
    assert (row.raw_lon, row.raw_lat, row.crs) == (raw_lon, raw_lat, crs)  # kept exactly as sent
    assert abs(row.lon - phone.lon) < 1e-6 and abs(row.lat - phone.lat) < 1e-6  # converted to WGS84
    assert (row.accuracy_m, row.mocked) == (12.5, False)
    assert sorted(row.topics) == ["app_install", "investment"]
    assert (row.app_installed, row.residents_reached, row.vulnerable_reached) == (True, 2, 0)
    assert row.notes == "讲了刷单诈骗\nok"
    assert (list(row.flags), row.new_household) == ([], False)
    key = sql("select county_code, household_id, flags from visit_keys where id = cast(:id as uuid)",
              id=visit["id"]).one()
    assert (key.county_code, key.household_id, list(key.flags)) == (phone.county, household, [])


def test_created_with_minimal_fields(client, phone):
    visit = item(phone, outcome="nobody_home", accuracy=None)
    del visit["location"]["accuracy_m"], visit["location"]["crs"]
    [result] = sync(client, phone, [visit])
    assert result["status"] == "created", result
    row = stored(visit["id"])
    assert (row.crs, row.accuracy_m, row.mocked, list(row.topics), row.notes) == ("wgs84", None, False, [], None)
    assert row.outcome == "nobody_home"


def test_results_come_back_in_the_order_sent(client, phone):
    visits = [item(phone, household) for household in phone.households[:4]]
    results = sync(client, phone, visits)
    assert [r["id"] for r in results] == [v["id"] for v in visits]
    assert [r["household_id"] for r in results] == phone.households[:4]
    assert {r["status"] for r in results} == {"created"}


# --- duplicate and conflict ---

def test_identical_retry_is_duplicate_and_stores_nothing(client, phone):
    visit = item(phone, accuracy=150, mocked=True, notes="first")
    [first] = sync(client, phone, [visit])
    assert first["status"] == "created" and sorted(first["flags"]) == ["low_accuracy", "mocked_location"]
    before = counts()
    rollup = sql("select visits, completed, flagged from grid_day_counts where grid_code = :g", g=phone.grid).all()

    retry = dict(reversed(list(copy.deepcopy(visit).items())))  # same content, other key order
    [again] = sync(client, phone, [retry])
    assert again == {"id": visit["id"], "status": "duplicate", "flags": first["flags"], "errors": {},
                     "household_id": first["household_id"]}
    assert counts() == before
    assert sql("select visits, completed, flagged from grid_day_counts where grid_code = :g",
               g=phone.grid).all() == rollup


def test_same_id_with_other_content_is_conflict_and_changes_nothing(client, phone):
    visit = item(phone, notes="first")
    [first] = sync(client, phone, [visit])
    assert first["status"] == "created"
    before, row = counts(), stored(visit["id"])

    changed = dict(visit, notes="second")
    [result] = sync(client, phone, [changed])
    assert result["status"] == "conflict" and result["id"] == visit["id"]
    assert result["flags"] == [] and result["errors"] == {}
    assert counts() == before
    assert stored(visit["id"]) == row
    assert stored(visit["id"]).notes == "first"


def test_conflict_on_other_outcome_or_time(client, phone):
    visit = item(phone)
    sync(client, phone, [visit])
    other_time = dict(visit, visited_at=(datetime.fromisoformat(visit["visited_at"]) - timedelta(minutes=5))
                      .isoformat())
    other_outcome = dict(visit, outcome="refused")
    before = counts()
    results = sync(client, phone, [other_time, other_outcome])
    assert [r["status"] for r in results] == ["conflict", "conflict"]
    assert counts() == before
    assert stored(visit["id"]).outcome == "completed"


def test_repeated_id_inside_one_batch(client, phone):
    visit = item(phone, accuracy=150)
    results = sync(client, phone, [visit, copy.deepcopy(visit), dict(visit, notes="changed")])
    assert [r["status"] for r in results] == ["created", "duplicate", "conflict"]
    assert results[1]["flags"] == results[0]["flags"] == ["low_accuracy"]
    assert results[1]["household_id"] == results[0]["household_id"]
    assert sql("select count(*) from visits where id = cast(:id as uuid)", id=visit["id"]).scalar() == 1
    assert stored(visit["id"]).notes is None


def test_repeated_id_without_hyphens_inside_one_batch(client, phone):
    visit = item(phone)
    visit["id"] = uuid.UUID(visit["id"]).hex
    response = client.post(SYNC, json={"visits": [visit, copy.deepcopy(visit)]}, headers=phone.headers)
    assert response.status_code == 200, response.status_code
    assert [r["status"] for r in response.get_json()["results"]] == ["created", "duplicate"]


def test_repeated_rejected_item_inside_one_batch_is_not_a_conflict(client, phone):
    visit = item(phone, other_village_household(phone.village))
    results = sync(client, phone, [visit, copy.deepcopy(visit), dict(visit, notes="other")])
    assert [r["status"] for r in results] == ["rejected", "rejected", "conflict"]
    assert results[1]["errors"] == results[0]["errors"] and "household_id" in results[1]["errors"]


# --- rejected ---

def _bad_id(visit, phone):
    visit["id"] = "not-a-uuid"


def _set(path, value):
    def change(visit, phone):
        node = visit
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return change


def _drop(name):
    return lambda visit, phone: visit.pop(name)


def _naive_time(visit, phone):
    visit["visited_at"] = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()


def _both_households(visit, phone):
    visit["new_household"] = {"location": {"lon": phone.lon, "lat": phone.lat}}


def _neither_household(visit, phone):
    del visit["household_id"]


def _old(visit, phone):
    visit["visited_at"] = (datetime.now(UTC) - timedelta(days=31)).isoformat()


def _far_future(visit, phone):
    visit["visited_at"] = (datetime.now(UTC) + timedelta(hours=25)).isoformat()


def _outside_scope(visit, phone):
    visit["household_id"] = other_village_household(phone.village)
    visit["grid_code"] = sql("select grid_code from households where id = :h", h=visit["household_id"]).scalar()


def _other_cell(visit, phone):
    visit["grid_code"] = sql("select min(code) from grids where tier = 3 and village_code = :v and code <> :g",
                             v=phone.village, g=phone.grid).scalar()


def _unknown_household(visit, phone):
    visit["household_id"] = 10**12


REJECTIONS = {
    "bad uuid": (_bad_id, ("id",)),
    "bad outcome": (_set(["outcome"], "maybe"), ("outcome",)),
    "lon 500": (_set(["location", "lon"], 500), ("location", "lon")),
    "lat -91": (_set(["location", "lat"], -91), ("location", "lat")),
    "bad crs": (_set(["location", "crs"], "epsg3857"), ("location", "crs")),
    "negative accuracy": (_set(["location", "accuracy_m"], -1), ("location", "accuracy_m")),
    "missing grid_code": (_drop("grid_code"), ("grid_code",)),
    "malformed grid_code": (_set(["grid_code"], "not-a-cell"), ("grid_code",)),
    "missing location": (_drop("location"), ("location",)),
    "naive visited_at": (_naive_time, ("visited_at",)),
    "both household_id and new_household": (_both_households, ("household_id",)),
    "neither household_id nor new_household": (_neither_household, ("household_id",)),
    "unknown extra field": (_set(["colour"], "red"), ("colour",)),
    "unknown field in location": (_set(["location", "altitude"], 300), ("location", "altitude")),
    "mocked not a boolean": (_set(["location", "mocked"], "perhaps"), ("location", "mocked")),
    "notes with NUL": (_set(["notes"], "a\x00b"), ("notes",)),
    "unknown topic": (_set(["topics"], ["weather"]), ("topics", "0")),
    "residents_reached 101": (_set(["residents_reached"], 101), ("residents_reached",)),
    "older than 30 days": (_old, ("visited_at",)),
    "more than 24 h in the future": (_far_future, ("visited_at",)),
    "household outside the worker's scope": (_outside_scope, ("household_id",)),
    "unknown household": (_unknown_household, ("household_id",)),
    "grid_code not the household's cell": (_other_cell, ("grid_code",)),
}


@pytest.mark.parametrize("kind", list(REJECTIONS))
def test_rejected_item_does_not_stop_the_others(client, phone, kind):
    change, path = REJECTIONS[kind]
    bad = item(phone, phone.households[1])
    change(bad, phone)
    good_before, good_after = item(phone, phone.households[2]), item(phone, phone.households[3])
    before = counts()
    results = sync(client, phone, [good_before, bad, good_after])

    assert [r["status"] for r in results] == ["created", "rejected", "created"], results
    rejected = results[1]
    assert rejected["id"] == bad["id"] and rejected["flags"] == []
    node = rejected["errors"]
    for part in path:
        assert part in node, rejected["errors"]
        node = node[part]
    assert isinstance(node, list) and node and all(isinstance(m, str) and m for m in node), rejected["errors"]
    assert counts() == (before[0] + 2, before[1] + 2, before[2])
    assert sql("select count(*) from visits where id::text = :id", id=str(bad["id"])).scalar() == 0
    assert sql("select count(*) from visit_keys where id::text = :id", id=str(bad["id"])).scalar() == 0


def test_every_kind_of_rejection_in_one_batch(client, phone):
    items, expected = [], []
    for number, (change, _path) in enumerate(REJECTIONS.values()):
        bad = item(phone, phone.households[1])
        change(bad, phone)
        items += [bad, item(phone, phone.households[number % len(phone.households)])]
        expected += ["rejected", "created"]
    items.append("not an object")
    expected.append("rejected")
    results = sync(client, phone, items)
    assert [r["status"] for r in results] == expected
    assert results[-1]["errors"] and results[-1]["id"] is None
    assert sql("select count(*) from visits").scalar() == len(REJECTIONS)


def test_removed_household_is_rejected(client, phone):
    household = phone.households[1]
    assert client.delete(f"{API}/households/{household}").status_code == 200
    [result] = sync(client, phone, [item(phone, household)])
    assert result["status"] == "rejected" and "household_id" in result["errors"]


def test_visit_just_inside_the_window_is_created(client, phone):
    results = sync(client, phone, [item(phone, at=datetime.now(UTC) - timedelta(days=29, hours=23)),
                                   item(phone, at=datetime.now(UTC) + timedelta(hours=23))])
    assert [r["status"] for r in results] == ["created", "created"]
    assert "future_time" in results[1]["flags"]


def test_retry_of_a_stored_visit_that_has_aged_past_the_window_is_duplicate(client, phone):
    now = datetime.now(UTC)
    visit = item(phone, at=now - timedelta(days=31))
    [first] = store_visits([copy.deepcopy(visit)], [(phone.member_id, phone.county, "w1")], phone.village,
                           now=now - timedelta(days=2))  # synced two days ago, when it was 29 days old
    assert first["status"] == "created"
    before = counts()
    [again] = sync(client, phone, [copy.deepcopy(visit)])
    assert counts() == before
    assert again["status"] == "duplicate", again


# --- the batch ---

def test_more_than_500_visits_is_413_and_stores_nothing(client, phone):
    before = counts()
    visits = [item(phone, phone.households[n % len(phone.households)]) for n in range(501)]
    response = client.post(SYNC, json={"visits": visits}, headers=phone.headers)
    body = assert_error(response, 413)
    assert "500" in body["message"]
    assert counts() == before


def test_exactly_500_visits_are_accepted(client, phone):
    visits = [item(phone, phone.households[n % len(phone.households)],
                   at=datetime.now(UTC) - timedelta(hours=2, seconds=n)) for n in range(500)]
    results = sync(client, phone, visits)
    assert {r["status"] for r in results} == {"created"}
    assert sql("select count(*) from visits").scalar() == 500


@pytest.mark.parametrize("body", [{"visits": {"id": "x"}}, {"visits": "many"}, {"visits": None}, {},
                                  {"visits": [], "sent_at": "yesterday"},
                                  {"visits": [], "sent_at": "2026-01-01T10:00:00"},
                                  {"visits": [], "extra": 1}])
def test_malformed_envelope_is_422(client, phone, body):
    response = client.post(SYNC, json=body, headers=phone.headers)
    assert_error(response, 422)
    assert "json" in response.get_json()["errors"]


def test_empty_batch(client, phone):
    assert sync(client, phone, []) == []


def test_only_grid_workers_sync(client, anonymous_client, phone):
    visit = item(phone)
    assert_error(client.post(SYNC, json={"visits": [visit]}), 403)  # admin
    assert_error(anonymous_client.post(SYNC, json={"visits": [visit]}), 401)
    make_user("va", "village_admin", phone.village)
    assert_error(client.post(SYNC, json={"visits": [visit]}, headers=auth("va")), 403)
    assert counts()[0] == 0


# --- the key barrier ---

def test_store_visits_twice_answers_duplicate(db_session, phone):
    visits = [item(phone, household) for household in phone.households[:3]]
    workers = [(phone.member_id, phone.county, "w1")] * 3
    first = store_visits(copy.deepcopy(visits), workers, phone.village)
    assert [r["status"] for r in first] == ["created"] * 3
    before = counts()
    second = store_visits(copy.deepcopy(visits), workers, phone.village)
    assert [r["status"] for r in second] == ["duplicate"] * 3
    assert [r["flags"] for r in second] == [r["flags"] for r in first]
    assert counts() == before


ROLLUP_TABLES = {
    "visits": "id = cast(:id as uuid)",
    "visit_keys": "id = cast(:id as uuid)",
    "grid_day_counts": "grid_code = :grid and day = :day",
    "village_day_counts": "village_code = :village and day = :day",
    "grid_coverage": "grid_code = :grid",
    "household_visit_days": "household_id = :household",
    "household_coverage": "household_id = :household",
    "last_completed_counts": "village_code = :village and day = :day",
    "household_visit_months": "household_id = :household",
    "village_month_counts": "village_code = :village and month = date_trunc('month', cast(:day as date))::date",
    "village_app_counts": "village_code = :village",
}


def test_concurrent_retries_store_the_visit_once(app, db_session, phone, monkeypatch):
    """Two phones' requests race with the same visit: one creates it, the other answers duplicate.

    Real concurrency cannot happen inside the rolled-back test transaction, so this test runs
    store_visits in two threads on their own engine (separate connections to the test database),
    on seeded data that is committed already.  What they write is committed: it is deleted again
    in ``finally`` (the rows touched start out absent, which is checked first).
    """
    household, grid, village = phone.households[0], phone.grid, phone.village
    visited_at = datetime.now(UTC) - timedelta(days=3)
    keys = {"id": None, "grid": grid, "village": village, "household": household,
            "day": visited_at.astimezone(LOCAL).date()}
    visit = item(phone, household, at=visited_at, accuracy=150)
    keys["id"] = visit["id"]
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=4)

    def rows(connection) -> dict[str, int]:
        return {table: connection.execute(text(f"select count(*) from {table} where {where}"), keys).scalar()
                for table, where in ROLLUP_TABLES.items()}

    with engine.connect() as connection:
        assert set(rows(connection).values()) == {0}, "committed visit data left in the test database"
    barrier = threading.Barrier(2, timeout=20)
    original_claim, original_keys = queries.claim_staged, queries.existing_keys
    key_lookups: list[int] = []

    def claim_together():
        barrier.wait()  # both requests have validated, flagged and staged before either claims
        return original_claim()

    def counted_keys(counties, ids):
        key_lookups.append(len(ids))
        return original_keys(counties, ids)

    results, errors = [], []
    threaded = scoped_session(sessionmaker(bind=engine), scopefunc=threading.get_ident)

    def request():
        try:
            with app.app_context():
                results.extend(store_visits([copy.deepcopy(visit)], [(phone.member_id, phone.county, "w1")],
                                            phone.village))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
            barrier.abort()
        finally:
            threaded.remove()

    try:
        with monkeypatch.context() as patch:
            patch.setattr(db, "session", threaded)
            patch.setattr(queries, "claim_staged", claim_together)
            patch.setattr(queries, "existing_keys", counted_keys)
            threads = [threading.Thread(target=request) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert not errors, errors
        assert sorted(r["status"] for r in results) == ["created", "duplicate"], results
        assert results[0]["flags"] == results[1]["flags"] == ["low_accuracy"]
        assert results[0]["household_id"] == results[1]["household_id"] == household
        # Both found no stored key at first; the loser met the winner's key when claiming (the late path).
        assert key_lookups == [1, 1, 1]
        with engine.connect() as connection:
            found = rows(connection)
            assert found["visits"] == found["visit_keys"] == 1
            counters = connection.execute(text("select visits, completed, flagged from grid_day_counts "
                                               "where grid_code = :grid and day = :day"), keys).one()
            assert tuple(counters) == (1, 1, 1)
            assert connection.execute(text("select households from last_completed_counts "
                                           "where village_code = :village and day = :day"), keys).scalar() == 1
    finally:
        with engine.begin() as connection:
            for table, where in ROLLUP_TABLES.items():
                connection.execute(text(f"delete from {table} where {where}"), keys)
        engine.dispose()


# --- households found in the field ---

def found_point(phone) -> tuple[float, float]:
    """A WGS84 point inside another tier-3 cell of the worker's village."""
    other = sql("select max(code) from grids where tier = 3 and village_code = :v and code <> :g",
                v=phone.village, g=phone.grid).scalar()
    return inside(other)


def covering_cell(lon: float, lat: float) -> str:
    return sql("select code from grids where tier = 3 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:x, :y), "
               "4326)) order by code limit 1", x=lon, y=lat).scalar()


def new_household_item(phone, point, crs="gcj02", **fields) -> dict:
    visit = item(phone, point=point, crs=crs, **fields)
    del visit["household_id"]
    lon, lat = to_crs(*point, crs)
    visit["new_household"] = {"location": {"lon": lon, "lat": lat, "crs": crs}, "address": "新村 3 号",
                              "residents": 3, "tags": ["elderly", "elderly_alone", "elderly"]}
    return visit


def test_new_household_is_created_in_the_covering_cell(client, phone):
    point = found_point(phone)
    cell = covering_cell(*point)
    visit = new_household_item(phone, point)
    before = counts()
    [result] = sync(client, phone, [visit])
    assert result["status"] == "created", result
    household_id = result["household_id"]
    assert isinstance(household_id, int)

    household = sql("select county_code, grid_code, village_code, ST_X(location) as lon, ST_Y(location) as lat, "
                    "address, residents, tags, source_visit_id::text as source, removed_at from households "
                    "where id = :h", h=household_id).one()
    assert (household.grid_code, household.village_code, household.county_code) == (cell, phone.village,
                                                                                     phone.county)
    assert abs(household.lon - point[0]) < 1e-6 and abs(household.lat - point[1]) < 1e-6
    assert (household.address, household.residents, sorted(household.tags)) == ("新村 3 号", 3,
                                                                                 ["elderly", "elderly_alone"])
    assert household.source == visit["id"] and household.removed_at is None
    row = stored(visit["id"])
    assert (row.household_id, row.grid_code, row.new_household) == (household_id, cell, True)
    assert "not_assigned" in row.flags  # the worker leads another cell of the village
    coverage = sql("select grid_code, vulnerable, last_visit_at from household_coverage where household_id = :h",
                   h=household_id).one()
    assert (coverage.grid_code, coverage.vulnerable) == (cell, True)
    assert coverage.last_visit_at == datetime.fromisoformat(visit["visited_at"])
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 1)

    [again] = sync(client, phone, [copy.deepcopy(visit)])
    assert (again["status"], again["household_id"]) == ("duplicate", household_id)
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert sql("select count(*) from households where source_visit_id = cast(:id as uuid)",
               id=visit["id"]).scalar() == 1


def test_new_household_retry_through_the_service_creates_it_once(db_session, phone):
    visit = new_household_item(phone, (phone.lon, phone.lat), crs="wgs84")
    workers = [(phone.member_id, phone.county, "w1")]
    [first] = store_visits([copy.deepcopy(visit)], workers, phone.village)
    [second] = store_visits([copy.deepcopy(visit)], workers, phone.village)
    assert (first["status"], second["status"]) == ("created", "duplicate")
    assert first["household_id"] == second["household_id"]
    assert sql("select count(*) from households where source_visit_id = cast(:id as uuid)",
               id=visit["id"]).scalar() == 1


def test_new_household_outside_scope_is_rejected(client, phone):
    other = sql("select min(code) from grids where tier = 3 and village_code <> :v", v=phone.village).scalar()
    visit = new_household_item(phone, inside(other))
    before = counts()
    [result] = sync(client, phone, [visit])
    assert result["status"] == "rejected"
    assert "location" in result["errors"]["new_household"]
    assert counts() == before


def test_new_household_outside_every_cell_is_rejected(client, phone):
    row = sql("""
        with u as (select ST_Union(boundary) as g from grids where tier = 3),
        d as (select (ST_Dump(ST_Difference(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), u.g))).geom as g from u)
        select ST_X(c.center), ST_Y(c.center) from d, ST_MaximumInscribedCircle(d.g) c order by c.radius desc limit 1
    """, **dict(zip(("x0", "y0", "x1", "y1"), CITY_BBOX, strict=True))).first()  # inside the bbox, in no cell
    point = (float(row[0]), float(row[1]))
    assert covering_cell(*point) is None
    [result] = sync(client, phone, [new_household_item(phone, point, crs="wgs84")])
    assert result["status"] == "rejected" and "location" in result["errors"]["new_household"]


def test_new_household_outside_the_city_is_rejected(client, phone):
    [result] = sync(client, phone, [new_household_item(phone, (116.4, 39.9), crs="wgs84")])
    assert result["status"] == "rejected" and "location" in result["errors"]["new_household"]


def test_new_household_is_counted_in_its_cell_and_village(client, phone):
    point = found_point(phone)
    cell = covering_cell(*point)
    cell_before = client.get(f"{API}/grids/{cell}").get_json()["households"]
    village_before = client.get(f"{API}/regions/{phone.village}").get_json()["households"]
    [result] = sync(client, phone, [new_household_item(phone, point)])
    assert result["status"] == "created"
    assert client.get(f"{API}/grids/{cell}").get_json()["households"] == cell_before + 1
    assert client.get(f"{API}/regions/{phone.village}").get_json()["households"] == village_before + 1


# --- rollups ---

def local(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL)


def assert_rollups_match_visits():
    """Every rollup equals the same figure computed straight from ``visits`` (the only visits are this test's)."""
    day = "(visited_at at time zone 'Asia/Shanghai')::date"

    def same(rollup: str, truth: str):
        assert sorted(map(tuple, sql(rollup).all())) == sorted(map(tuple, sql(truth).all())), rollup

    same("select county_code, grid_code, day, visits, completed, flagged from grid_day_counts where visits > 0",
         f"select county_code, grid_code, {day}, count(*), count(*) filter (where outcome = 'completed'), "
         f"count(*) filter (where cardinality(flags) > 0) from visits group by 1, 2, 3")
    same("select village_code, day, visits, completed, flagged from village_day_counts where visits > 0",
         f"select village_code, {day}, count(*), count(*) filter (where outcome = 'completed'), "
         f"count(*) filter (where cardinality(flags) > 0) from visits group by 1, 2")
    same("select grid_code, village_code, last_visit_at, last_completed_on from grid_coverage",
         f"select grid_code, village_code, max(visited_at), max({day}) filter (where outcome = 'completed') "
         f"from visits group by 1, 2")
    same("select county_code, household_id, grid_code, last_visit_at, last_completed_on from household_coverage",
         f"select county_code, household_id, min(grid_code), max(visited_at), "
         f"max({day}) filter (where outcome = 'completed') from visits group by 1, 2")
    same("select county_code, household_id, day, previous_day from household_visit_days",
         f"select county_code, household_id, d, lag(d) over (partition by county_code, household_id order by d) "
         f"from (select distinct county_code, household_id, {day} as d from visits "
         f"where outcome = 'completed') x")
    same("select village_code, day, households, vulnerable from last_completed_counts where households <> 0 "
         "or vulnerable <> 0",
         f"select v.village_code, v.last_day, count(*), count(*) filter (where cardinality(h.tags) > 0) "
         f"from (select county_code, household_id, min(village_code) as village_code, "
         f"max({day}) filter (where outcome = 'completed') as last_day from visits group by 1, 2) v "
         f"join households h on h.county_code = v.county_code and h.id = v.household_id "
         f"where v.last_day is not null group by 1, 2")
    month = f"date_trunc('month', {day})::date"
    same("select county_code, household_id, month, village_code, vulnerable from household_visit_months",
         f"select distinct v.county_code, v.household_id, {month}, v.village_code, cardinality(h.tags) > 0 "
         f"from visits v join households h on h.county_code = v.county_code and h.id = v.household_id "
         f"where v.outcome = 'completed'")
    same("select village_code, month, households, vulnerable, visits, flagged from village_month_counts "
         "where visits <> 0 or households <> 0",
         f"select v.village_code, {month}, count(distinct v.household_id) filter (where v.outcome = 'completed'), "
         f"count(distinct v.household_id) filter (where v.outcome = 'completed' and cardinality(h.tags) > 0), "
         f"count(*), count(*) filter (where cardinality(v.flags) > 0) "
         f"from visits v join households h on h.county_code = v.county_code and h.id = v.household_id group by 1, 2")
    same("select village_code, app_installed from village_app_counts where app_installed <> 0",
         "select village_code, sum(app_installed) from grid_coverage group by 1 having sum(app_installed) <> 0")


def test_rollups_follow_every_sync(client, phone):
    today = datetime.now(UTC).astimezone(LOCAL).date()
    h1, h2, h3 = phone.households[:3]
    sql("update households set tags = '{elderly}' where id = :h", h=h2)

    def lcc(day):
        return sql("select households from last_completed_counts where village_code = :v and day = :d",
                   v=phone.village, d=day).scalar()

    def previous(household, day):
        return sql("select previous_day from household_visit_days where household_id = :h and day = :d",
                   h=household, d=day).scalar()

    d5, d3, d2, d1 = (today - timedelta(days=n) for n in (5, 3, 2, 1))
    sync(client, phone, [item(phone, h1, at=local(d3, 10)), item(phone, h2, at=local(d3, 11), mocked=True),
                         item(phone, h3, at=local(d3, 12), outcome="nobody_home")])
    assert_rollups_match_visits()
    assert lcc(d3) == 2
    assert sql("select visits, completed, flagged from grid_day_counts where grid_code = :g and day = :d",
               g=phone.grid, d=d3).one() == (3, 2, 1)
    assert sql("select last_completed_on from household_coverage where household_id = :h", h=h3).scalar() is None

    # A later completed visit moves h1's latest completed day: d3 loses it, d1 gains it.
    sync(client, phone, [item(phone, h1, at=local(d1, 9)), item(phone, h3, at=local(d1, 9, 30))])
    assert_rollups_match_visits()
    assert (lcc(d3), lcc(d1)) == (1, 2)
    assert previous(h1, d1) == d3

    # An earlier-day visit arriving late: d5 gets no latest day, but becomes d3's previous day.
    sync(client, phone, [item(phone, h1, at=local(d5, 15)), item(phone, h1, at=local(d2, 15), outcome="refused")])
    assert_rollups_match_visits()
    assert (lcc(d5), lcc(d3), lcc(d1)) in ((None, 1, 2), (0, 1, 2))
    assert (previous(h1, d5), previous(h1, d3), previous(h1, d1)) == (None, d5, d3)
    assert sql("select last_completed_on from household_coverage where household_id = :h", h=h1).scalar() == d1
    assert sql("select last_visit_at from grid_coverage where grid_code = :g", g=phone.grid).scalar() \
        == local(d1, 9, 30)

    # Duplicates and conflicts change no rollup.
    replay = item(phone, h2, at=local(d2, 8))
    sync(client, phone, [replay])
    snapshot = sql("select * from grid_day_counts order by 1, 2, 3").all()
    sync(client, phone, [copy.deepcopy(replay), dict(replay, outcome="refused")])
    assert sql("select * from grid_day_counts order by 1, 2, 3").all() == snapshot
    assert_rollups_match_visits()


def test_rollups_of_a_visit_after_local_midnight(client, phone):
    day = datetime.now(UTC).astimezone(LOCAL).date() - timedelta(days=4)
    sync(client, phone, [item(phone, at=local(day, 23, 50)), item(phone, phone.households[1],
                                                                   at=local(day + timedelta(days=1), 0, 10))])
    assert_rollups_match_visits()
    days = sql("select day, visits from grid_day_counts where grid_code = :g order by day", g=phone.grid).all()
    assert [tuple(r) for r in days] == [(day, 1), (day + timedelta(days=1), 1)]


# --- a bounded number of statements ---

def test_statements_do_not_grow_with_the_batch(client, phone, monkeypatch):
    households = list(sql("select id, grid_code from households where village_code = :v and removed_at is null "
                          "order by id", v=phone.village).all())
    now = datetime.now(UTC)
    base = max(now - timedelta(hours=2), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
               + timedelta(minutes=1))  # one month: one partition for every batch

    def batch(size: int, offset: int) -> list[dict]:
        visits = []
        for n in range(size):
            household, grid = households[n % len(households)]
            visits.append(item(phone, household, grid_code=grid, at=base + timedelta(seconds=offset + n),
                               outcome=("completed", "nobody_home", "refused")[n % 3],
                               accuracy=150 if n % 7 == 0 else 10, mocked=n % 11 == 0,
                               topics=["investment"] if n % 2 else []))
        return visits

    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    original_copy = psycopg.Cursor.copy

    def counting_copy(self, statement, *args, **kwargs):
        statements.append(statement)
        return original_copy(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", counting_copy)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        sync(client, phone, batch(1, 0))  # warm-up
        used = {}
        for size, offset in ((5, 100), (200, 1000)):
            statements.clear()
            results = sync(client, phone, batch(size, offset))
            assert {r["status"] for r in results} == {"created"}
            used[size] = list(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert any(s.lstrip().lower().startswith("copy") for s in used[5])
    assert len(used[5]) == len(used[200]), (len(used[5]), len(used[200]))
    assert 10 < len(used[200]) < 40, used[200]
    assert sql("select count(*) from visits").scalar() == 206


# --- gzip bodies (the field app sends large batches gzipped) ---

def test_a_gzipped_batch_is_stored_like_a_plain_one(client, phone):
    import gzip
    import json

    items = [item(phone, at=datetime.now(UTC) - timedelta(minutes=i + 1)) for i in range(3)]
    body = gzip.compress(json.dumps({"visits": items}).encode())
    response = client.post(SYNC, data=body, headers={**phone.headers, "Content-Type": "application/json",
                                                     "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [r["status"] for r in response.get_json()["results"]] == ["created"] * 3
    again = client.post(SYNC, data=body, headers={**phone.headers, "Content-Type": "application/json",
                                                  "Content-Encoding": "gzip"})
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate"] * 3


def test_bad_gzip_is_400_and_a_bomb_is_413(client, phone, app):
    import gzip

    headers = {**phone.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    before = counts()
    assert_error(client.post(SYNC, data=b"not gzip at all", headers=headers), 400)
    assert_error(client.post(SYNC, data=gzip.compress(b"{}")[:-6], headers=headers), 400)  # truncated
    bomb = gzip.compress(b" " * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert len(bomb) < 100_000
    assert_error(client.post(SYNC, data=bomb, headers=headers), 413)
    assert counts() == before


def test_another_members_visit_id_tells_nothing_of_that_visit(client, phone):
    other_row = next(r for r in lone_chiefs() if r.village_code[:6] == phone.county and r.member_id != phone.member_id)
    other = make_phone("w-other", other_row)
    visit = item(phone, mocked=True)
    [first] = sync(client, phone, [visit])
    assert first["status"] == "created" and first["flags"] and first["household_id"] == phone.households[0]
    before = counts()
    # The same id from another member of the county, copied whole or with their own household: a conflict
    # that names neither the household nor the flags of the visit stored under it, and changes nothing.
    for copied in (visit, item(other, id=visit["id"])):
        [result] = sync(client, other, [copied])
        assert result == {"id": visit["id"], "status": "conflict", "flags": [], "errors": {}, "household_id": None}
    assert counts() == before
    # The member who stored it still gets the retry answer.
    [again] = sync(client, phone, [visit])
    assert again == first | {"status": "duplicate"}
