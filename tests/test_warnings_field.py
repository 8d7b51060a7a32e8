"""Fund warnings as the field lives them: an outcome after a call without a meeting (refused, not_found,
false_alarm; no visit stored, not counted as met), the resident's full phone number for the assigned member
only (every reading audited), and a warning handed to another member by a supervisor in scope."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests import test_warnings as base
from tests.helpers import assert_error, auth, make_user, sql
from tests.test_warnings import (
    API,
    COUNTY,
    OTHER_COUNTY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_2,
    detail,
    free_members,
    new_warning,
    post_event,
    ts,
    visits_of,
)

police = base.police  # the fixtures of the warnings tests: a city police account, a liaison of CELL
field = base.field
PHONE = "138 1234 5678"


def summary(client) -> dict:
    response = client.get(f"{API}/warnings/summary", query_string={"region": TOWNSHIP})
    assert response.status_code == 200, response.get_data(as_text=True)
    [row] = [r for r in response.get_json()["children"] if r["code"] == VILLAGE]
    return row


def phone_readings(warning_id: int) -> list:
    return sql("select actor, details from audit_log where action = 'warning.phone_read' and object_id = :i "
               "order by id", i=str(warning_id)).all()


# --- outcomes without a meeting ---

@pytest.mark.parametrize("first", ["acknowledged", "called"])
@pytest.mark.parametrize("outcome", ["not_found", "false_alarm"])
def test_closing_outcome_after_a_call_stores_no_visit_and_is_not_met(client, police, field, first, outcome):
    warning = new_warning(client, police, field)
    created = ts(warning["created_at"]).replace(microsecond=0)
    post_event(client, field.headers, warning["id"], first, at=created + timedelta(seconds=5))
    post_event(client, field.headers, warning["id"], "outcome", outcome=outcome, at=created + timedelta(seconds=9))
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"], current["met_at"]) == ("closed", outcome, None)
    assert ts(current["closed_at"]) == created + timedelta(seconds=9)
    assert visits_of(field.household) == []
    row = summary(client)
    assert (row["warnings"], row["met"], row["met_on_time"]) == (1, 0, 0)


def test_refused_on_the_phone_asks_for_a_revisit(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "called")
    post_event(client, field.headers, warning["id"], "outcome", outcome="refused")
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"], current["met_at"]) == ("revisit", "refused", None)
    # A new outcome needs a new try: a call (or a meeting) first.
    post_event(client, field.headers, warning["id"], "outcome", 409, outcome="not_found")
    post_event(client, field.headers, warning["id"], "called")
    post_event(client, field.headers, warning["id"], "outcome", outcome="not_found")
    assert detail(client, warning["id"])["status"] == "closed"
    assert visits_of(field.household) == [] and summary(client)["met"] == 0


@pytest.mark.parametrize("outcome", ["dissuaded", "transferred"])
def test_dissuaded_and_transferred_still_need_a_meeting(client, police, field, outcome):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "called")
    response = client.post(f"{API}/warnings/{warning['id']}/events", headers=field.headers, json={
        "id": str(uuid.uuid4()), "type": "outcome", "at": datetime.now(UTC).isoformat(), "outcome": outcome,
        "amount_yuan": 100})
    assert_error(response, 409, rule="illegal_transition")
    assert detail(client, warning["id"])["status"] == "acknowledged"


def test_an_outcome_straight_from_open_is_409(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "outcome", 409, outcome="false_alarm")
    assert detail(client, warning["id"])["status"] == "open"


def test_a_real_meeting_stores_a_visit_and_counts_as_met(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "called")
    post_event(client, field.headers, warning["id"], "met")
    post_event(client, field.headers, warning["id"], "outcome", outcome="not_found")
    assert [(v.member_id, v.outcome) for v in visits_of(field.household)] == [(field.member, "completed")]
    row = summary(client)
    assert (row["met"], row["met_on_time"]) == (1, 1)


# --- the resident's phone number ---

def test_the_assigned_member_reads_the_full_number_each_reading_audited(client, police, field):
    warning = new_warning(client, police, field, phone=PHONE)
    assert warning["phone"] == "*******5678"
    for _ in range(2):
        response = client.get(f"{API}/warnings/{warning['id']}/phone", headers=field.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"id": warning["id"], "phone": "13812345678"}
    readings = phone_readings(warning["id"])
    assert [(r.actor, r.details["member_id"]) for r in readings] == [("gw_liaison", field.member)] * 2
    # The detail and lists keep the masked number, also for the member.
    assert detail(client, warning["id"], field.headers)["phone"] == "*******5678"


def test_nobody_else_reads_the_number(client, police, field):
    warning = new_warning(client, police, field, phone=PHONE)
    url = f"{API}/warnings/{warning['id']}/phone"
    other = free_members(VILLAGE, 2)[1]
    make_user("gw_other", "grid_worker", VILLAGE, other)
    assert_error(client.get(url, headers=auth("gw_other")), 404)  # another member: not their warning
    assert_error(client.get(url), 403)  # the city administrator
    assert_error(client.get(url, headers=police), 403)  # the police who sent it
    make_user("ts", "township_supervisor", TOWNSHIP)
    assert_error(client.get(url, headers=auth("ts")), 403)
    assert phone_readings(warning["id"]) == []


def test_no_number_and_closed_warnings(client, police, field):
    warning = new_warning(client, police, field)
    response = client.get(f"{API}/warnings/{warning['id']}/phone", headers=field.headers)
    assert response.get_json() == {"id": warning["id"], "phone": None}
    assert phone_readings(warning["id"]) == []
    closed = new_warning(client, police, field, phone=PHONE)
    post_event(client, field.headers, closed["id"], "called")
    post_event(client, field.headers, closed["id"], "outcome", outcome="false_alarm")
    assert_error(client.get(f"{API}/warnings/{closed['id']}/phone", headers=field.headers), 409, rule="closed")


# --- reassignment ---

@pytest.fixture
def deputy(db_session):
    """Another member of the village, with a grid-worker account, holding no cell."""
    member = free_members(VILLAGE, 2)[1]
    make_user("gw_deputy", "grid_worker", VILLAGE, member)
    return member


def reassign(client, warning_id: int, member_id: int, headers: dict | None = None, status: int = 200, **fields):
    response = client.post(f"{API}/warnings/{warning_id}/reassign", json={"member_id": member_id, **fields},
                           headers=headers or {})
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_a_supervisor_hands_a_warning_to_another_member(client, police, field, deputy):
    make_user("ts", "township_supervisor", TOWNSHIP)
    warning = new_warning(client, police, field, phone=PHONE)
    post_event(client, field.headers, warning["id"], "acknowledged",
               at=ts(warning["created_at"]) + timedelta(microseconds=1))
    moved = reassign(client, warning["id"], deputy, auth("ts"), reason="请假")
    assert (moved["assigned_member_id"], moved["status"]) == (deputy, "acknowledged")
    assert (moved["deadline"], moved["escalation"]) == (warning["deadline"], "member")
    events = detail(client, warning["id"])["events"]
    assert [(e["type"], e["member_id"]) for e in events] == [("routed", field.member), ("acknowledged", None),
                                                             ("reassigned", deputy)]
    assert (events[-1]["by"], events[-1]["note"]) == ("ts", "请假")
    assert sql("select count(*) from audit_log where action = 'warning.reassign' and object_id = :i",
               i=str(warning["id"])).scalar() == 1

    # The new member has it (list, detail, number, events, meeting); the former one no longer does.
    deputy_headers = auth("gw_deputy")
    assert [w["id"] for w in client.get(f"{API}/me/warnings", headers=deputy_headers).get_json()] == [warning["id"]]
    assert client.get(f"{API}/me/warnings", headers=field.headers).get_json() == []
    assert_error(client.get(f"{API}/warnings/{warning['id']}", headers=field.headers), 404)
    assert_error(client.get(f"{API}/warnings/{warning['id']}/phone", headers=field.headers), 404)
    post_event(client, field.headers, warning["id"], "called", 404)
    number = client.get(f"{API}/warnings/{warning['id']}/phone", headers=deputy_headers).get_json()
    assert number["phone"] == "13812345678"
    post_event(client, deputy_headers, warning["id"], "met")
    assert [(v.member_id, v.username) for v in visits_of(field.household)] == [(deputy, "gw_deputy")]

    # Handing it to the same member again changes nothing.
    reassign(client, warning["id"], deputy, auth("ts"))
    assert [e["type"] for e in detail(client, warning["id"])["events"]].count("reassigned") == 1


def test_reassignment_is_for_supervisors_in_scope(client, police, field, deputy):
    warning = new_warning(client, police, field)
    url = f"{API}/warnings/{warning['id']}/reassign"
    for role, scope in (("county_admin", OTHER_COUNTY + "000000"), ("township_supervisor", "610902001000")):
        make_user(f"far_{role}", role, scope)
        assert_error(client.post(url, json={"member_id": deputy}, headers=auth(f"far_{role}")), 404)
    assert_error(client.post(url, json={"member_id": deputy}, headers=police), 403)
    assert_error(client.post(url, json={"member_id": deputy}, headers=field.headers), 403)
    make_user("va", "village_admin", VILLAGE)
    assert_error(client.post(url, json={"member_id": deputy}, headers=auth("va")), 403)
    make_user("ca", "county_admin", COUNTY + "000000")
    # A member outside the supervisor's scope, or unknown, is a field error.
    outside = sql("select min(id) from members where village_code like :c", c=OTHER_COUNTY + "%").scalar()
    make_user("ts", "township_supervisor", TOWNSHIP)
    for member_id in (outside, 10**9):
        assert_error(client.post(url, json={"member_id": member_id}, headers=auth("ts")), 422, field="member_id")
    for data in ({}, {"member_id": "x"}, {"member_id": deputy, "colour": "red"}, {"member_id": 0}):
        assert_error(client.post(url, json=data, headers=auth("ca")), 422)
    assert detail(client, warning["id"])["assigned_member_id"] == field.member
    # Another village of the township: still the supervisor's.
    other_village_member = sql("select min(id) from members where village_code = :v and active",
                               v=VILLAGE_2).scalar()
    assert reassign(client, warning["id"], other_village_member, auth("ca"))["assigned_member_id"] == \
        other_village_member


def test_closed_and_inactive(client, police, field, deputy):
    warning = new_warning(client, police, field)
    sql("update members set active = false where id = :m", m=deputy)
    from core.extensions import db
    db.session.commit()
    assert_error(client.post(f"{API}/warnings/{warning['id']}/reassign", json={"member_id": deputy}), 409,
                 rule="member_inactive")
    post_event(client, field.headers, warning["id"], "called")
    post_event(client, field.headers, warning["id"], "outcome", outcome="false_alarm")
    other = free_members(VILLAGE, 3)[2]
    assert_error(client.post(f"{API}/warnings/{warning['id']}/reassign", json={"member_id": other}), 409,
                 rule="closed")
