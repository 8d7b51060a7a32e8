"""Case corrections: POST /cases idempotent on external_ref, voiding by police or the city admin (listed,
no longer counted, audited), and a suspension lifted only by the county reviewer once every case
behind it is voided, recorded in the certification's history."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import today
from tests.helpers import assert_error, auth, make_user, sql
from tests.test_certification import (
    API,
    USERS,
    V,
    W,
    audit_entries,
    certified,
    ok,
    put_criteria,
    record_case,
    status_of,
)


@pytest.fixture
def user(db_session):
    """``user(name)``: the headers of a user of tests/test_certification.py's USERS (``None``: admin)."""
    made: dict[str, dict] = {}

    def headers(name: str) -> dict:
        if name not in made:
            make_user(name, *USERS[name])
            made[name] = auth(name)
        return made[name]

    return headers


def case_body(**fields) -> dict:
    return {"village_code": V, "type": "investment", "loss_yuan": 5000,
            "occurred_on": (today() - timedelta(days=1)).isoformat(), **fields}


def void(client, headers, case_id: int, reason: str = "recorded twice by mistake"):
    return client.post(f"{API}/cases/{case_id}/void", json={"reason": reason}, headers=headers)


def test_the_same_case_twice_is_one_case(client, user):
    first = client.post(f"{API}/cases", json=case_body(external_ref="AJ-2026-001"), headers=user("pol"))
    assert first.status_code == 201
    again = client.post(f"{API}/cases", json=case_body(external_ref="AJ-2026-001", loss_yuan=1),
                        headers=user("pol"))
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["loss_yuan"] == 5000
    assert sql("select count(*) from cases where external_ref = 'AJ-2026-001'").scalar() == 1
    assert len(audit_entries("case.create", first.get_json()["id"])) == 1
    other = client.post(f"{API}/cases", json=case_body(external_ref="AJ-2026-002"), headers=user("pol"))
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    # Without a reference every post is a new case.
    assert client.post(f"{API}/cases", json=case_body(), headers=user("pol")).status_code == 201
    assert client.post(f"{API}/cases", json=case_body(), headers=user("pol")).status_code == 201


def interior(village: str) -> dict:
    """A WGS84 point well inside a village."""
    lon, lat = sql("""select ST_X(c), ST_Y(c) from (select (ST_MaximumInscribedCircle(boundary)).center as c
                      from regions where code = :v) x""", v=village).one()
    return {"lon": lon, "lat": lat}


@pytest.fixture
def reference_elsewhere(client, user):
    """AJ-9 used in county 610927 (W); the headers of police of county 610925 (V's), who cannot see it."""
    ok(client.post(f"{API}/cases", json=case_body(village_code=W, external_ref="AJ-9"), headers=user("pol")), 201)
    make_user("pol-622", "police", "610925000000")
    return auth("pol-622")


def test_another_scopes_reference_is_unknown_here_and_records_the_case(client, reference_elsewhere):
    taken = client.post(f"{API}/cases", json=case_body(external_ref="AJ-9"), headers=reference_elsewhere)
    unknown = client.post(f"{API}/cases", json=case_body(external_ref="AJ-10"), headers=reference_elsewhere)
    assert taken.status_code == unknown.status_code == 201
    volatile = ("id", "external_ref", "created_at")
    assert {k: v for k, v in taken.get_json().items() if k not in volatile} == \
        {k: v for k, v in unknown.get_json().items() if k not in volatile}
    assert taken.get_json()["village_code"] == V
    # Idempotent in the caller's scope: the same reference again is its own case, not the other county's.
    again = client.post(f"{API}/cases", json=case_body(external_ref="AJ-9"), headers=reference_elsewhere)
    assert again.status_code == 200 and again.get_json()["id"] == taken.get_json()["id"]
    assert sql("select village_code from cases where external_ref = 'AJ-9' order by id").scalars().all() == [W, V]


@pytest.mark.parametrize("changes", [
    {"village_code": W},                                    # a village of the other county
    {"village_code": "610925100999"},                       # no such village
    {"village_code": None, "location": "W"},                # a point in the other county
    {"village_code": None, "location": {"lon": 109.0, "lat": 34.5}},  # north of the city
    {"occurred_on": "2999-01-01"},                          # an answer about the body, not the reference
])
def test_another_scopes_reference_answers_byte_for_byte_like_an_unknown_one(client, reference_elsewhere, changes):
    changes = {k: interior(W) if v == "W" else v for k, v in changes.items()}
    data = {k: v for k, v in case_body(**changes).items() if v is not None}
    taken = client.post(f"{API}/cases", json={**data, "external_ref": "AJ-9"}, headers=reference_elsewhere)
    unknown = client.post(f"{API}/cases", json={**data, "external_ref": "AJ-404"}, headers=reference_elsewhere)
    assert taken.status_code == unknown.status_code == 422
    assert taken.get_data() == unknown.get_data()
    assert W not in taken.get_data(as_text=True)
    assert sql("select count(*) from cases where external_ref in ('AJ-9', 'AJ-404')").scalar() == 1


def test_an_out_of_scope_village_answers_like_an_unknown_one(client, reference_elsewhere):
    elsewhere = client.post(f"{API}/cases", json=case_body(village_code=W), headers=reference_elsewhere)
    nowhere = client.post(f"{API}/cases", json=case_body(village_code="610925100999"), headers=reference_elsewhere)
    assert elsewhere.status_code == nowhere.status_code == 422
    assert elsewhere.get_data() == nowhere.get_data()
    data = {k: v for k, v in case_body(location=interior(W)).items() if k != "village_code"}
    in_w = client.post(f"{API}/cases", json=data, headers=reference_elsewhere)
    assert in_w.status_code == 422 and W not in in_w.get_data(as_text=True)
    assert in_w.get_json()["errors"] == {"json": {"location": ["The point is outside every village of your scope."]}}


def test_police_void_a_case_it_stays_listed_and_stops_counting(client, user):
    case = record_case(client, user("pol"), V)
    before = ok(client.get(f"{API}/regions/610925100000/cases/summary"))
    response = void(client, user("pol"), case["id"])
    voided = ok(response)
    assert voided["id"] == case["id"] and voided["voided_by"] == "pol"
    assert voided["void_reason"] == "recorded twice by mistake" and voided["voided_at"] is not None
    after = ok(client.get(f"{API}/regions/610925100000/cases/summary"))
    assert after["cases"] == before["cases"] - 1
    listed = ok(client.get(f"{API}/cases?region={V}"))
    assert [c["id"] for c in listed] == [case["id"]]  # still in the history
    assert ok(client.get(f"{API}/cases?region={V}&voided=false")) == []
    assert [c["id"] for c in ok(client.get(f"{API}/cases?region={V}&voided=true"))] == [case["id"]]
    assert ok(client.get(f"{API}/cases/{case['id']}"))["voided_by"] == "pol"
    [entry] = audit_entries("case.void", case["id"])
    assert entry.actor == "pol" and entry.comment == "recorded twice by mistake"
    assert_error(void(client, user("pol"), case["id"]), 409, rule="already_voided")


def test_the_city_admin_voids_other_roles_may_not(client, user):
    case = record_case(client, user("pol"), V)
    for name in ("ca", "ts", "rc", "va"):
        assert_error(void(client, user(name), case["id"]), 403)
    assert ok(void(client, None, case["id"]))["voided_by"] == "admin"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": 3}])
def test_a_void_needs_a_reason(client, user, body):
    case = record_case(client, user("pol"), V)
    assert_error(client.post(f"{API}/cases/{case['id']}/void", json=body, headers=user("pol")), 422, "reason")
    assert sql("select voided_at from cases where id = :id", id=case["id"]).scalar() is None


def test_void_outside_the_scope_or_unknown_is_404(client, user):
    case = record_case(client, user("pol"), V)
    assert_error(void(client, user("pol-other"), case["id"]), 404)
    assert_error(void(client, user("pol"), 999999999), 404)


def test_a_voided_case_lifts_its_suspension_only_through_the_county_reviewer(client, user):
    put_criteria(client)
    done = certified(client, user)
    case = record_case(client, user("pol"), V)
    assert status_of(done["id"]) == "suspended"
    # Before the case is voided the reviewer cannot reinstate.
    reinstate = f"{API}/certifications/{done['id']}/reinstate"
    assert_error(client.post(reinstate, json={"comment": "wrong village"}, headers=user("rc")), 409,
                 rule="cases_stand")
    ok(void(client, user("pol"), case["id"]))
    assert status_of(done["id"]) == "suspended"  # voiding alone lifts nothing
    assert_error(client.post(reinstate, json={"comment": "x"}, headers=user("rt")), 403)  # the township reviewer
    assert_error(client.post(reinstate, json={"comment": "x"}, headers=user("ca")), 403)
    assert_error(client.post(reinstate, json={}, headers=user("rc")), 422, "comment")
    body = ok(client.post(reinstate, json={"comment": "the case was recorded in the wrong village"},
                          headers=user("rc")))
    assert body["status"] == "certified" and body["valid_until"] == done["valid_until"]
    assert [(d["level"], d["decision"]) for d in body["decisions"]] == \
        [("township", "approve"), ("county", "approve"), ("county", "reinstate")]
    assert body["decisions"][-1]["decided_by"] == "rc"
    [entry] = audit_entries("certification.reinstate", done["id"])
    assert entry.details["suspended_by_case"] == case["id"] and entry.actor == "rc"
    assert ok(client.get(f"{API}/coverage/fraud-free?region=610925000000"))["certified"] == 1
    assert_error(client.post(reinstate, json={"comment": "again"}, headers=user("rc")), 409, rule="not_suspended")


def test_a_second_standing_case_keeps_the_suspension(client, user):
    put_criteria(client)
    done = certified(client, user)
    first = record_case(client, user("pol"), V)
    record_case(client, user("pol"), V)
    ok(void(client, user("pol"), first["id"]))
    assert_error(client.post(f"{API}/certifications/{done['id']}/reinstate", json={"comment": "x"},
                             headers=user("rc")), 409, rule="cases_stand")
    assert status_of(done["id"]) == "suspended"


def test_a_voided_case_no_longer_breaks_the_zero_case_criterion(client, user):
    put_criteria(client)
    case = record_case(client, user("pol"), V)
    def zero_cases() -> dict:
        criteria = ok(client.get(f"{API}/villages/{V}/certification"))["criteria"]
        return next(c for c in criteria if c["name"] == "zero_cases")

    assert zero_cases()["passed"] is False
    ok(void(client, user("pol"), case["id"]))
    assert zero_cases()["passed"] is True and zero_cases()["value"] == 0
