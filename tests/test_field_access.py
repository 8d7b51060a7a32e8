"""Access follows assignments: a member's account reads, syncs and registers households in every cell
the member is assigned to (now, or at the visit's time), whatever village or township it lies in; the
rest of its access follows the account's scope.  Worklist, sync, households found in the field,
the member's own visits and fund warnings agree.

The member here is the chief of one tier-3 cell of their home village (the account's scope) and is
given, through the API, a worker's place in a cell of another village of the same township and in a
cell of another township: the situation of member 11642 in the issue (the worklist offered
households that sync then refused)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from core.extensions import db
from tests.helpers import auth, make_user, sql

API = "/api/v1"
SYNC = f"{API}/visits/sync"
WORKLIST = f"{API}/me/worklist"


# --- helpers ---

def inside(code: str) -> tuple[float, float]:
    """A WGS84 point safely inside a cell."""
    row = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
              "where g.code = :c", c=code).one()
    return float(row[0]), float(row[1])


def households(cell: str) -> list[int]:
    return list(sql("select id from households where grid_code = :g and removed_at is null order by id",
                    g=cell).scalars())


def tier3_with_households(where: str, **params) -> str:
    """The lowest tier-3 cell with households matching a condition on ``g`` (grids)."""
    return sql(f"""
        select g.code from grids g where g.tier = 3 and {where}
          and exists (select 1 from households h where h.grid_code = g.code and h.removed_at is null)
          and not exists (select 1 from assignments a where a.grid_code = g.code and a.valid_to is null
                          and a.role in ('liaison', 'worker'))
        order by g.code limit 1
    """, **params).scalar()


def assign(client, member_id: int, cell: str, role: str = "worker") -> int:
    response = client.post(f"{API}/assignments", json={"member_id": member_id, "grid_code": cell, "role": role})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def visit(household: int, cell: str, at: datetime | None = None, **fields) -> dict:
    lon, lat = sql("select ST_X(location), ST_Y(location) from households where id = :h", h=household).one()
    body = {"id": str(uuid.uuid4()), "household_id": household, "grid_code": cell, "outcome": "completed",
            "visited_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": {"lon": lon, "lat": lat, "crs": "wgs84", "accuracy_m": 8}}
    body.update(fields)
    return body


def found(cell: str, at: datetime | None = None) -> dict:
    """A visit to a household found in the field inside ``cell``."""
    lon, lat = inside(cell)
    return {"id": str(uuid.uuid4()), "grid_code": cell, "outcome": "completed",
            "visited_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": {"lon": lon, "lat": lat, "crs": "wgs84", "accuracy_m": 8},
            "new_household": {"location": {"lon": lon, "lat": lat}, "address": "新发现户", "residents": 2,
                              "tags": []}}


def sync(client, phone, items: list[dict]) -> list[dict]:
    response = client.post(SYNC, json={"visits": items}, headers=phone.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def backdated_assignment(member_id: int, cell: str, role: str = "worker") -> int:
    """An assignment written directly (as an imported history could hold it), begun long ago."""
    assignment = sql("""
        insert into assignments (county_code, member_id, grid_code, village_code, role, valid_from, source)
        select left(village_code, 6), :m, code, village_code, :r, now() - interval '400 days', 'plan'
        from grids where code = :c returning id
    """, m=member_id, c=cell, r=role).scalar()
    db.session.commit()  # (releases the test's savepoint: the next request's teardown would roll it back)
    return assignment


@pytest.fixture
def spread(client):
    """A member with cells in three villages of two townships; the account is scoped to the home village.

    The test data set has one township per county, and the assignment rules keep a member inside their
    county: the cell of the other township is therefore another county's, its assignment written
    directly.  The access rule looks at cells only, never at counties."""
    home = sql("""
        select a.member_id, g.code, g.village_code
        from assignments a join grids g on g.code = a.grid_code join members m on m.id = a.member_id
        where a.role = 'chief' and a.valid_to is null and g.tier = 3 and m.village_code = g.village_code
          and m.active
          and (select count(*) from assignments b where b.member_id = a.member_id and b.valid_to is null) = 1
          and exists (select 1 from households h where h.grid_code = g.code and h.removed_at is null)
          and exists (select 1 from regions r where r.level = 'village' and r.code like left(g.code, 9) || '%'
                      and r.code <> g.village_code)
        order by g.code limit 1
    """).one()
    village, township = home.village_code, home.village_code[:9]
    same_township = tier3_with_households("g.village_code like :t and g.village_code <> :v",
                                          t=township + "%", v=village)
    other_township = tier3_with_households("g.village_code not like :t", t=township + "%")
    assert same_township and other_township, "the test data set needs villages and townships to spread over"
    make_user("spread", "grid_worker", village, home.member_id)
    assignments = [assign(client, home.member_id, same_township),
                   backdated_assignment(home.member_id, other_township)]
    return SimpleNamespace(member_id=home.member_id, village=village, home=home.code, same_township=same_township,
                           other_township=other_township, assignments=assignments, headers=auth("spread"))


# --- the reported failure, through the API ---

def test_every_household_the_worklist_offers_is_accepted_by_sync(client, spread):
    response = client.get(WORKLIST, headers=spread.headers)
    assert response.status_code == 200
    worklist = response.get_json()
    cells = {cell["code"] for cell in worklist["cells"]}
    assert cells == {spread.home, spread.same_township, spread.other_township}
    offered = {(h["id"], h["grid_code"]) for h in worklist["households"]}
    assert {h for h, _ in offered} == set(households(spread.home) + households(spread.same_township)
                                          + households(spread.other_township))
    assert {cell[:12] for _, cell in offered} == {spread.village, spread.same_township[:12],
                                                  spread.other_township[:12]}

    items = [visit(household, cell) for household, cell in sorted(offered)]
    results = sync(client, spread, items)
    assert [r["status"] for r in results] == ["created"] * len(items), [r for r in results if r["errors"]][:3]
    # Assigned at the visit's time: no flag.  The cell of the same township was assigned (through the API)
    # after these visits were made: accepted since it is the member's now, and flagged not_assigned.
    for item, result in zip(items, results, strict=True):
        assert ("not_assigned" in result["flags"]) == (item["grid_code"] == spread.same_township), result
    stored = sql("select village_code, count(*) from visits where member_id = :m group by 1",
                 m=spread.member_id).all()
    assert dict(stored) == {cell[:12]: sum(1 for _, c in offered if c[:12] == cell[:12])
                            for cell in (spread.home, spread.same_township, spread.other_township)}

    # The member reads their own visits wherever they are.
    listed = client.get(f"{API}/visits", query_string={"page_size": 1000}, headers=spread.headers)
    assert listed.status_code == 200
    assert {v["id"] for v in listed.get_json()} == {item["id"] for item in items}
    far = next(item for item in items if item["grid_code"] == spread.other_township)
    one = client.get(f"{API}/visits/{far['id']}", headers=spread.headers)
    assert one.status_code == 200 and one.get_json()["village_code"] == spread.other_township[:12]


def test_households_found_in_assigned_cells_of_other_villages_are_registered(client, spread):
    items = [found(spread.same_township), found(spread.other_township)]
    results = sync(client, spread, items)
    assert [r["status"] for r in results] == ["created", "created"], results
    for result, cell in zip(results, (spread.same_township, spread.other_township), strict=True):
        row = sql("select grid_code, village_code from households where id = :h", h=result["household_id"]).one()
        assert (row.grid_code, row.village_code) == (cell, cell[:12])
    # ... and they come in the next worklist.
    worklist = client.get(WORKLIST, headers=spread.headers).get_json()
    assert {r["household_id"] for r in results} <= {h["id"] for h in worklist["households"]}


# --- everything else stays limited by the account's scope ---

def test_cells_not_assigned_outside_the_scope_stay_refused(client, spread):
    unassigned = sql("""
        select g.code from grids g where g.tier = 3 and g.village_code = :v and g.code <> :c
          and exists (select 1 from households h where h.grid_code = g.code and h.removed_at is null)
        order by g.code limit 1
    """, v=spread.same_township[:12], c=spread.same_township).scalar()
    if unassigned is None:  # the other village has one tier-3 cell only: take one of another village
        unassigned = tier3_with_households("g.village_code not in (:a, :b, :c)", a=spread.village,
                                           b=spread.same_township[:12], c=spread.other_township[:12])
    known = visit(households(unassigned)[0], unassigned)
    results = sync(client, spread, [known, found(unassigned)])
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert results[0]["errors"] == {"household_id": ["Unknown household, or outside your scope."]}
    assert results[1]["errors"] == {"new_household": {"location": ["The point is outside your scope."]}}
    assert sql("select count(*) from visits where member_id = :m", m=spread.member_id).scalar() == 0
    # Reading stays with the scope too: the other village's region is unknown to the account.
    assert client.get(f"{API}/regions/{spread.same_township[:12]}", headers=spread.headers).status_code == 404


def test_an_ended_assignment_covers_visits_made_while_it_held(client, spread):
    # The other township's assignment held from 20 days ago until 2 days ago.
    sql("update assignments set valid_from = now() - interval '20 days', valid_to = now() - interval '2 days' "
        "where id = :a", a=spread.assignments[1])
    db.session.commit()
    household = households(spread.other_township)[0]
    now = sql("select now()").scalar()
    during = visit(household, spread.other_township, at=now - timedelta(days=5))
    after = visit(household, spread.other_township, at=now - timedelta(hours=3))
    before = visit(household, spread.other_township, at=now - timedelta(days=25))
    new_during = found(spread.other_township, at=now - timedelta(days=4))
    results = sync(client, spread, [during, after, before, new_during])
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "created"], results
    assert "not_assigned" not in results[0]["flags"]
    # No longer in the worklist either.
    worklist = client.get(WORKLIST, headers=spread.headers).get_json()
    assert spread.other_township not in {c["code"] for c in worklist["cells"]}


# --- fund warnings agree ---

def test_a_warning_in_an_assigned_cell_of_another_township_is_the_members(client, spread):
    household = households(spread.other_township)[0]
    police = make_user("police-spread", "police", spread.other_township[:6] + "000000")
    assert police
    response = client.post(f"{API}/warnings", headers=auth("police-spread"), json={
        "external_ref": "SPREAD-1", "level": "high", "reason": "investment", "household_id": household})
    assert response.status_code == 201, response.get_data(as_text=True)
    warning = response.get_json()
    assert warning["assigned_member_id"] == spread.member_id

    mine = client.get(f"{API}/me/warnings", headers=spread.headers)
    assert [w["id"] for w in mine.get_json()] == [warning["id"]]
    met = client.post(f"{API}/warnings/{warning['id']}/events", headers=spread.headers, json={
        "id": str(uuid.uuid4()), "type": "met", "at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()})
    assert met.status_code == 201, met.get_data(as_text=True)
    # The meeting's visit and a visit synced by the phone to the same household are both stored.
    [result] = sync(client, spread, [visit(household, spread.other_township)])
    assert result["status"] == "created"
    assert sql("select count(*) from visits where member_id = :m and household_id = :h", m=spread.member_id,
               h=household).scalar() == 2
