"""The audit log: newest first, scoped to the reader's territory, admins only, filters."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.helpers import assert_error, bearer, pagination, sql

ENTRY_FIELDS = {"id", "at", "actor", "action", "object_type", "object_id", "region_code", "details", "comment"}
PASSWORD = "a-long-enough-password"
COUNTY_A = "610902"
COUNTY_B = "610921"


def village_in(county: str) -> str:
    return sql("select code from regions where level = 'village' and code like :p order by code",
               p=county + "%").scalar()


def create_user(client, username: str, role: str, scope: str, member_id: int | None = None,
                headers: dict | None = None) -> None:
    body = {"username": username, "password": PASSWORD, "role": role, "scope": scope}
    if member_id is not None:
        body["member_id"] = member_id
    response = client.post("/api/v1/users", json=body, headers=headers or {})
    assert response.status_code == 201, response.get_data(as_text=True)


def create_member(client, village: str, name: str) -> int:
    response = client.post("/api/v1/members", json={"name": name, "kind": "party_member", "village_code": village})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


@pytest.fixture
def two_counties(app, client):
    """Users and a member in 610902 and 610921 created by admin; headers of both county admins."""
    village_a, village_b = village_in(COUNTY_A), village_in(COUNTY_B)
    create_user(client, "audit_county_a", "county_admin", COUNTY_A + "000000")
    create_user(client, "audit_county_b", "county_admin", COUNTY_B + "000000")
    create_user(client, "audit_village_a", "village_admin", village_a)
    create_user(client, "audit_village_b", "village_admin", village_b)
    member_a = create_member(client, village_a, "审计甲")
    member_b = create_member(client, village_b, "审计乙")
    return {
        "a": {"Authorization": bearer(app, "audit_county_a")},
        "b": {"Authorization": bearer(app, "audit_county_b")},
        "member_a": member_a, "member_b": member_b,
    }


def test_admin_lists_entries_newest_first(client):
    create_user(client, "audit_first", "county_admin", COUNTY_A + "000000")
    create_user(client, "audit_second", "reviewer", COUNTY_B + "000000")
    response = client.get("/api/v1/audit?page_size=100")
    entries = response.get_json()
    assert pagination(response)["total"] == sql("select count(*) from audit_log").scalar() >= 3
    assert all(set(entry) == ENTRY_FIELDS for entry in entries)
    assert [e["object_id"] for e in entries[:2]] == ["audit_second", "audit_first"]
    newest = entries[0]
    assert newest["actor"] == "admin" and newest["action"] == "user.create" and newest["object_type"] == "user"
    assert newest["region_code"] == COUNTY_B + "000000"
    assert newest["details"] == {"role": "reviewer", "scope": COUNTY_B + "000000", "member_id": None}
    assert PASSWORD not in response.get_data(as_text=True)
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times, reverse=True)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    # the seeded administrator's own creation is recorded, by the seed
    [admin_entry] = client.get("/api/v1/audit?object_type=user&object_id=admin").get_json()
    assert (admin_entry["actor"], admin_entry["action"]) == ("seed", "user.create")


def test_audit_pagination(client):
    for index in range(3):
        create_user(client, f"audit_page_{index}", "reviewer", COUNTY_B + "000000")
    first = client.get("/api/v1/audit?page_size=2&page=1")
    second = client.get("/api/v1/audit?page_size=2&page=2")
    assert pagination(first)["total"] == pagination(second)["total"] >= 4
    assert [e["object_id"] for e in first.get_json()] == ["audit_page_2", "audit_page_1"]
    assert second.get_json()[0]["object_id"] == "audit_page_0"


def test_county_admin_sees_only_own_county(client, two_counties):
    response = client.get("/api/v1/audit?page_size=1000", headers=two_counties["b"])
    entries = response.get_json()
    expected = sql("select count(*) from audit_log where region_code like :p", p=COUNTY_B + "%").scalar()
    assert pagination(response)["total"] == expected == len(entries)
    assert entries and all(e["region_code"].startswith(COUNTY_B) for e in entries)
    seen = {(e["object_type"], e["object_id"]) for e in entries}
    assert ("user", "audit_county_b") in seen
    assert ("user", "audit_village_b") in seen
    assert ("member", str(two_counties["member_b"])) in seen
    assert ("user", "audit_village_a") not in seen
    assert ("user", "audit_county_a") not in seen
    assert ("member", str(two_counties["member_a"])) not in seen
    assert ("user", "admin") not in seen  # a city-level entry
    # and the other county admin sees the mirror image
    other = client.get("/api/v1/audit?page_size=1000", headers=two_counties["a"]).get_json()
    assert all(e["region_code"].startswith(COUNTY_A) for e in other)
    assert ("member", str(two_counties["member_a"])) in {(e["object_type"], e["object_id"]) for e in other}
    # filters cannot reach outside the scope
    assert client.get(f"/api/v1/audit?object_type=member&object_id={two_counties['member_a']}",
                      headers=two_counties["b"]).get_json() == []


def test_village_admin_sees_only_own_village(app, client, two_counties):
    response = client.get("/api/v1/audit?page_size=1000",
                          headers={"Authorization": bearer(app, "audit_village_b")})
    entries = response.get_json()
    village = village_in(COUNTY_B)
    assert entries and all(e["region_code"] == village for e in entries)
    assert pagination(response)["total"] == sql("select count(*) from audit_log where region_code like :p",
                                                 p=village + "%").scalar()


def test_admin_sees_both_counties(client, two_counties):
    entries = client.get("/api/v1/audit?page_size=1000").get_json()
    prefixes = {e["region_code"][:6] for e in entries}
    assert {COUNTY_A, COUNTY_B} <= prefixes


@pytest.mark.parametrize("role", ["grid_worker", "police", "reviewer"])
def test_non_admin_roles_may_not_read_audit(app, client, role):
    village = village_in(COUNTY_B)
    if role == "grid_worker":
        member_id = sql("select id from members where village_code = :v order by id limit 1", v=village).scalar()
        create_user(client, "audit_reader", role, village, member_id)
    else:
        create_user(client, "audit_reader", role, COUNTY_B + "000000")
    assert_error(client.get("/api/v1/audit", headers={"Authorization": bearer(app, "audit_reader")}), 403)


def test_audit_needs_a_token(anonymous_client):
    response = anonymous_client.get("/api/v1/audit")
    assert response.status_code == 401


def test_filter_by_object_type(client, two_counties):
    response = client.get("/api/v1/audit?object_type=member&page_size=1000")
    entries = response.get_json()
    assert pagination(response)["total"] == sql(
        "select count(*) from audit_log where object_type = 'member'").scalar() == len(entries) >= 2
    assert {e["object_type"] for e in entries} == {"member"}
    assert [e["object_id"] for e in entries[:2]] == [str(two_counties["member_b"]), str(two_counties["member_a"])]
    assert client.get("/api/v1/audit?object_type=nothing").get_json() == []


def test_filter_by_object_id(client, two_counties):
    entries = client.get("/api/v1/audit?object_id=audit_village_a").get_json()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["action"], entry["object_type"], entry["actor"]) == ("user.create", "user", "admin")
    assert entry["region_code"] == village_in(COUNTY_A)
    member = str(two_counties["member_a"])
    both = client.get(f"/api/v1/audit?object_type=member&object_id={member}").get_json()
    assert [(e["action"], e["object_id"]) for e in both] == [("member.create", member)]


def test_filter_by_actor(client, two_counties):
    village_b = village_in(COUNTY_B)
    create_user(client, "audit_made_by_b", "village_admin", village_b, headers=two_counties["b"])
    response = client.patch("/api/v1/users/audit_made_by_b", json={"active": False}, headers=two_counties["b"])
    assert response.status_code == 200, response.get_data(as_text=True)
    entries = client.get("/api/v1/audit?actor=audit_county_b").get_json()
    assert [(e["action"], e["object_id"]) for e in entries] == [("user.update", "audit_made_by_b"),
                                                                ("user.create", "audit_made_by_b")]
    assert all(e["actor"] == "audit_county_b" for e in entries)
    assert entries[0]["details"] == {"active": False}
    assert entries[1]["details"] == {"role": "village_admin", "scope": village_b, "member_id": None}
    by_admin = client.get("/api/v1/audit?actor=admin&page_size=1000").get_json()
    assert by_admin and {e["actor"] for e in by_admin} == {"admin"}
    assert "audit_made_by_b" not in {e["object_id"] for e in by_admin}
    combined = client.get("/api/v1/audit?actor=audit_county_b&object_type=user&object_id=audit_made_by_b")
    assert len(combined.get_json()) == 2
    assert client.get("/api/v1/audit?actor=nobody").get_json() == []


def test_password_reset_is_audited_without_the_password(client):
    create_user(client, "audit_reset", "reviewer", COUNTY_B + "000000")
    new_password = "another-long-password-42"
    response = client.patch("/api/v1/users/audit_reset", json={"password": new_password})
    assert response.status_code == 200
    audit = client.get("/api/v1/audit?object_id=audit_reset")
    entries = audit.get_json()
    assert [e["action"] for e in entries] == ["user.update", "user.create"]
    assert entries[0]["details"] == {"password_reset": True}
    assert new_password not in audit.get_data(as_text=True) and PASSWORD not in audit.get_data(as_text=True)
