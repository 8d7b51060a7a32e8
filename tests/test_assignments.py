"""Assignments: create/end with history, every rule (409 naming it), reads, scope, roles, audit, DB guards."""
from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import IntegrityError

from config import DEFAULT_LEAD_CAPACITY
from core.extensions import db
from grids.assignments.optimiser import CHIEF_KINDS
from tests.helpers import assert_error, auth, first_village, make_user, member_in, sql, tier3_in

API = "/api/v1"
COUNTY_A = "610902"  # 汉滨区
COUNTY_B = "610921"
TWO_VILLAGES = "610925"  # 610925100001 and 610925100002
ASSIGNMENT_FIELDS = {"id", "member_id", "grid_code", "role", "village_code", "valid_from", "valid_to", "source",
                     "plan_id", "created_by", "ended_by"}


# --- helpers ---

def post(client, member_id: int, grid_code: str, role: str = "chief", headers: dict | None = None):
    return client.post(f"{API}/assignments", json={"member_id": member_id, "grid_code": grid_code, "role": role},
                       headers=headers or {})


def create(client, member_id: int, grid_code: str, role: str = "chief", headers: dict | None = None) -> dict:
    response = post(client, member_id, grid_code, role, headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def current_chief(grid_code: str):
    """(assignment id, member id) of the cell's current chief, or None."""
    return sql("select id, member_id from assignments where grid_code = :g and role = 'chief' and valid_to is null",
               g=grid_code).first()


def end_chief(client, grid_code: str, headers: dict | None = None) -> int:
    """End the cell's current chief through the API; returns the ended member's id."""
    chief = current_chief(grid_code)
    response = client.delete(f"{API}/assignments/{chief.id}", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return chief.member_id


def chiefs_held(member_id: int) -> int:
    return sql("select count(*) from assignments where member_id = :m and role = 'chief' and valid_to is null",
               m=member_id).scalar()


def free_member(region_prefix: str, kinds, exclude_cell: str | None = None, max_chiefs: int | None = None) -> int:
    """An active member of ``kinds`` living under ``region_prefix``, not assigned to ``exclude_cell``, who
    leads at most ``max_chiefs`` cells (default: fewer than the kind's capacity, so one more is allowed)."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    rows = sql("""
        select m.id, m.kind,
               (select count(*) from assignments a where a.member_id = m.id and a.role = 'chief'
                and a.valid_to is null) as chiefs
        from members m
        where m.village_code like :p and m.kind = any(:k) and m.active
          and not exists (select 1 from assignments a where a.member_id = m.id and a.grid_code = :cell
                          and a.valid_to is null)
        order by m.id
    """, p=region_prefix + "%", k=kinds, cell=exclude_cell or "").all()
    for row in rows:
        limit = DEFAULT_LEAD_CAPACITY[row.kind] - 1 if max_chiefs is None else max_chiefs
        if row.chiefs <= limit:
            return row.id
    raise AssertionError(f"no free {kinds} under {region_prefix}")


def tier_cells(village: str, tier: int) -> list[str]:
    return list(sql("select code from grids where village_code = :v and tier = :t order by code",
                    v=village, t=tier).scalars())


def tier1_cell(village: str) -> str:
    return tier_cells(village, 1)[0]


def listing(client, url: str, headers: dict | None = None) -> list[dict]:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    items = response.get_json()
    assert json.loads(response.headers["X-Pagination"])["total"] == len(items)
    return items


def audit_entries(assignment_id: int) -> list:
    return sql("""select actor, action, region_code, details from audit_log
                  where object_type = 'assignment' and object_id = :id order by id""", id=str(assignment_id)).all()


@pytest.fixture
def cell_a(client) -> str:
    """A tier-3 cell of county A whose chief has just been ended (so it has none)."""
    cell = tier3_in(first_village(COUNTY_A))
    end_chief(client, cell)
    assert current_chief(cell) is None
    return cell


@pytest.fixture
def county_b_admin(db_session) -> dict:
    make_user("assign_county_b", "county_admin", COUNTY_B + "000000")
    return auth("assign_county_b")


# --- create ---

def test_create_chief(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    body = create(client, member, cell_a)
    assert set(body) == ASSIGNMENT_FIELDS
    assert body["member_id"] == member and body["grid_code"] == cell_a and body["role"] == "chief"
    assert body["village_code"] == cell_a[:12]
    assert body["source"] == "manual" and body["created_by"] == "admin"
    assert body["valid_from"] and body["valid_to"] is None and body["ended_by"] is None
    assert body["plan_id"] is None
    row = sql("select county_code, member_id, grid_code, role, source, created_by, valid_to from assignments "
              "where id = :id", id=body["id"]).one()
    assert row == (COUNTY_A, member, cell_a, "chief", "manual", "admin", None)
    assert current_chief(cell_a).member_id == member


def test_create_is_audited(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    body = create(client, member, cell_a)
    [entry] = audit_entries(body["id"])
    assert entry.actor == "admin" and entry.action == "assignment.create"
    assert entry.region_code == cell_a[:12]
    assert entry.details == {"member_id": member, "grid_code": cell_a, "role": "chief"}


def test_worker_and_liaison_roles(client):
    cell = tier3_in(first_village(COUNTY_A))
    worker = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    liaison = free_member(COUNTY_A, "party_member", cell, max_chiefs=99)
    assert create(client, worker, cell, "worker")["role"] == "worker"
    assert create(client, liaison, cell, "liaison")["role"] == "liaison"
    # A cell has any number of workers: a township cadre joins too.
    other = free_member(COUNTY_A, "township_cadre", cell, max_chiefs=99)
    assert create(client, other, cell, "worker")["role"] == "worker"
    roles = sorted(a["role"] for a in listing(client, f"{API}/grids/{cell}/assignments"))
    assert roles == ["chief", "liaison", "worker", "worker"]


@pytest.mark.parametrize("kind", ["party_member", "village_cadre", "village_secretary"])
def test_liaison_kinds_allowed(client, kind):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, kind, cell, max_chiefs=99)
    assert create(client, member, cell, "liaison")["role"] == "liaison"


@pytest.mark.parametrize("kind", ["grid_worker", "township_cadre"])
def test_liaison_kinds_refused(client, kind):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, kind, cell, max_chiefs=99)
    assert_error(post(client, member, cell, "liaison"), 409, rule="ineligible")
    assert sql("select count(*) from assignments where member_id = :m and grid_code = :g",
               m=member, g=cell).scalar() == 0


# --- rules ---

def test_second_chief_refused(client):
    cell = tier3_in(first_village(COUNTY_A))
    before = current_chief(cell)
    member = free_member(COUNTY_A, "party_member", cell)
    assert_error(post(client, member, cell), 409, rule="one_chief")
    assert current_chief(cell) == before
    # ... but the member may still join the cell as a worker.
    assert create(client, member, cell, "worker")["role"] == "worker"


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_chief_kind_must_suit_the_tier(client, tier):
    village = first_village(COUNTY_A)
    cell = tier_cells(village, tier)[0]
    end_chief(client, cell)
    for kind in ("village_secretary", "village_cadre", "township_cadre", "party_member", "grid_worker"):
        member = free_member(village, kind, cell)
        response = post(client, member, cell)
        if kind in CHIEF_KINDS[tier]:
            body = create_or_fail(response)
            # Make room again for the next kind.
            assert client.delete(f"{API}/assignments/{body['id']}").status_code == 200
        else:
            assert_error(response, 409, rule="ineligible")
            assert current_chief(cell) is None


def create_or_fail(response) -> dict:
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_tier1_chief_comes_from_the_village(client):
    village, other_village = TWO_VILLAGES + "100001", TWO_VILLAGES + "100002"
    cell = tier1_cell(village)
    end_chief(client, cell)
    for kind in ("village_secretary", "village_cadre"):
        stranger = free_member(other_village, kind, cell)
        assert_error(post(client, stranger, cell), 409, rule="ineligible")
    assert current_chief(cell) is None
    local = free_member(village, "village_cadre", cell)
    assert create(client, local, cell)["member_id"] == local


def test_tier2_chief_may_come_from_another_village_of_the_county(client):
    village, other_village = TWO_VILLAGES + "100001", TWO_VILLAGES + "100002"
    cell = tier_cells(village, 2)[0]
    end_chief(client, cell)
    member = free_member(other_village, "party_member", cell)
    assert create(client, member, cell)["member_id"] == member


def test_lead_capacity(client, app, monkeypatch):
    village = first_village(COUNTY_A)
    cells = tier_cells(village, 3)[:2]
    for cell in cells:
        end_chief(client, cell)
    member = free_member(COUNTY_A, "party_member", cells[0])
    held = chiefs_held(member)
    monkeypatch.setitem(app.config["GRIDS_LEAD_CAPACITY"], "party_member", held + 1)
    create(client, member, cells[0])
    assert chiefs_held(member) == held + 1
    body = assert_error(post(client, member, cells[1]), 409, rule="capacity")
    assert str(held + 1) in body["message"]
    assert current_chief(cells[1]) is None
    # The capacity is per kind: a township cadre is not held back by the party members' limit.
    cadre = free_member(COUNTY_A, "township_cadre", cells[1])
    create(client, cadre, cells[1])


def test_capacity_counts_only_current_chiefs(client, app, monkeypatch):
    cell, second = tier_cells(first_village(COUNTY_A), 3)[:2]
    end_chief(client, cell)
    end_chief(client, second)
    member = free_member(COUNTY_A, "party_member", cell)
    monkeypatch.setitem(app.config["GRIDS_LEAD_CAPACITY"], "party_member", chiefs_held(member) + 1)
    first = create(client, member, cell)
    assert_error(post(client, member, second), 409, rule="capacity")
    # Ending one frees the slot: ended (history) assignments do not count.
    assert client.delete(f"{API}/assignments/{first['id']}").status_code == 200
    assert create(client, member, second)["member_id"] == member


def test_capacity_of_a_kind_missing_from_config_is_zero(client, app, monkeypatch, cell_a):
    monkeypatch.delitem(app.config["GRIDS_LEAD_CAPACITY"], "party_member")
    member = free_member(COUNTY_A, "party_member", cell_a)
    assert_error(post(client, member, cell_a), 409, rule="capacity")


def test_max_assignments_any_role(client, app, monkeypatch):
    village = first_village(COUNTY_A)
    cells = tier_cells(village, 3)[:3]
    member = free_member(COUNTY_A, "grid_worker", cells[0], max_chiefs=99)
    held = sql("select count(*) from assignments where member_id = :m and valid_to is null", m=member).scalar()
    monkeypatch.setitem(app.config, "GRIDS_MAX_ASSIGNMENTS", held + 2)
    create(client, member, cells[0], "worker")
    create(client, member, cells[1], "worker")
    assert_error(post(client, member, cells[2], "worker"), 409, rule="capacity")
    assert_error(post(client, member, cells[2], "liaison"), 409)


def test_member_only_assigned_inside_their_county(client):
    cell = tier3_in(first_village(COUNTY_A))
    outsider = member_in(first_village(COUNTY_B))
    for role in ("worker", "liaison", "chief"):
        assert_error(post(client, outsider, cell, role), 409, rule="outside_county")
    assert sql("select count(*) from assignments where member_id = :m and grid_code = :g",
               m=outsider, g=cell).scalar() == 0


def test_already_assigned(client):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, "party_member", cell, max_chiefs=99)
    create(client, member, cell, "worker")
    assert_error(post(client, member, cell, "worker"), 409, rule="already_assigned")
    assert_error(post(client, member, cell, "liaison"), 409, rule="already_assigned")
    # The current chief is also already in the cell.
    chief = current_chief(cell).member_id
    assert_error(post(client, chief, cell, "worker"), 409, rule="already_assigned")


def test_inactive_member_refused(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    sql("update members set active = false where id = :m", m=member)
    db.session.commit()
    for role in ("chief", "worker", "liaison"):
        assert_error(post(client, member, cell_a, role), 409, rule="member_inactive")
    assert current_chief(cell_a) is None


def test_refused_assignment_leaves_no_trace(client):
    cell = tier3_in(first_village(COUNTY_A))
    before_assignments = sql("select count(*) from assignments").scalar()
    before_audit = sql("select count(*) from audit_log where action like 'assignment.%'").scalar()
    member = free_member(COUNTY_A, "party_member", cell)
    assert_error(post(client, member, cell), 409, rule="one_chief")
    assert sql("select count(*) from assignments").scalar() == before_assignments
    assert sql("select count(*) from audit_log where action like 'assignment.%'").scalar() == before_audit


# --- end ---

def test_delete_ends_and_keeps_history(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    created = create(client, member, cell_a)
    response = client.delete(f"{API}/assignments/{created['id']}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["id"] == created["id"] and body["valid_to"] is not None and body["ended_by"] == "admin"
    assert body["valid_to"] >= body["valid_from"]
    row = sql("select valid_to, ended_by from assignments where id = :id", id=created["id"]).one()
    assert row.valid_to is not None and row.ended_by == "admin"
    current = listing(client, f"{API}/grids/{cell_a}/assignments")
    assert created["id"] not in {a["id"] for a in current}
    history = listing(client, f"{API}/grids/{cell_a}/assignments?history=true")
    ended = {a["id"]: a for a in history}
    assert created["id"] in ended and ended[created["id"]]["valid_to"] is not None
    # The seed's chief, ended by the fixture, is in the history too.
    assert len(history) == 2 and all(a["valid_to"] for a in history)
    assert_error(client.delete(f"{API}/assignments/{created['id']}"), 409, rule="already_ended")


def test_end_is_audited(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    created = create(client, member, cell_a)
    assert client.delete(f"{API}/assignments/{created['id']}").status_code == 200
    actions = [(e.action, e.actor) for e in audit_entries(created["id"])]
    assert actions == [("assignment.create", "admin"), ("assignment.end", "admin")]
    assert audit_entries(created["id"])[1].details == {"member_id": member, "grid_code": cell_a, "role": "chief"}


def test_ending_twice_not_audited_twice(client, cell_a):
    member = free_member(COUNTY_A, "party_member", cell_a)
    created = create(client, member, cell_a)
    client.delete(f"{API}/assignments/{created['id']}")
    client.delete(f"{API}/assignments/{created['id']}")
    assert [e.action for e in audit_entries(created["id"])] == ["assignment.create", "assignment.end"]


def test_new_chief_after_the_old_one_ended(client):
    cell = tier3_in(first_village(COUNTY_A))
    old = end_chief(client, cell)
    member = free_member(COUNTY_A, "party_member", cell)
    create(client, member, cell)
    history = listing(client, f"{API}/grids/{cell}/assignments?history=true")
    assert [(a["member_id"], a["valid_to"] is None) for a in history] == [(member, True), (old, False)]


# --- reads ---

def test_grid_assignments_current_and_history(client):
    cell = tier3_in(first_village(COUNTY_A))
    seeded = current_chief(cell)
    current = listing(client, f"{API}/grids/{cell}/assignments")
    assert [(a["id"], a["role"], a["source"]) for a in current] == [(seeded.id, "chief", "plan")]
    assert set(current[0]) == ASSIGNMENT_FIELDS and current[0]["plan_id"] is not None
    worker = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    added = create(client, worker, cell, "worker")
    assert {a["id"] for a in listing(client, f"{API}/grids/{cell}/assignments")} == {seeded.id, added["id"]}
    client.delete(f"{API}/assignments/{added['id']}")
    assert [a["id"] for a in listing(client, f"{API}/grids/{cell}/assignments")] == [seeded.id]
    assert {a["id"] for a in listing(client, f"{API}/grids/{cell}/assignments?history=true")} \
        == {seeded.id, added["id"]}
    assert [a["id"] for a in listing(client, f"{API}/grids/{cell}/assignments?history=false")] == [seeded.id]


def test_member_assignments_current_and_history(client):
    member = sql("""select member_id from assignments where valid_to is null and role = 'chief'
                    and county_code = :c group by member_id having count(*) >= 2 order by member_id limit 1""",
                 c=COUNTY_A).scalar()
    held = set(sql("select id from assignments where member_id = :m and valid_to is null", m=member).scalars())
    items = listing(client, f"{API}/members/{member}/assignments")
    assert {a["id"] for a in items} == held and all(a["member_id"] == member for a in items)
    ended = min(held)
    assert client.delete(f"{API}/assignments/{ended}").status_code == 200
    assert {a["id"] for a in listing(client, f"{API}/members/{member}/assignments")} == held - {ended}
    history = listing(client, f"{API}/members/{member}/assignments?history=true")
    assert {a["id"] for a in history} == held
    assert [a["id"] for a in history if a["valid_to"]] == [ended]


def test_member_without_assignments_lists_nothing(client):
    member = sql("""select m.id from members m where m.county_code = :c and not exists
                    (select 1 from assignments a where a.member_id = m.id) order by m.id limit 1""",
                 c=COUNTY_A).scalar()
    assert member is not None
    assert listing(client, f"{API}/members/{member}/assignments") == []
    assert listing(client, f"{API}/members/{member}/assignments?history=true") == []


def test_grid_shows_current_members_chief_first(client):
    cell = tier3_in(first_village(COUNTY_A))
    chief = current_chief(cell).member_id
    liaison = free_member(COUNTY_A, "village_cadre", cell, max_chiefs=99)
    worker = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    create(client, liaison, cell, "liaison")  # created before the worker: order is by role, not time
    worker_assignment = create(client, worker, cell, "worker")
    response = client.get(f"{API}/grids/{cell}")
    assert response.status_code == 200, response.get_data(as_text=True)
    members = response.get_json()["members"]
    assert [(m["id"], m["role"]) for m in members] == [(chief, "chief"), (worker, "worker"), (liaison, "liaison")]
    assert all(m["name"] for m in members)
    client.delete(f"{API}/assignments/{worker_assignment['id']}")
    members = client.get(f"{API}/grids/{cell}").get_json()["members"]
    assert [m["role"] for m in members] == ["chief", "liaison"]


# --- not found and validation ---

def test_unknown_grid_or_member(client):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, "party_member", cell)
    assert_error(post(client, member, first_village(COUNTY_A) + "-99-99", "worker"), 404)
    assert_error(post(client, 99_999_999, cell, "worker"), 404)
    assert_error(client.delete(f"{API}/assignments/99999999"), 404)
    assert_error(client.get(f"{API}/grids/{first_village(COUNTY_A)}-99-99/assignments"), 404)
    assert_error(client.get(f"{API}/members/99999999/assignments"), 404)


@pytest.mark.parametrize("change, field", [
    ({"role": "boss"}, "role"),
    ({"role": None}, "role"),
    ({"grid_code": "610902001003"}, "grid_code"),
    ({"grid_code": "not-a-code"}, "grid_code"),
    ({"member_id": "abc"}, "member_id"),
])
def test_validation_errors(client, change, field):
    cell = tier3_in(first_village(COUNTY_A))
    body = {"member_id": free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99), "grid_code": cell,
            "role": "worker"}
    body.update(change)
    response = client.post(f"{API}/assignments", json=body)
    error = assert_error(response, 422)
    assert field in error["errors"]["json"], error


@pytest.mark.parametrize("missing", ["member_id", "grid_code", "role"])
def test_required_fields(client, missing):
    body = {"member_id": 1, "grid_code": tier3_in(first_village(COUNTY_A)), "role": "worker"}
    del body[missing]
    error = assert_error(client.post(f"{API}/assignments", json=body), 422)
    assert missing in error["errors"]["json"]


def test_read_only_fields_refused(client):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    response = client.post(f"{API}/assignments", json={"member_id": member, "grid_code": cell, "role": "worker",
                                                       "source": "plan"})
    assert_error(response, 422)


# --- scope and roles ---

def test_county_admin_cannot_reach_another_county(client, county_b_admin):
    cell_a = tier3_in(first_village(COUNTY_A))
    member_a = free_member(COUNTY_A, "grid_worker", cell_a, max_chiefs=99)
    cell_b = tier3_in(first_village(COUNTY_B))
    member_b = free_member(COUNTY_B, "grid_worker", cell_b, max_chiefs=99)
    assignment_a = current_chief(cell_a).id
    before = sql("select count(*) from assignments").scalar()
    assert_error(post(client, member_a, cell_a, "worker", county_b_admin), 404)   # cell and member outside
    assert_error(post(client, member_b, cell_a, "worker", county_b_admin), 404)   # cell outside
    assert_error(post(client, member_a, cell_b, "worker", county_b_admin), 404)   # member outside
    assert_error(client.delete(f"{API}/assignments/{assignment_a}", headers=county_b_admin), 404)
    assert_error(client.get(f"{API}/grids/{cell_a}/assignments", headers=county_b_admin), 404)
    assert_error(client.get(f"{API}/grids/{cell_a}/assignments?history=true", headers=county_b_admin), 404)
    assert_error(client.get(f"{API}/members/{member_a}/assignments", headers=county_b_admin), 404)
    assert sql("select count(*) from assignments").scalar() == before
    assert current_chief(cell_a).id == assignment_a
    # Inside its county it works, and the audit names the county admin.
    created = create(client, member_b, cell_b, "worker", county_b_admin)
    assert created["created_by"] == "assign_county_b"
    assert [a["id"] for a in listing(client, f"{API}/members/{member_b}/assignments", county_b_admin)] \
        == [a["id"] for a in listing(client, f"{API}/members/{member_b}/assignments")]
    ended = client.delete(f"{API}/assignments/{created['id']}", headers=county_b_admin)
    assert ended.status_code == 200 and ended.get_json()["ended_by"] == "assign_county_b"
    assert [(e.action, e.actor) for e in audit_entries(created["id"])] == [
        ("assignment.create", "assign_county_b"), ("assignment.end", "assign_county_b")]


def test_member_lists_only_in_scope_assignments_of_a_village_admin(client):
    """A village admin sees a member of their village, but only the assignments inside the village."""
    village, other_village = TWO_VILLAGES + "100001", TWO_VILLAGES + "100002"
    member = free_member(village, "grid_worker", max_chiefs=99)
    inside = create(client, member, tier_cells(village, 3)[0], "worker")
    outside = create(client, member, tier_cells(other_village, 3)[0], "worker")
    make_user("assign_village_admin", "village_admin", village)
    headers = auth("assign_village_admin")
    ids = {a["id"] for a in listing(client, f"{API}/members/{member}/assignments", headers)}
    assert inside["id"] in ids and outside["id"] not in ids
    assert_error(client.delete(f"{API}/assignments/{outside['id']}", headers=headers), 404)


@pytest.mark.parametrize("role, scope", [("grid_worker", "village"), ("police", "city"), ("reviewer", "county")])
def test_non_admin_roles_may_not_assign(client, role, scope):
    village = first_village(COUNTY_A)
    scope_code = {"village": village, "city": "610900000000", "county": COUNTY_A + "000000"}[scope]
    username = f"assign_{role}"
    make_user(username, role, scope_code, member_id=member_in(village) if role == "grid_worker" else None)
    headers = auth(username)
    cell = tier3_in(village)
    member = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    assert_error(post(client, member, cell, "worker", headers), 403)
    assert_error(client.delete(f"{API}/assignments/{current_chief(cell).id}", headers=headers), 403)
    assert current_chief(cell) is not None


def test_reviewer_may_read(client):
    village = first_village(COUNTY_A)
    make_user("assign_reader", "reviewer", COUNTY_A + "000000")
    headers = auth("assign_reader")
    cell = tier3_in(village)
    assert [a["id"] for a in listing(client, f"{API}/grids/{cell}/assignments", headers)] == [current_chief(cell).id]
    member = current_chief(cell).member_id
    assert listing(client, f"{API}/members/{member}/assignments", headers)


def test_anonymous_refused(anonymous_client):
    cell = tier3_in(first_village(COUNTY_A))
    assert anonymous_client.post(f"{API}/assignments", json={"member_id": 1, "grid_code": cell,
                                                            "role": "worker"}).status_code == 401
    assert anonymous_client.get(f"{API}/grids/{cell}/assignments").status_code == 401


def test_capacity_counts_chiefs_outside_the_callers_scope(client, app, monkeypatch):
    """The lead capacity counts the member's chiefs outside the caller's scope (a village admin's)."""
    village, other_village = TWO_VILLAGES + "100001", TWO_VILLAGES + "100002"
    member = free_member(village, "party_member", max_chiefs=0)
    assert chiefs_held(member) == 0
    monkeypatch.setitem(app.config["GRIDS_LEAD_CAPACITY"], "party_member", 1)
    elsewhere = tier_cells(other_village, 3)[0]
    end_chief(client, elsewhere)
    create(client, member, elsewhere)  # the city admin: the member now leads one cell, the most allowed
    make_user("assign_village_cap", "village_admin", village)
    headers = auth("assign_village_cap")
    cell = tier_cells(village, 3)[0]
    end_chief(client, cell, headers)
    response = post(client, member, cell, "chief", headers)
    assert_error(response, 409, rule="capacity")
    assert chiefs_held(member) == 1


def test_max_assignments_counts_outside_the_callers_scope(client, app, monkeypatch):
    """GRIDS_MAX_ASSIGNMENTS counts the member's assignments outside the caller's scope."""
    village, other_village = TWO_VILLAGES + "100001", TWO_VILLAGES + "100002"
    member = free_member(village, "grid_worker", max_chiefs=99)
    held = sql("select count(*) from assignments where member_id = :m and valid_to is null", m=member).scalar()
    monkeypatch.setitem(app.config, "GRIDS_MAX_ASSIGNMENTS", held + 1)
    create(client, member, tier_cells(other_village, 3)[0], "worker")
    make_user("assign_village_max", "village_admin", village)
    response = post(client, member, tier_cells(village, 3)[0], "worker", auth("assign_village_max"))
    assert_error(response, 409, rule="capacity")


# --- the database's own guards ---

def _insert(member_id: int, grid_code: str, role: str, valid_to: str | None = None) -> None:
    sql(f"""insert into assignments (county_code, member_id, grid_code, village_code, role, source, valid_to)
            values (left(:g, 6), :m, :g, left(:g, 12), :r, 'manual', {'now()' if valid_to else 'null'})""",
        m=member_id, g=grid_code, r=role)


def test_database_refuses_a_second_current_chief(client):
    cell = tier3_in(first_village(COUNTY_A))
    chief = current_chief(cell)
    other = free_member(COUNTY_A, "party_member", cell)
    with pytest.raises(IntegrityError) as caught:
        with db.session.begin_nested():
            _insert(other, cell, "chief")
    assert "uq_assignments_current_chief" in str(caught.value)
    # The savepoint rolled back; the session is usable and nothing changed.
    assert current_chief(cell) == chief
    # An ended chief, or another role, is allowed alongside.
    with db.session.begin_nested():
        _insert(other, cell, "chief", valid_to="now")
    with db.session.begin_nested():
        _insert(other, cell, "worker")
    assert current_chief(cell) == chief


def test_database_refuses_the_same_member_twice_in_a_cell(client):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    with db.session.begin_nested():
        _insert(member, cell, "worker")
    with pytest.raises(IntegrityError) as caught:
        with db.session.begin_nested():
            _insert(member, cell, "liaison")
    assert "uq_assignments_current_member_cell" in str(caught.value)


def test_database_checks_role_and_period(client):
    cell = tier3_in(first_village(COUNTY_A))
    member = free_member(COUNTY_A, "grid_worker", cell, max_chiefs=99)
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            _insert(member, cell, "boss")
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            sql("""insert into assignments (county_code, member_id, grid_code, village_code, role, valid_from,
                   valid_to) values (left(:g, 6), :m, :g, left(:g, 12), 'worker', now(), now() - interval '1 day')""",
                m=member, g=cell)
