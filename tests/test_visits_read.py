"""Reading visits: GET /visits (filters, local-date periods, pagination, who sees what), GET /visits/{id},
and the history seeder ``flask seed visits``."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from core.coords import wgs84_to_gcj02
from outreach.visits.seed import seed_visits
from outreach.visits.services import LOCAL, store_visits
from tests.helpers import auth, make_user, sql

API = "/api/v1"
VISIT_FIELDS = {"id", "household_id", "grid_code", "village_code", "member_id", "visited_at", "outcome", "location",
                "raw_location", "topics", "app_installed", "residents_reached", "vulnerable_reached", "notes",
                "flags", "received_at", "review", "reviewed_by", "reviewed_at"}


# --- helpers ---

def lone_chief(county_not: str | None = None):
    """A tier-3 cell's chief living in its village and holding nothing else (outside a county if given)."""
    return sql("""
        select a.member_id, g.code, g.village_code
        from assignments a join grids g on g.code = a.grid_code join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = 3 and m.village_code = g.village_code
          and (select count(*) from assignments b where b.member_id = a.member_id and b.valid_to is null) = 1
          and (cast(:county as text) is null or g.village_code not like cast(:county as text) || '%')
        order by g.code limit 1
    """, county=county_not).one()


def local(day, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), LOCAL)


def store(worker, household: int, at: datetime, outcome: str = "completed", crs: str = "wgs84",
          **location) -> str:
    """Store a visit through the sync service; returns its id."""
    lon, lat, grid = sql("select ST_X(location), ST_Y(location), grid_code from households where id = :h",
                         h=household).one()
    if crs == "gcj02":
        lon, lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    item = {"id": str(uuid.uuid4()), "household_id": household, "grid_code": grid, "visited_at": at.isoformat(),
            "outcome": outcome, "location": {"lon": lon, "lat": lat, "crs": crs, "accuracy_m": 12.0, **location},
            "topics": ["investment"] if outcome == "completed" else [], "notes": f"{outcome} at {at:%H:%M}"}
    [result] = store_visits([item], [(worker.member_id, worker.village[:6], worker.username)], None)
    assert result["status"] == "created", result
    return item["id"]


@pytest.fixture
def history(db_session):
    """Five visits by three workers in two counties, around a local midnight.

    ``day`` is five local days ago; v1 is at its first instant (00:00 local, 16:00 UTC the day before),
    v2 one second earlier (the previous local day).
    """
    a = lone_chief()
    c = lone_chief(county_not=a.village_code[:6])
    # A colleague of the same village holding neither a's cell nor the cells above it.
    colleague = sql("""select min(m.id) from members m where m.village_code = :v and m.id <> :m and not exists (
                           select 1 from assignments x where x.member_id = m.id and x.valid_to is null
                             and x.grid_code in (cast(:g as text), left(cast(:g as text), 15) || '-00',
                                                 left(cast(:g as text), 12) || '-00-00'))""",
                    v=a.village_code, m=a.member_id, g=a.code).scalar()
    workers = {
        "a": SimpleNamespace(username="wa", member_id=a.member_id, grid=a.code, village=a.village_code),
        "b": SimpleNamespace(username="wb", member_id=colleague, grid=a.code, village=a.village_code),
        "c": SimpleNamespace(username="wc", member_id=c.member_id, grid=c.code, village=c.village_code),
    }
    for worker in workers.values():
        make_user(worker.username, "grid_worker", worker.village, worker.member_id)
    households_a = list(sql("select id from households where grid_code = :g order by id", g=a.code).scalars())
    household_c = sql("select min(id) from households where grid_code = :g", g=c.code).scalar()
    day = datetime.now(UTC).astimezone(LOCAL).date() - timedelta(days=5)
    visits = {
        "v1": store(workers["a"], households_a[0], local(day, 0), crs="gcj02"),
        "v2": store(workers["a"], households_a[1], local(day - timedelta(days=1), 23, 59, 59), outcome="refused"),
        "v3": store(workers["a"], households_a[0], local(day + timedelta(days=1), 10), outcome="nobody_home",
                    mocked=True),
        "v4": store(workers["b"], households_a[2], local(day, 12)),
        "v5": store(workers["c"], household_c, local(day, 9)),
    }
    return SimpleNamespace(day=day, workers=workers, visits=visits, households_a=households_a,
                           household_c=household_c)


def listed(client, headers=None, **query) -> list[str]:
    """Ids of the visits listed (all pages of up to 1000)."""
    response = client.get(f"{API}/visits", query_string={"page_size": 1000, **query}, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    items = response.get_json()
    for visit in items:
        assert set(visit) == VISIT_FIELDS
    return [visit["id"] for visit in items]


def names(history, ids: list[str]) -> list[str]:
    by_id = {value: key for key, value in history.visits.items()}
    return [by_id.get(visit_id, visit_id) for visit_id in ids]


# --- filters ---

def test_list_all_newest_first(client, history):
    assert names(history, listed(client)) == ["v3", "v4", "v5", "v1", "v2"]


def test_filter_by_region(client, history):
    a, c = history.workers["a"], history.workers["c"]
    assert sorted(names(history, listed(client, region=a.village))) == ["v1", "v2", "v3", "v4"]
    assert names(history, listed(client, region=c.village[:6] + "000000")) == ["v5"]
    assert names(history, listed(client, region=c.village[:9] + "000")) == ["v5"]
    assert len(listed(client, region="610900000000")) == 5


def test_filter_by_household(client, history):
    """The field app's household page: one household's visits (a grid worker's own)."""
    first = history.households_a[0]
    assert names(history, listed(client, household=first)) == ["v3", "v1"]
    assert names(history, listed(client, headers=auth("wb"), household=first)) == []
    assert names(history, listed(client, headers=auth("wa"), household=first)) == ["v3", "v1"]
    assert client.get(f"{API}/visits", query_string={"household": 0}).status_code == 422


def test_filter_by_unknown_region_is_404(client, history):
    assert client.get(f"{API}/visits", query_string={"region": "610999999999"}).status_code == 404


def test_filter_by_grid(client, history):
    assert sorted(names(history, listed(client, grid=history.workers["a"].grid))) == ["v1", "v2", "v3", "v4"]
    assert names(history, listed(client, grid=history.workers["c"].grid)) == ["v5"]


def test_filter_by_member(client, history):
    assert names(history, listed(client, member=history.workers["b"].member_id)) == ["v4"]
    assert sorted(names(history, listed(client, member=history.workers["a"].member_id))) == ["v1", "v2", "v3"]


def test_filter_by_local_dates_with_the_boundary_at_local_midnight(client, history):
    day = history.day
    one = timedelta(days=1)
    assert sorted(names(history, listed(client, **{"from": day.isoformat(), "to": day.isoformat()}))) == [
        "v1", "v4", "v5"]  # v1 at 00:00 local is in; v2 at 23:59:59 the day before is out
    assert names(history, listed(client, to=(day - one).isoformat())) == ["v2"]
    assert names(history, listed(client, **{"from": (day + one).isoformat()})) == ["v3"]
    assert sorted(names(history, listed(client, **{"from": (day - one).isoformat(), "to": day.isoformat()}))) == [
        "v1", "v2", "v4", "v5"]
    assert listed(client, **{"from": (day + 2 * one).isoformat()}) == []


def test_filter_by_flag(client, history):
    assert names(history, listed(client, flag="mocked_location")) == ["v3"]
    assert names(history, listed(client, flag="not_assigned")) == ["v4"]  # b is not assigned to a's cell
    # v2 (23:59:59) is stored after v1 (00:00, one second later) at another household: the newcomer is
    # blamed when the two are 300 m or more apart.
    apart = sql("select ST_Distance(a.location::geography, b.location::geography) from households a, households b "
                "where a.id = :a and b.id = :b", a=history.households_a[0], b=history.households_a[1]).scalar()
    assert names(history, listed(client, flag="impossible_travel")) == (["v2"] if apart >= 300 else [])
    assert listed(client, flag="future_time") == []


def test_filter_by_any_flag(client, history):
    flagged, unflagged = listed(client, flagged="true"), listed(client, flagged="false")
    assert {"v3", "v4"} <= set(names(history, flagged))
    assert not set(flagged) & set(unflagged)
    assert sorted(flagged + unflagged) == sorted(listed(client))
    for visit_id in flagged + unflagged:
        flags = client.get(f"{API}/visits/{visit_id}").get_json()["flags"]
        assert bool(flags) == (visit_id in flagged)


def test_filter_by_outcome(client, history):
    assert names(history, listed(client, outcome="refused")) == ["v2"]
    assert names(history, listed(client, outcome="nobody_home")) == ["v3"]
    assert sorted(names(history, listed(client, outcome="completed"))) == ["v1", "v4", "v5"]


def test_filters_combine(client, history):
    found = listed(client, region=history.workers["a"].village, outcome="completed",
                   **{"from": history.day.isoformat(), "to": history.day.isoformat()})
    assert sorted(names(history, found)) == ["v1", "v4"]


@pytest.mark.parametrize("query", [{"flag": "suspicious"}, {"outcome": "maybe"}, {"from": "2026-13-01"},
                                   {"to": "yesterday"}, {"region": "6109"}, {"grid": "abc"}, {"member": "x"},
                                   {"page_size": 1001}])
def test_invalid_filters_are_422(client, query):
    response = client.get(f"{API}/visits", query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["code"] == 422


def test_pagination(client, history):
    pages, seen = [], []
    for page in (1, 2, 3):
        response = client.get(f"{API}/visits", query_string={"page": page, "page_size": 2})
        assert response.status_code == 200
        pages.append(json.loads(response.headers["X-Pagination"]))
        seen += [v["id"] for v in response.get_json()]
    assert pages[0]["total"] == 5 and pages[0]["total_pages"] == 3
    assert pages[0]["page"] == 1 and pages[0]["next_page"] == 2
    assert pages[2]["page"] == 3 and "next_page" not in pages[2]
    assert seen == listed(client)


# --- who sees what ---

def test_grid_worker_sees_only_their_own_visits(client, history):
    headers = auth("wa")
    assert sorted(names(history, listed(client, headers))) == ["v1", "v2", "v3"]
    assert sorted(names(history, listed(client, headers, member=history.workers["b"].member_id))) == [
        "v1", "v2", "v3"]  # the member filter cannot widen it
    assert names(history, listed(client, auth("wb"))) == ["v4"]
    assert client.get(f"{API}/visits/{history.visits['v1']}", headers=headers).status_code == 200
    response = client.get(f"{API}/visits/{history.visits['v4']}", headers=headers)
    assert response.status_code == 404 and response.get_json()["code"] == 404


def test_county_admin_of_another_county_sees_nothing_of_it(client, history):
    county_c = history.workers["c"].village[:6]
    make_user("cc", "county_admin", county_c + "000000")
    headers = auth("cc")
    assert names(history, listed(client, headers)) == ["v5"]
    assert client.get(f"{API}/visits/{history.visits['v1']}", headers=headers).status_code == 404
    assert client.get(f"{API}/visits/{history.visits['v5']}", headers=headers).status_code == 200
    assert client.get(f"{API}/visits", query_string={"region": history.workers["a"].village},
                      headers=headers).status_code == 404


def test_reviewer_reads_police_do_not(client, history):
    county_a = history.workers["a"].village[:6]
    make_user("rv", "reviewer", county_a + "000000")
    assert sorted(names(history, listed(client, auth("rv")))) == ["v1", "v2", "v3", "v4"]
    make_user("pc", "police", "610900000000")
    assert client.get(f"{API}/visits", headers=auth("pc")).status_code == 403
    assert client.get(f"{API}/visits/{history.visits['v1']}", headers=auth("pc")).status_code == 403


def test_anonymous_is_401(anonymous_client, history):
    assert anonymous_client.get(f"{API}/visits").status_code == 401
    assert anonymous_client.get(f"{API}/visits/{history.visits['v1']}").status_code == 401


# --- one visit ---

def test_get_visit(client, history):
    response = client.get(f"{API}/visits/{history.visits['v1']}")
    assert response.status_code == 200, response.get_data(as_text=True)
    visit = response.get_json()
    assert set(visit) == VISIT_FIELDS | {"reviews"} and visit["reviews"] == []
    household = history.households_a[0]
    lon, lat = sql("select ST_X(location), ST_Y(location) from households where id = :h", h=household).one()
    raw_lon, raw_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    a = history.workers["a"]
    assert visit["id"] == history.visits["v1"]
    assert (visit["household_id"], visit["grid_code"], visit["village_code"], visit["member_id"]) == (
        household, a.grid, a.village, a.member_id)
    assert datetime.fromisoformat(visit["visited_at"]) == local(history.day, 0)
    assert (visit["outcome"], visit["topics"], visit["flags"]) == ("completed", ["investment"], [])
    assert visit["notes"] == "completed at 00:00"
    assert visit["location"]["type"] == "Point"
    assert abs(visit["location"]["coordinates"][0] - lon) < 1e-6
    assert abs(visit["location"]["coordinates"][1] - lat) < 1e-6
    assert visit["raw_location"] == {"lon": raw_lon, "lat": raw_lat, "crs": "gcj02", "accuracy_m": 12.0,
                                     "mocked": False}
    assert (visit["app_installed"], visit["residents_reached"], visit["vulnerable_reached"]) == (None, None, None)
    assert datetime.fromisoformat(visit["received_at"]).tzinfo is not None


def test_get_visit_with_flags(client, history):
    visit = client.get(f"{API}/visits/{history.visits['v3']}").get_json()
    assert visit["flags"] == ["mocked_location"] and visit["raw_location"]["mocked"] is True


def test_unknown_visit_is_404(client, history):
    response = client.get(f"{API}/visits/{uuid.uuid4()}")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == 404 and body["message"]


@pytest.mark.parametrize("visit_id", ["not-a-uuid", "12345", "0000"])
def test_malformed_visit_id_is_404(client, visit_id):
    response = client.get(f"{API}/visits/{visit_id}")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


# --- the history seeder ---

def test_seed_visits_command(app, db_session):
    assert sql("select count(*) from visits").scalar() == 0
    result = app.test_cli_runner().invoke(args=["seed", "visits", "--days", "2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    stats = sql("""
        select count(*) as n, count(*) filter (where cardinality(flags) > 0) as flagged,
               count(distinct outcome) as outcomes, count(distinct crs) as crs,
               count(*) filter (where username <> 'seed') as others,
               count(distinct (visited_at at time zone 'Asia/Shanghai')::date) as days,
               min(visited_at) as first, max(visited_at) as last
        from visits
    """).one()
    assert stats.n > 0
    assert stats.flagged > 0 and stats.flagged < stats.n
    assert stats.outcomes == 3 and stats.crs == 3 and stats.others == 0
    assert stats.last <= datetime.now(UTC)
    today = datetime.now(UTC).astimezone(LOCAL).date()
    assert stats.first >= local(today - timedelta(days=1), 8)
    assert sql("select count(*) from visit_keys").scalar() == stats.n  # every one created, once
    assert f"created {stats.n:,} visits" in result.output
    assert sql("select sum(visits) from grid_day_counts").scalar() == stats.n
    assert sql("select sum(flagged) from village_day_counts").scalar() == stats.flagged
    assert sql("select count(*) from visits where 'mocked_location' = any(flags)").scalar() > 0


def test_seeding_again_with_the_same_seed_and_clock_creates_nothing(db_session):
    now = datetime.now(UTC).replace(microsecond=0)
    created = seed_visits(2, seed=11, now=now)
    assert created > 0 and sql("select count(*) from visits").scalar() == created
    assert seed_visits(2, seed=11, now=now) == 0  # the same ids and content: every one a duplicate
    assert sql("select count(*) from visits").scalar() == created
    assert sql("select count(*) from visit_keys").scalar() == created
