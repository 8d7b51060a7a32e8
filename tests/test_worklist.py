"""GET /me/worklist: a worker's cells (with geometry) and their households, and the changes since a token.

Inside the rolled-back test transaction now() is constant: everything a test changes is stamped
with the transaction's start, which is also what the watermark behind ``next`` answers (the test
transaction is the oldest open one).  So most delta tests use a token crafted with
``encode_token(<the transaction's now() minus 1 µs>, member)``: "the moment just before the
change".  test_change_by_the_transaction_at_the_watermark_is_not_lost uses the real ``next`` token
in exactly that situation (a change stamped at the watermark by a transaction still open during
the download must still come next time).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from outreach.visits.services import LOCAL, store_visits
from outreach.worklist.services import decode_token, encode_token
from tests.helpers import auth, make_user, sql

API = "/api/v1"
WORKLIST = f"{API}/me/worklist"
HOUSEHOLD_FIELDS = {"id", "grid_code", "address", "location", "residents", "tags", "last_visit_at",
                    "last_completed_on"}
CELL_FIELDS = {"code", "tier", "name", "role", "geometry"}
EMPTY = {"full": False, "cells": [], "removed_cells": [], "households": [], "removed_households": []}


# --- helpers ---

def worker(username: str, tier: int, offset: int = 0, lone: bool = True) -> SimpleNamespace:
    """A phone for the chief of a tier-``tier`` cell who lives in its village (holding nothing else if lone)."""
    row = sql("""
        select a.id, a.member_id, g.code, g.village_code
        from assignments a join grids g on g.code = a.grid_code join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = :tier and m.village_code = g.village_code
          and (not :lone or (select count(*) from assignments b
                             where b.member_id = a.member_id and b.valid_to is null) = 1)
        order by g.code limit 1 offset :offset
    """, tier=tier, lone=lone, offset=offset).one()
    make_user(username, "grid_worker", row.village_code, row.member_id)
    return SimpleNamespace(username=username, member_id=row.member_id, assignment_id=row.id, grid=row.code,
                           village=row.village_code, county=row.village_code[:6], headers=auth(username))


@pytest.fixture
def phone(db_session):
    """The chief of one tier-3 cell, holding no other assignment."""
    return worker("w1", 3)


def households_of(cell: str) -> list[int]:
    """Current households of a cell and the tier-3 cells below it."""
    return list(sql("""
        select h.id from households h join grids g on g.code = h.grid_code
        where h.removed_at is null and (g.code = :c or g.parent_code = :c or left(g.code, 12) || '-00-00' = :c)
        order by h.id
    """, c=cell).scalars())


def expected_households(member_id: int) -> list[int]:
    """Current households of every cell the member is assigned to now, or under it."""
    return list(sql("""
        select h.id from households h
        where h.removed_at is null and exists (
            select 1 from assignments a where a.member_id = :m and a.valid_to is null
              and a.grid_code in (h.grid_code, left(h.grid_code, 15) || '-00', left(h.grid_code, 12) || '-00-00'))
        order by h.id
    """, m=member_id).scalars())


def fetch(client, phone, since: str | None = None) -> dict:
    response = client.get(WORKLIST, query_string={"since": since} if since is not None else {},
                          headers=phone.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"full", "crs", "cells", "removed_cells", "households", "removed_households", "next"}
    assert body["crs"] == "wgs84"
    assert decode_token(body["next"], phone.member_id) is not None
    for cell in body["cells"]:
        assert set(cell) == CELL_FIELDS
    for household in body["households"]:
        assert set(household) == HOUSEHOLD_FIELDS
    return body


def changes(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in ("next", "crs")}


def just_before_now(phone) -> str:
    """A token for the moment just before this transaction's changes (see the module docstring)."""
    now = sql("select now()").scalar()
    return encode_token(now - timedelta(microseconds=1), phone.member_id)


def visit(household: int, member_id: int, county: str, at: datetime, username: str = "other") -> dict:
    """Store a completed visit through the service (as another worker's phone would)."""
    grid, lon, lat = sql("select grid_code, ST_X(location), ST_Y(location) from households where id = :h",
                         h=household).one()
    item = {"id": str(uuid.uuid4()), "household_id": household, "grid_code": grid, "outcome": "completed",
            "visited_at": at.isoformat(), "location": {"lon": lon, "lat": lat, "accuracy_m": 10}}
    [result] = store_visits([item], [(member_id, county, username)], None)
    assert result["status"] == "created", result
    return item


def backdated_assignment(member_id: int, cell: str, role: str = "worker") -> int:
    """An assignment that began long ago (like the seeded plan's), written directly."""
    return sql("""
        insert into assignments (county_code, member_id, grid_code, village_code, role, valid_from, source)
        select left(village_code, 6), :m, code, village_code, :r, now() - interval '400 days', 'plan'
        from grids where code = :c returning id
    """, m=member_id, c=cell, r=role).scalar()


def other_cell(phone) -> str:
    return sql("select min(code) from grids where tier = 3 and village_code = :v and code <> :g",
               v=phone.village, g=phone.grid).scalar()


# --- the full worklist ---

def test_full_worklist_of_a_tier3_chief(client, phone):
    body = fetch(client, phone)
    assert body["full"] is True and body["removed_cells"] == [] and body["removed_households"] == []
    [cell] = body["cells"]
    row = sql("select tier, name, ST_AsGeoJSON(boundary, 7)::json as geometry from grids where code = :c",
              c=phone.grid).one()
    assert cell == {"code": phone.grid, "tier": 3, "name": row.name, "role": "chief", "geometry": row.geometry}
    assert cell["geometry"]["type"] in ("Polygon", "MultiPolygon") and cell["geometry"]["coordinates"]

    households = {h["id"]: h for h in body["households"]}
    assert sorted(households) == households_of(phone.grid) and households
    for row in sql("select id, grid_code, address, ST_X(location) as lon, ST_Y(location) as lat, residents, tags "
                   "from households where grid_code = :g and removed_at is null", g=phone.grid):
        household = households[row.id]
        assert (household["grid_code"], household["address"], household["residents"]) == (row.grid_code,
                                                                                           row.address,
                                                                                           row.residents)
        assert sorted(household["tags"]) == sorted(row.tags)
        assert household["location"]["type"] == "Point"
        lon, lat = household["location"]["coordinates"]
        assert abs(lon - row.lon) < 1e-6 and abs(lat - row.lat) < 1e-6
        assert household["last_visit_at"] is None and household["last_completed_on"] is None


@pytest.mark.parametrize("tier", [1, 2])
def test_cells_above_tier3_cover_every_household_below(client, db_session, tier):
    phone = worker("w1", tier, lone=False)
    body = fetch(client, phone)
    assigned = sorted(sql("select grid_code from assignments where member_id = :m and valid_to is null",
                          m=phone.member_id).scalars())
    assert sorted(c["code"] for c in body["cells"]) == assigned
    assert phone.grid in assigned
    ids = sorted(h["id"] for h in body["households"])
    assert ids == expected_households(phone.member_id)
    below = households_of(phone.grid)  # every household of every tier-3 cell under the cell
    assert set(below) <= set(ids)
    cells_below = {h["grid_code"] for h in body["households"] if h["id"] in set(below)}
    assert len(cells_below) > 1 and all(code.startswith(phone.grid[:12 if tier == 1 else 15])
                                        for code in cells_below)


def test_worklist_shows_the_last_visit(client, phone):
    household = households_of(phone.grid)[0]
    at = datetime.now(UTC) - timedelta(days=2, hours=3)
    visit(household, phone.member_id, phone.county, at, "w1")
    body = fetch(client, phone)
    [row] = [h for h in body["households"] if h["id"] == household]
    assert datetime.fromisoformat(row["last_visit_at"]) == at
    assert row["last_completed_on"] == at.astimezone(LOCAL).date().isoformat()
    assert all(h["last_visit_at"] is None for h in body["households"] if h["id"] != household)


def test_next_token_belongs_to_the_member(client, phone):
    body = fetch(client, phone)
    moment = decode_token(body["next"], phone.member_id)
    assert moment.tzinfo is not None and moment <= datetime.now(UTC)


# --- changes since a token ---

def test_no_changes_since_next(client, phone):
    first = fetch(client, phone)
    again = fetch(client, phone, first["next"])
    assert changes(again) == EMPTY
    assert changes(fetch(client, phone, again["next"])) == EMPTY


def test_new_assignment_brings_its_cell_and_all_its_households(client, phone):
    cell = other_cell(phone)
    response = client.post(f"{API}/assignments", json={"member_id": phone.member_id, "grid_code": cell,
                                                       "role": "worker"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = fetch(client, phone, just_before_now(phone))
    assert body["full"] is False
    assert [(c["code"], c["role"], c["tier"]) for c in body["cells"]] == [(cell, "worker", 3)]
    assert body["cells"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert sorted(h["id"] for h in body["households"]) == households_of(cell)  # unchanged, but new to the phone
    assert body["removed_cells"] == [] and body["removed_households"] == []


def test_ended_assignment_removes_its_cell_and_households(client, phone):
    kept = other_cell(phone)
    backdated_assignment(phone.member_id, kept)
    response = client.delete(f"{API}/assignments/{phone.assignment_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = fetch(client, phone, just_before_now(phone))
    assert body["removed_cells"] == [phone.grid]
    assert body["removed_households"] == households_of(phone.grid)
    assert body["cells"] == [] and body["households"] == []
    full = fetch(client, phone)
    assert [c["code"] for c in full["cells"]] == [kept]
    assert sorted(h["id"] for h in full["households"]) == households_of(kept)


def test_ended_last_assignment_removes_everything(client, phone):
    assert client.delete(f"{API}/assignments/{phone.assignment_id}").status_code == 200
    body = fetch(client, phone, just_before_now(phone))
    assert body["removed_cells"] == [phone.grid]
    assert body["removed_households"] == households_of(phone.grid)
    full = fetch(client, phone)
    assert full["cells"] == [] and full["households"] == []


def test_ended_cell_still_covered_from_above_keeps_its_households(client, phone):
    parent = phone.grid[:15] + "-00"
    backdated_assignment(phone.member_id, parent)
    assert client.delete(f"{API}/assignments/{phone.assignment_id}").status_code == 200
    body = fetch(client, phone, just_before_now(phone))
    assert body["removed_cells"] == [phone.grid]
    assert body["removed_households"] == []
    full = fetch(client, phone)
    assert [c["code"] for c in full["cells"]] == [parent]
    assert set(households_of(phone.grid)) <= {h["id"] for h in full["households"]}


def test_changed_household_appears(client, phone):
    household = households_of(phone.grid)[1]
    response = client.patch(f"{API}/households/{household}", json={"address": "新地址 8 号", "residents": 4})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = fetch(client, phone, just_before_now(phone))
    assert [(h["id"], h["address"], h["residents"]) for h in body["households"]] == [(household, "新地址 8 号", 4)]
    assert body["cells"] == [] and body["removed_cells"] == [] and body["removed_households"] == []


def test_removed_household_is_listed_as_removed(client, phone):
    household = households_of(phone.grid)[2]
    assert client.delete(f"{API}/households/{household}").status_code == 200
    body = fetch(client, phone, just_before_now(phone))
    assert body["removed_households"] == [household]
    assert body["households"] == [] and body["cells"] == [] and body["removed_cells"] == []
    assert household not in {h["id"] for h in fetch(client, phone)["households"]}


def test_visit_by_another_worker_appears(client, phone):
    household = households_of(phone.grid)[3]
    other = sql("select min(id) from members where county_code = :c and id <> :m", c=phone.county,
                m=phone.member_id).scalar()
    at = datetime.now(UTC) - timedelta(hours=5)
    visit(household, other, phone.county, at)
    body = fetch(client, phone, just_before_now(phone))
    assert [h["id"] for h in body["households"]] == [household]
    assert datetime.fromisoformat(body["households"][0]["last_visit_at"]) == at
    assert body["removed_households"] == [] and body["cells"] == []


def test_added_household_appears(client, phone):
    lon, lat = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
                   "where g.code = :c", c=phone.grid).one()
    response = client.post(f"{API}/households", json={"location": {"type": "Point", "coordinates": [lon, lat]},
                                                      "address": "新户", "residents": 2, "tags": ["elderly"]})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["grid_code"] == phone.grid
    body = fetch(client, phone, just_before_now(phone))
    assert [(h["id"], h["address"], h["tags"]) for h in body["households"]] == [(created["id"], "新户", ["elderly"])]
    assert body["removed_households"] == [] and body["cells"] == []


def test_household_found_in_the_field_appears(client, phone):
    lon, lat = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
                   "where g.code = :c", c=phone.grid).one()
    item = {"id": str(uuid.uuid4()), "grid_code": phone.grid, "outcome": "completed",
            "visited_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": {"lon": lon, "lat": lat}, "new_household": {"location": {"lon": lon, "lat": lat}}}
    response = client.post(f"{API}/visits/sync", json={"visits": [item]}, headers=phone.headers)
    [result] = response.get_json()["results"]
    assert result["status"] == "created", result
    body = fetch(client, phone, just_before_now(phone))
    assert [h["id"] for h in body["households"]] == [result["household_id"]]
    assert body["households"][0]["last_visit_at"] is not None


def test_changes_elsewhere_are_not_sent(client, phone):
    elsewhere = households_of(other_cell(phone))[0]
    assert client.patch(f"{API}/households/{elsewhere}", json={"address": "x"}).status_code == 200
    assert changes(fetch(client, phone, just_before_now(phone))) == EMPTY


def test_change_before_the_token_is_not_sent_again(client, phone):
    household = households_of(phone.grid)[1]
    assert client.patch(f"{API}/households/{household}", json={"address": "x"}).status_code == 200
    later = encode_token(sql("select now()").scalar() + timedelta(microseconds=1), phone.member_id)
    assert changes(fetch(client, phone, later)) == EMPTY


def _patch(client, phone):
    household = households_of(phone.grid)[1]
    assert client.patch(f"{API}/households/{household}", json={"address": "x"}).status_code == 200
    return lambda body: household in {h["id"] for h in body["households"]}


def _remove(client, phone):
    household = households_of(phone.grid)[1]
    assert client.delete(f"{API}/households/{household}").status_code == 200
    return lambda body: household in body["removed_households"]


def _assign(client, phone):
    cell = other_cell(phone)
    assert client.post(f"{API}/assignments", json={"member_id": phone.member_id, "grid_code": cell,
                                                   "role": "worker"}).status_code == 201
    return lambda body: cell in {c["code"] for c in body["cells"]}


def _visit(client, phone):
    household = households_of(phone.grid)[1]
    other = sql("select min(id) from members where county_code = :c and id <> :m", c=phone.county,
                m=phone.member_id).scalar()
    visit(household, other, phone.county, datetime.now(UTC) - timedelta(hours=1))
    return lambda body: household in {h["id"] for h in body["households"]}


@pytest.mark.parametrize("change", [_patch, _remove, _assign, _visit])
def test_change_by_the_transaction_at_the_watermark_is_not_lost(client, phone, change):
    """The test transaction is the oldest open one: the download's ``next`` is its start, like a
    slow transaction still open while a phone downloads; what it changes afterwards must still come."""
    token = fetch(client, phone)["next"]
    assert decode_token(token, phone.member_id) == sql("select now()").scalar()
    delivered = change(client, phone)
    assert delivered(fetch(client, phone, token))


# --- bad tokens and callers ---

@pytest.mark.parametrize("token", ["not-a-token", "%%%", "eyJ0IjoxfQ", encode_token(datetime(2026, 1, 1), 1)[:-3],
                                   "x" * 401])
def test_malformed_token_is_422(client, phone, token):
    response = client.get(WORKLIST, query_string={"since": token}, headers=phone.headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 422 and "since" in body["errors"]["query"]


def test_token_with_a_naive_time_is_422(client, phone):
    token = encode_token(datetime(2026, 1, 1, 12), phone.member_id)
    response = client.get(WORKLIST, query_string={"since": token}, headers=phone.headers)
    assert response.status_code == 422


def test_another_members_token_is_422(client, phone):
    token = encode_token(datetime.now(UTC), phone.member_id + 1)
    response = client.get(WORKLIST, query_string={"since": token}, headers=phone.headers)
    assert response.status_code == 422
    assert "since" in response.get_json()["errors"]["query"]


def test_only_grid_workers_have_a_worklist(client, anonymous_client, phone):
    assert client.get(WORKLIST).status_code == 403  # admin
    make_user("va", "village_admin", phone.village)
    assert client.get(WORKLIST, headers=auth("va")).status_code == 403
    assert anonymous_client.get(WORKLIST).status_code == 401
