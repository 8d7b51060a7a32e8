"""Fund warnings (POST /warnings, events, lists, summary): routing to the member embedded in the household's
cell (liaison, worker, chief, then the cells above, then the township task force), idempotent creation, the
phone kept encrypted and shown masked, input and scope errors, every event transition and its idempotency,
the meeting counted as a visit, what members and supervisors may see, and the summary figures."""
from __future__ import annotations

import statistics
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from core.clock import LOCAL
from core.coords import wgs84_to_gcj02
from core.extensions import db
from core.personal_data import decrypt_phone
from outreach.warnings.services import create_warnings
from tests.helpers import assert_error, auth, make_user, sql

API = "/api/v1"
CITY = "610900000000"
COUNTY = "610981"  # three villages in one township
TOWNSHIP = "610981100000"
VILLAGE = "610981100004"
VILLAGE_2 = "610981100005"
VILLAGE_3 = "610981100006"
OTHER_COUNTY = "610902"
CELL = "610981100004-01-01"  # a tier-3 cell of VILLAGE
TIER2 = "610981100004-01-00"
TIER1 = "610981100004-00-00"
LIAISON_KINDS = ("party_member", "village_cadre", "village_secretary")
WARNING_FIELDS = {"id", "external_ref", "level", "reason", "household_id", "grid_code", "village_code", "phone",
                  "assigned_member_id", "status", "escalation", "deadline", "ack_deadline", "meet_deadline",
                  "created_at", "acknowledged_at", "met_at", "closed_at", "outcome", "amount_yuan",
                  "stop_payment_requested", "checklist"}
CHECKLIST = {"screen_sharing": True, "verification_codes_given": False, "transfers_made": True,
             "unknown_apps_installed": False, "links_clicked": True}


# --- helpers ---

def sql_change(statement: str, **params) -> None:
    """Change data and commit (a savepoint inside the test's transaction): a request's teardown would otherwise
    discard the change with the session."""
    db.session.execute(text(statement), params)
    db.session.commit()


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def inside(code: str) -> tuple[float, float]:
    """A WGS84 point safely inside a cell (the centre of its largest inscribed circle)."""
    row = sql("select ST_X(c.center), ST_Y(c.center) from grids g, ST_MaximumInscribedCircle(g.boundary) c "
              "where g.code = :c", c=code).one()
    return float(row[0]), float(row[1])


def gcj02_point(code: str) -> dict:
    """A point inside ``code`` as a phone or the police model sends it, in GCJ-02."""
    lon, lat = wgs84_to_gcj02(*inside(code))
    return {"lon": float(lon), "lat": float(lat), "crs": "gcj02"}


def chief_of(code: str) -> int:
    return sql("select member_id from assignments where grid_code = :g and role = 'chief' and valid_to is null",
               g=code).scalar_one()


def free_members(village: str, n: int, kinds: tuple[str, ...] = LIAISON_KINDS) -> list[int]:
    """Active members of ``village`` of ``kinds`` holding no current assignment."""
    ids = list(sql("""
        select m.id from members m
        where m.village_code = :v and m.active and m.kind = any(:kinds)
          and not exists (select 1 from assignments a where a.member_id = m.id and a.valid_to is null)
        order by m.id limit :n
    """, v=village, kinds=list(kinds), n=n).scalars())
    assert len(ids) == n, f"need {n} free members in {village}"
    return ids


def assign(client, member_id: int, grid_code: str, role: str) -> None:
    response = client.post(f"{API}/assignments", json={"member_id": member_id, "grid_code": grid_code, "role": role})
    assert response.status_code == 201, response.get_data(as_text=True)


def end_assignments(*codes: str) -> None:
    sql_change("update assignments set valid_to = now() where grid_code = any(:codes) and valid_to is null",
        codes=list(codes))


def household_of(cell: str) -> int:
    return sql("select min(id) from households where grid_code = :g and removed_at is null", g=cell).scalar_one()


def body(**fields) -> dict:
    data = {"external_ref": f"T-{uuid.uuid4().hex[:16]}", "level": "high", "reason": "investment"}
    data.update(fields)
    return data


def post_warning(client, headers: dict, status: int = 201, **fields) -> dict:
    response = client.post(f"{API}/warnings", json=body(**fields), headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def post_event(client, headers: dict, warning_id: int, kind: str, status: int = 201, *, event_id: str | None = None,
               at: datetime | None = None, **fields) -> dict:
    data = {"id": event_id or str(uuid.uuid4()), "type": kind,
            "at": (at or datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    data.update(fields)
    response = client.post(f"{API}/warnings/{warning_id}/events", json=data, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def detail(client, warning_id: int, headers: dict | None = None) -> dict:
    response = client.get(f"{API}/warnings/{warning_id}", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def warning_row(warning_id: int):
    return sql("select * from warnings where id = :i", i=warning_id).one()


def visits_of(household: int):
    return sql("select member_id, outcome, grid_code, username from visits where household_id = :h",
               h=household).all()


@pytest.fixture
def police(db_session) -> dict:
    make_user("police_city", "police", CITY)
    return auth("police_city")


@pytest.fixture
def field(client, police) -> SimpleNamespace:
    """A liaison embedded in CELL with a grid-worker account, and a household of the cell."""
    member = free_members(VILLAGE, 1)[0]
    assign(client, member, CELL, "liaison")
    make_user("gw_liaison", "grid_worker", VILLAGE, member)
    return SimpleNamespace(member=member, headers=auth("gw_liaison"), household=household_of(CELL))


def new_warning(client, police, field, **fields) -> dict:
    warning = post_warning(client, police, household_id=field.household, **fields)
    assert warning["assigned_member_id"] == field.member
    return warning


# --- routing ---

def test_gcj02_point_is_routed_to_the_cells_chief_when_no_one_else(client, police):
    warning = post_warning(client, police, location=gcj02_point(CELL), phone=None)
    assert set(warning) == WARNING_FIELDS
    assert (warning["status"], warning["grid_code"], warning["village_code"]) == ("open", CELL, VILLAGE)
    assert (warning["assigned_member_id"], warning["escalation"]) == (chief_of(CELL), "member")
    assert warning["household_id"] is None
    created = ts(warning["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    assert ts(warning["deadline"]) - created == timedelta(minutes=120)  # high: meet within 2 hours
    assert ts(warning["meet_deadline"]) == ts(warning["deadline"]) and warning["ack_deadline"] is None
    inside_cell = sql("select ST_Covers(g.boundary, w.location) from warnings w join grids g on g.code = w.grid_code "
                      "where w.id = :i", i=warning["id"]).scalar_one()
    assert inside_cell  # stored in WGS84, converted from GCJ-02


@pytest.mark.parametrize("level, ack, meet", [("urgent", 5, 30), ("high", None, 120), ("medium", None, 1440),
                                              ("low", None, 4320)])
def test_deadlines_per_level(client, police, level, ack, meet):
    warning = post_warning(client, police, location=gcj02_point(CELL), level=level)
    created = ts(warning["created_at"])
    assert ts(warning["meet_deadline"]) - created == timedelta(minutes=meet)
    if ack is None:
        assert warning["ack_deadline"] is None and warning["deadline"] == warning["meet_deadline"]
    else:
        assert ts(warning["ack_deadline"]) - created == timedelta(minutes=ack)
        assert warning["deadline"] == warning["ack_deadline"]  # first due: the acknowledgement


def test_liaison_is_preferred_over_worker_over_chief(client, police):
    worker = free_members(VILLAGE, 1, kinds=("grid_worker", "party_member"))[0]
    assign(client, worker, CELL, "worker")
    assert post_warning(client, police, location=gcj02_point(CELL))["assigned_member_id"] == worker

    liaison = free_members(VILLAGE, 1)[0]
    assign(client, liaison, CELL, "liaison")
    # The role comes before the load: the liaison takes them all, even when busier than the worker.
    for _ in range(3):
        assert post_warning(client, police, location=gcj02_point(CELL))["assigned_member_id"] == liaison


def test_least_loaded_of_two_liaisons_with_open_warnings(client, police):
    first, second = free_members(VILLAGE, 2)
    assign(client, second, CELL, "liaison")
    assign(client, first, CELL, "liaison")
    got = [post_warning(client, police, location=gcj02_point(CELL)) for _ in range(3)]
    assert [w["assigned_member_id"] for w in got] == [first, second, first]  # tie → lowest id, then alternate

    # Closed warnings are no load: with first's two closed, first (0 open) beats second (1 open).
    sql_change("update warnings set status = 'closed' where assigned_member_id = :m", m=first)
    assert post_warning(client, police, location=gcj02_point(CELL))["assigned_member_id"] == first


def test_members_of_the_cells_above_when_the_cell_has_nobody(client, police):
    end_assignments(CELL)
    warning = post_warning(client, police, location=gcj02_point(CELL))
    assert (warning["grid_code"], warning["assigned_member_id"]) == (CELL, chief_of(TIER2))
    assert warning["escalation"] == "member"

    liaison = free_members(VILLAGE, 1)[0]
    assign(client, liaison, TIER2, "liaison")
    assert post_warning(client, police, location=gcj02_point(CELL))["assigned_member_id"] == liaison

    end_assignments(TIER2)
    warning = post_warning(client, police, location=gcj02_point(CELL))
    assert (warning["grid_code"], warning["assigned_member_id"]) == (CELL, chief_of(TIER1))


def test_a_sibling_cells_members_are_never_chosen(client, police):
    sibling = "610981100004-01-02"
    end_assignments(CELL, TIER2, TIER1)
    assign(client, free_members(VILLAGE, 1)[0], sibling, "liaison")
    warning = post_warning(client, police, location=gcj02_point(CELL))
    assert warning["assigned_member_id"] is None


def test_nobody_at_all_goes_to_the_township_task_force(client, police):
    end_assignments(CELL, TIER2, TIER1)
    warning = post_warning(client, police, location=gcj02_point(CELL), level="high")
    assert (warning["assigned_member_id"], warning["escalation"], warning["status"]) == (None, "township", "open")
    assert warning["grid_code"] == CELL
    events = detail(client, warning["id"])["events"]
    assert [(e["type"], e["escalated_to"], e["by"]) for e in events] == [("routed", "township", "routing")]
    assert warning_row(warning["id"]).escalation_level == 1


def test_inactive_members_are_skipped(client, police):
    sql_change("update members set active = false where id = :m", m=chief_of(CELL))
    assert post_warning(client, police, location=gcj02_point(CELL))["assigned_member_id"] == chief_of(TIER2)


def test_by_household_id(client, police):
    cell = "610981100005-01-03"
    household = household_of(cell)
    warning = post_warning(client, police, household_id=household)
    assert (warning["household_id"], warning["grid_code"], warning["village_code"]) == (household, cell, VILLAGE_2)
    assert warning["assigned_member_id"] == chief_of(cell)
    same_place = sql("select ST_Equals(w.location, h.location) from warnings w, households h "
                     "where w.id = :w and h.id = :h", w=warning["id"], h=household).scalar_one()
    assert same_place


# --- idempotency, phone ---

def test_same_external_ref_again_is_200_with_the_same_warning(client, police):
    first = post_warning(client, police, external_ref="POL-2026-0001", location=gcj02_point(CELL))
    again = post_warning(client, police, 200, external_ref="POL-2026-0001", location=gcj02_point(CELL))
    assert again == first
    # Even with other content: the first one stands.
    other = post_warning(client, police, 200, external_ref="POL-2026-0001", level="low", reason="loan",
                         household_id=household_of("610981100005-01-03"))
    assert (other["id"], other["level"], other["grid_code"]) == (first["id"], "high", CELL)
    assert sql("select count(*) from warnings where external_ref = 'POL-2026-0001'").scalar() == 1
    assert sql("select count(*) from warning_events where warning_id = :i", i=first["id"]).scalar() == 1


def test_phone_is_masked_on_output_and_encrypted_at_rest(client, police):
    warning = post_warning(client, police, location=gcj02_point(CELL), phone="+86 138-1234-5678")
    assert warning["phone"] == "*******5678"
    assert detail(client, warning["id"])["phone"] == "*******5678"
    row = warning_row(warning["id"])
    assert row.phone_masked == "*******5678"
    assert b"13812345678" not in bytes(row.phone_encrypted)
    assert decrypt_phone(bytes(row.phone_encrypted)) == "13812345678"
    listed = client.get(f"{API}/warnings", query_string={"region": VILLAGE}, headers=police).get_data(as_text=True)
    assert "13812345678" not in listed and "*******5678" in listed


def test_without_phone_nothing_is_stored(client, police):
    warning = post_warning(client, police, location=gcj02_point(CELL))
    assert warning["phone"] is None
    row = warning_row(warning["id"])
    assert (row.phone_encrypted, row.phone_masked) == (None, None)


# --- bad input, scope, roles ---

@pytest.mark.parametrize("fields, field_name", [
    ({}, "location"),  # neither a location nor a household
    ({"household_id": None, "location": None}, "location"),
    ({"level": "critical", "household_id": 1}, "level"),
    ({"location": {"lon": 120.1, "lat": 30.2, "crs": "wgs84"}}, "location"),  # Hangzhou: outside the city
    ({"location": {"lon": 109.0, "lat": 32.7, "crs": "mars"}}, "location"),
    ({"location": {"lon": "109", "lat": 32.7}}, "location"),
    ({"household_id": 999_999_999}, "household_id"),  # unknown household
    ({"household_id": 0}, "household_id"),
    ({"household_id": 1, "phone": "call me"}, "phone"),
    ({"household_id": 1, "reason": ""}, "reason"),
    ({"household_id": 1, "external_ref": "x" * 65}, "external_ref"),
])
def test_bad_input_is_422(client, police, fields, field_name):
    before = sql("select count(*) from warnings").scalar()
    response = client.post(f"{API}/warnings", json=body(**fields), headers=police)
    payload = assert_error(response, 422)
    assert field_name in str(payload["errors"]), payload
    assert sql("select count(*) from warnings").scalar() == before


@pytest.mark.parametrize("missing", ["external_ref", "level", "reason"])
def test_required_fields(client, police, missing):
    data = body(household_id=household_of(CELL))
    del data[missing]
    payload = assert_error(client.post(f"{API}/warnings", json=data, headers=police), 422)
    assert missing in str(payload["errors"])


def test_point_outside_every_cell_is_422(client, police):
    lon, lat = inside(CELL)
    radius = sql("select c.radius from grids g, ST_MaximumInscribedCircle(g.boundary) c where g.code = :c",
                 c=CELL).scalar_one()
    # Shrink the cell to a speck around its centre: a point half way to its edge is then in no tier-3 cell.
    sql_change("update grids set boundary = ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :r)) "
        "where code = :c", x=lon, y=lat, r=radius / 10, c=CELL)
    point = (lon + radius / 2, lat)
    assert sql("select count(*) from grids where tier = 3 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:x, :y), "
               "4326))", x=point[0], y=point[1]).scalar() == 0
    response = client.post(f"{API}/warnings", json=body(location={"lon": point[0], "lat": point[1]}), headers=police)
    payload = assert_error(response, 422)
    assert "location" in payload["errors"]["json"]


@pytest.mark.parametrize("where", ["household", "point"])
def test_outside_the_police_users_scope(client, where):
    make_user("police_county", "police", OTHER_COUNTY + "000000")
    fields = {"household_id": household_of(CELL)} if where == "household" else {"location": gcj02_point(CELL)}
    response = client.post(f"{API}/warnings", json=body(**fields), headers=auth("police_county"))
    assert response.status_code in (404, 422), response.get_data(as_text=True)
    assert sql("select count(*) from warnings").scalar() == 0


def test_police_in_scope_at_county_level(client):
    make_user("police_county", "police", COUNTY + "000000")
    warning = post_warning(client, auth("police_county"), household_id=household_of(CELL))
    assert warning["grid_code"] == CELL


def test_an_external_ref_of_another_scope_does_not_reveal_the_warning(client, police):
    first = post_warning(client, police, external_ref="POL-LEAK", household_id=household_of(CELL), phone="13812345678")
    make_user("police_county", "police", OTHER_COUNTY + "000000")
    response = client.post(f"{API}/warnings", json=body(external_ref="POL-LEAK", household_id=household_of(CELL)),
                           headers=auth("police_county"))
    assert response.status_code in (404, 409, 422), response.get_data(as_text=True)
    assert str(first["id"]) not in response.get_data(as_text=True)


def test_only_police_create(client, anonymous_client, field):
    data = body(household_id=field.household)
    assert_error(client.post(f"{API}/warnings", json=data), 403)  # the city admin
    assert_error(client.post(f"{API}/warnings", json=data, headers=field.headers), 403)
    make_user("county_admin", "county_admin", COUNTY + "000000")
    assert_error(client.post(f"{API}/warnings", json=data, headers=auth("county_admin")), 403)
    assert_error(anonymous_client.post(f"{API}/warnings", json=data), 401)
    assert sql("select count(*) from warnings").scalar() == 0


# --- events: transitions and outcomes ---

def test_acknowledge_call_meet_and_dissuade(client, police, field):
    warning = new_warning(client, police, field)
    start = ts(warning["created_at"]).replace(microsecond=0) + timedelta(seconds=1)
    ack = post_event(client, field.headers, warning["id"], "acknowledged", at=start)
    assert (ack["type"], ack["by"], ts(ack["at"])) == ("acknowledged", "gw_liaison", start)
    current = detail(client, warning["id"], field.headers)
    assert (current["status"], ts(current["acknowledged_at"])) == ("acknowledged", start)

    post_event(client, field.headers, warning["id"], "called", at=start + timedelta(seconds=30))
    assert detail(client, warning["id"])["status"] == "acknowledged"

    met_at = start + timedelta(seconds=40)
    post_event(client, field.headers, warning["id"], "met", at=met_at)
    current = detail(client, warning["id"])
    assert (current["status"], ts(current["met_at"]), current["closed_at"]) == ("met", met_at, None)

    closed_at = start + timedelta(seconds=50)
    out = post_event(client, field.headers, warning["id"], "outcome", at=closed_at, outcome="dissuaded",
                     checklist=CHECKLIST)
    assert out["outcome"] == "dissuaded"
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"], ts(current["closed_at"])) == ("closed", "dissuaded", closed_at)
    assert current["checklist"] == CHECKLIST and current["amount_yuan"] is None
    assert [e["type"] for e in current["events"]] == ["routed", "acknowledged", "called", "met", "outcome"]


def test_called_first_also_acknowledges(client, police, field):
    warning = new_warning(client, police, field, level="urgent")
    post_event(client, field.headers, warning["id"], "called")
    current = detail(client, warning["id"])
    assert current["status"] == "acknowledged" and current["acknowledged_at"] is not None
    assert current["deadline"] == current["meet_deadline"] and current["ack_deadline"] is None


def test_met_straight_from_open(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    assert detail(client, warning["id"])["status"] == "met"


def test_transferred_stores_amount_stop_payment_and_checklist(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    event = post_event(client, field.headers, warning["id"], "outcome", outcome="transferred", amount_yuan=52000.5,
                       stop_payment_requested=True, checklist=CHECKLIST)
    assert (event["amount_yuan"], event["stop_payment_requested"], event["checklist"]) == (52000.5, True, CHECKLIST)
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"], current["amount_yuan"]) == ("closed", "transferred", 52000.5)
    assert (current["stop_payment_requested"], current["checklist"]) == (True, CHECKLIST)
    row = warning_row(warning["id"])
    assert (str(row.amount_yuan), row.stop_payment_requested, row.checklist) == ("52000.50", True, CHECKLIST)
    stored = sql("select amount_yuan, stop_payment_requested, checklist, by from warning_events "
                 "where warning_id = :i and type = 'outcome'", i=warning["id"]).one()
    assert (str(stored.amount_yuan), stored.stop_payment_requested, stored.checklist, stored.by) == (
        "52000.50", True, CHECKLIST, "gw_liaison")


def test_transferred_without_amount_is_422(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    response = client.post(f"{API}/warnings/{warning['id']}/events", headers=field.headers, json={
        "id": str(uuid.uuid4()), "type": "outcome", "at": datetime.now(UTC).isoformat(), "outcome": "transferred",
        "stop_payment_requested": True})
    payload = assert_error(response, 422)
    assert "amount_yuan" in str(payload["errors"])
    assert detail(client, warning["id"])["status"] == "met"
    assert sql("select count(*) from warning_events where warning_id = :i and type = 'outcome'",
               i=warning["id"]).scalar() == 0


@pytest.mark.parametrize("fields", [
    {},  # an outcome event without an outcome
    {"outcome": "vanished"},
    {"outcome": "transferred", "amount_yuan": -5},
    {"outcome": "dissuaded", "checklist": {"password_shared": True}},
    {"outcome": "dissuaded", "checklist": {"screen_sharing": "maybe"}},
])
def test_bad_outcome_events_are_422(client, police, field, fields):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    post_event(client, field.headers, warning["id"], "outcome", 422, **fields)
    assert detail(client, warning["id"])["status"] == "met"


def test_bad_event_bodies_are_422(client, police, field):
    warning = new_warning(client, police, field)
    url = f"{API}/warnings/{warning['id']}/events"
    now = datetime.now(UTC).isoformat()
    for data in ({"id": "not-a-uuid", "type": "met", "at": now}, {"id": str(uuid.uuid4()), "type": "lunch", "at": now},
                 {"id": str(uuid.uuid4()), "type": "met", "at": "2026-01-01T10:00:00"},  # no offset
                 {"id": str(uuid.uuid4()), "type": "met"}):
        assert_error(client.post(url, json=data, headers=field.headers), 422)
    assert detail(client, warning["id"])["status"] == "open"


@pytest.mark.parametrize("outcome", ["dissuaded", "not_found", "false_alarm"])
def test_closing_outcomes(client, police, field, outcome):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    post_event(client, field.headers, warning["id"], "outcome", outcome=outcome)
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"]) == ("closed", outcome)
    assert current["closed_at"] is not None


def test_refused_needs_a_revisit_then_met_again(client, police, field):
    warning = new_warning(client, police, field)
    created = ts(warning["created_at"]).replace(microsecond=0)
    post_event(client, field.headers, warning["id"], "met", at=created + timedelta(seconds=5))
    post_event(client, field.headers, warning["id"], "outcome", outcome="refused", at=created + timedelta(seconds=10))
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"], current["closed_at"]) == ("revisit", "refused", None)

    post_event(client, field.headers, warning["id"], "outcome", 409, outcome="dissuaded")  # not met again yet
    post_event(client, field.headers, warning["id"], "called", at=created + timedelta(seconds=15))
    assert detail(client, warning["id"])["status"] == "revisit"
    met_again = created + timedelta(seconds=20)
    post_event(client, field.headers, warning["id"], "met", at=met_again)
    current = detail(client, warning["id"])
    assert (current["status"], ts(current["met_at"])) == ("met", met_again)
    post_event(client, field.headers, warning["id"], "outcome", outcome="not_found", at=created + timedelta(seconds=25))
    current = detail(client, warning["id"])
    assert (current["status"], current["outcome"]) == ("closed", "not_found")
    assert [e["type"] for e in current["events"]] == ["routed", "met", "outcome", "called", "met", "outcome"]


ILLEGAL = [
    ([], "outcome"),  # outcome before met
    (["acknowledged"], "outcome"),  # dissuaded needs a meeting (false_alarm would do: test_warnings_field.py)
    (["acknowledged"], "acknowledged"),  # acknowledged twice
    (["met"], "acknowledged"),
    (["met"], "met"),
    (["met"], "called"),
    (["met", "outcome"], "met"),  # met after closed
    (["met", "outcome"], "called"),
    (["met", "outcome"], "outcome"),
    (["met", "refused"], "acknowledged"),
]


@pytest.mark.parametrize("steps, illegal", ILLEGAL)
def test_illegal_transitions_are_409(client, police, field, steps, illegal):
    warning = new_warning(client, police, field)
    for step in steps:
        if step == "outcome":
            post_event(client, field.headers, warning["id"], "outcome", outcome="dissuaded")
        elif step == "refused":
            post_event(client, field.headers, warning["id"], "outcome", outcome="refused")
        else:
            post_event(client, field.headers, warning["id"], step)
    before = detail(client, warning["id"])
    response = client.post(f"{API}/warnings/{warning['id']}/events", headers=field.headers, json={
        "id": str(uuid.uuid4()), "type": illegal, "at": datetime.now(UTC).isoformat(), "outcome": "dissuaded"})
    assert_error(response, 409, rule="illegal_transition")
    after = detail(client, warning["id"])
    assert after == before


def test_a_retry_is_200_and_the_same_id_with_other_content_409(client, police, field):
    warning = new_warning(client, police, field)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    event_id = str(uuid.uuid4())
    first = post_event(client, field.headers, warning["id"], "acknowledged", event_id=event_id, at=at)
    again = post_event(client, field.headers, warning["id"], "acknowledged", 200, event_id=event_id, at=at)
    assert again == first
    # Still a retry after the warning moved on.
    post_event(client, field.headers, warning["id"], "met")
    assert post_event(client, field.headers, warning["id"], "acknowledged", 200, event_id=event_id, at=at) == first

    response = client.post(f"{API}/warnings/{warning['id']}/events", headers=field.headers, json={
        "id": event_id, "type": "acknowledged", "at": (at + timedelta(minutes=1)).isoformat()})
    assert_error(response, 409, rule="event_conflict")
    assert sql("select count(*) from warning_events where id = cast(:e as uuid)", e=event_id).scalar() == 1


def test_an_outcome_retry_is_200(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "met")
    event_id, at = str(uuid.uuid4()), datetime.now(UTC)
    fields = {"outcome": "transferred", "amount_yuan": 300.0, "stop_payment_requested": False, "checklist": CHECKLIST}
    first = post_event(client, field.headers, warning["id"], "outcome", event_id=event_id, at=at, **fields)
    assert post_event(client, field.headers, warning["id"], "outcome", 200, event_id=event_id, at=at,
                      **fields) == first
    other = dict(fields, amount_yuan=301.0)
    post_event(client, field.headers, warning["id"], "outcome", 409, event_id=event_id, at=at, **other)
    assert detail(client, warning["id"])["amount_yuan"] == 300.0


def test_an_event_id_is_a_key_per_warning(client, police, field):
    """The same id on another warning is that warning's own event (ids are keys of retries per warning,
    so one recorded on a warning the caller cannot see answers like a new one)."""
    one, two = new_warning(client, police, field), new_warning(client, police, field)
    event_id, at = str(uuid.uuid4()), datetime.now(UTC)
    first = post_event(client, field.headers, one["id"], "acknowledged", event_id=event_id, at=at)
    second = post_event(client, field.headers, two["id"], "acknowledged", 201, event_id=event_id, at=at)
    assert first == second
    assert detail(client, one["id"])["status"] == detail(client, two["id"])["status"] == "acknowledged"
    assert sql("select count(*) from warning_events where id = :e", e=event_id).scalar() == 2


# --- the meeting is a visit ---

def test_met_counts_as_a_completed_visit_of_the_household(client, police, field):
    warning = new_warning(client, police, field)
    assert visits_of(field.household) == []
    event_id, at = str(uuid.uuid4()), datetime.now(UTC) - timedelta(minutes=20)
    post_event(client, field.headers, warning["id"], "met", event_id=event_id, at=at)
    visits = visits_of(field.household)
    assert [(v.member_id, v.outcome, v.grid_code, v.username) for v in visits] == [
        (field.member, "completed", CELL, "gw_liaison")]
    visited_at = sql("select visited_at from visits where household_id = :h", h=field.household).scalar_one()
    assert visited_at == at
    post_event(client, field.headers, warning["id"], "met", 200, event_id=event_id, at=at)  # a retry
    assert len(visits_of(field.household)) == 1


def test_acknowledging_or_calling_is_not_a_visit(client, police, field):
    warning = new_warning(client, police, field)
    post_event(client, field.headers, warning["id"], "acknowledged")
    post_event(client, field.headers, warning["id"], "called")
    assert visits_of(field.household) == []


def test_each_meeting_of_a_revisit_counts_as_a_visit(client, police, field):
    warning = new_warning(client, police, field)
    created = ts(warning["created_at"]).replace(microsecond=0)
    post_event(client, field.headers, warning["id"], "met", at=created + timedelta(seconds=5))
    post_event(client, field.headers, warning["id"], "outcome", outcome="refused", at=created + timedelta(seconds=10))
    post_event(client, field.headers, warning["id"], "met", at=created + timedelta(seconds=50))
    assert detail(client, warning["id"])["status"] == "met"
    assert len(visits_of(field.household)) == 2


# --- what each one sees ---

def test_a_grid_worker_sees_only_their_own_warnings(client, police, anonymous_client):
    first, second = free_members(VILLAGE, 2)
    assign(client, first, CELL, "liaison")
    assign(client, second, CELL, "liaison")
    make_user("gw_first", "grid_worker", VILLAGE, first)
    make_user("gw_second", "grid_worker", VILLAGE, second)
    mine = post_warning(client, police, household_id=household_of(CELL))
    theirs = post_warning(client, police, household_id=household_of(CELL))
    assert (mine["assigned_member_id"], theirs["assigned_member_id"]) == (first, second)
    headers = auth("gw_first")

    listed = client.get(f"{API}/me/warnings", headers=headers)
    assert listed.status_code == 200 and [w["id"] for w in listed.get_json()] == [mine["id"]]
    assert detail(client, mine["id"], headers)["id"] == mine["id"]
    assert_error(client.get(f"{API}/warnings/{theirs['id']}", headers=headers), 404)
    response = client.post(f"{API}/warnings/{theirs['id']}/events", headers=headers, json={
        "id": str(uuid.uuid4()), "type": "acknowledged", "at": datetime.now(UTC).isoformat()})
    assert_error(response, 404)
    assert detail(client, theirs["id"])["status"] == "open"
    assert_error(client.get(f"{API}/warnings", headers=headers), 403)  # the supervisors' list
    assert_error(client.get(f"{API}/warnings/summary", headers=headers), 403)
    assert_error(client.get(f"{API}/me/warnings"), 403)  # an admin has no warnings of their own
    assert_error(anonymous_client.get(f"{API}/me/warnings"), 401)


def test_a_member_embedded_in_another_village_sees_and_acts_on_their_warnings(client, police):
    member = free_members(VILLAGE_3, 1)[0]
    assign(client, member, CELL, "liaison")
    make_user("gw_away", "grid_worker", VILLAGE_3, member)
    headers = auth("gw_away")
    worklist = client.get(f"{API}/me/worklist", headers=headers)
    assert CELL in [cell["code"] for cell in worklist.get_json()["cells"]]
    warning = post_warning(client, police, household_id=household_of(CELL))
    assert warning["assigned_member_id"] == member
    listed = client.get(f"{API}/me/warnings", headers=headers)
    assert [w["id"] for w in listed.get_json()] == [warning["id"]]
    post_event(client, headers, warning["id"], "acknowledged")


def test_my_warnings_open_first_by_deadline(client, police, field):
    low = new_warning(client, police, field, level="low")
    closed = new_warning(client, police, field, level="urgent")
    high = new_warning(client, police, field, level="high")
    urgent = new_warning(client, police, field, level="urgent")
    post_event(client, field.headers, closed["id"], "met")
    post_event(client, field.headers, closed["id"], "outcome", outcome="false_alarm")
    met = new_warning(client, police, field, level="medium")
    post_event(client, field.headers, met["id"], "met")
    response = client.get(f"{API}/me/warnings", headers=field.headers)
    assert response.status_code == 200
    assert [w["id"] for w in response.get_json()] == [urgent["id"], high["id"], met["id"], low["id"], closed["id"]]


def test_supervisors_list_filters(client, police, field):
    high = new_warning(client, police, field, level="high")
    low = new_warning(client, police, field, level="low")
    acked = new_warning(client, police, field, level="medium")
    post_event(client, field.headers, acked["id"], "acknowledged")
    closed = new_warning(client, police, field, level="low")
    post_event(client, field.headers, closed["id"], "met")
    post_event(client, field.headers, closed["id"], "outcome", outcome="dissuaded")
    elsewhere = post_warning(client, police, household_id=household_of("610981100005-01-03"))
    past = datetime.now(UTC) - timedelta(minutes=1)
    sql_change("update warnings set deadline = :d where id = any(:ids)", d=past, ids=[low["id"], closed["id"]])

    def ids(headers=None, **query) -> list[int]:
        response = client.get(f"{API}/warnings", query_string=query, headers=headers or {})
        assert response.status_code == 200, response.get_data(as_text=True)
        return [w["id"] for w in response.get_json()]

    everything = {high["id"], low["id"], acked["id"], closed["id"], elsewhere["id"]}
    assert set(ids()) == everything
    assert ids()[-1] == closed["id"]  # closed ones last
    assert set(ids(region=VILLAGE)) == everything - {elsewhere["id"]}
    assert ids(region=VILLAGE_2) == [elsewhere["id"]]
    assert ids(status="acknowledged") == [acked["id"]]
    assert ids(status="closed") == [closed["id"]]
    assert sorted(ids(level="low")) == sorted([low["id"], closed["id"]])
    assert ids(overdue="true") == [low["id"]]  # past its deadline and not closed
    assert ids(overdue="true", level="high") == []
    assert set(ids(overdue="false")) == everything
    assert set(ids(police)) == everything  # police supervise too
    for query in ({"status": "lost"}, {"level": "critical"}, {"region": "6109"}, {"overdue": "perhaps"}):
        assert_error(client.get(f"{API}/warnings", query_string=query), 422)
    assert_error(client.get(f"{API}/warnings", query_string={"region": "610981100099"}), 404)


def test_supervisors_scope(client, police, field):
    warning = new_warning(client, police, field)
    make_user("other_admin", "county_admin", OTHER_COUNTY + "000000")
    other = auth("other_admin")
    response = client.get(f"{API}/warnings", headers=other)
    assert response.status_code == 200 and response.get_json() == []
    assert_error(client.get(f"{API}/warnings/{warning['id']}", headers=other), 404)
    assert_error(client.get(f"{API}/warnings", query_string={"region": VILLAGE}, headers=other), 404)
    response = client.post(f"{API}/warnings/{warning['id']}/events", headers=other, json={
        "id": str(uuid.uuid4()), "type": "acknowledged", "at": datetime.now(UTC).isoformat()})
    assert_error(response, 404)
    assert_error(client.get(f"{API}/warnings/summary", query_string={"region": TOWNSHIP}, headers=other), 404)

    make_user("township_sup", "township_supervisor", TOWNSHIP)
    own = auth("township_sup")
    assert [w["id"] for w in client.get(f"{API}/warnings", headers=own).get_json()] == [warning["id"]]
    assert detail(client, warning["id"], own)["id"] == warning["id"]
    make_user("reviewer", "reviewer", TOWNSHIP)
    assert_error(client.get(f"{API}/warnings", headers=auth("reviewer")), 403)
    assert_error(client.get(f"{API}/warnings/{warning['id']}", headers=auth("reviewer")), 403)


def test_detail_has_events_routed_and_notified_for_urgent(client, police, field):
    warning = new_warning(client, police, field, level="urgent")
    current = detail(client, warning["id"])
    assert set(current) == WARNING_FIELDS | {"events", "task_force"}
    assert current["task_force"] is None  # still with the member
    events = sorted(current["events"], key=lambda e: e["type"])
    assert [(e["type"], e["escalated_to"], e["by"]) for e in events] == [
        ("notified", "township", "routing"), ("routed", None, "routing")]
    assert all(ts(e["at"]) == ts(current["created_at"]) for e in events)
    assert all(ts(e["deadline"]) == ts(current["ack_deadline"]) for e in events)

    non_urgent = new_warning(client, police, field, level="medium")
    assert [e["type"] for e in detail(client, non_urgent["id"])["events"]] == ["routed"]
    assert_error(client.get(f"{API}/warnings/99999999"), 404)


# --- summary ---

def test_summary_per_child_region_matches_sql(client, police, field):
    t0 = (datetime.now(UTC) - timedelta(hours=6)).replace(microsecond=0)
    cell_2 = "610981100005-01-03"

    def make(level: str, household: int, now: datetime = t0) -> int:
        [(warning, _)] = create_warnings([{"external_ref": f"S-{uuid.uuid4().hex[:12]}", "level": level,
                                           "reason": "investment", "household_id": household}], "test", now=now)
        return warning.id

    def events(warning_id: int, met_after: int | None, outcome: str | None = None, **fields) -> None:
        if met_after is not None:
            post_event(client, {}, warning_id, "met", at=t0 + timedelta(minutes=met_after))
        if outcome is not None:
            post_event(client, {}, warning_id, "outcome", at=t0 + timedelta(minutes=met_after + 5), outcome=outcome,
                       **fields)

    home, home_2 = field.household, household_of(cell_2)
    events(make("high", home), 30, "dissuaded")
    events(make("high", home), 150, "transferred", amount_yuan=1000.5)  # late: the meeting was due at 120
    events(make("high", home), 60, "refused")
    events(make("medium", home), None)
    events(make("urgent", home_2), 10, "false_alarm")
    events(make("urgent", home_2), 45, "transferred", amount_yuan=200)  # late: due at 30
    events(make("low", home_2), None)
    make("high", home, now=t0 - timedelta(days=40))  # outside the period

    start_day = t0.astimezone(LOCAL).date()
    end_day = datetime.now(LOCAL).date()
    response = client.get(f"{API}/warnings/summary", query_string={
        "region": TOWNSHIP, "from": start_day.isoformat(), "to": end_day.isoformat()})
    assert response.status_code == 200, response.get_data(as_text=True)
    summary = response.get_json()
    assert (summary["code"], summary["from"], summary["to"]) == (TOWNSHIP, start_day.isoformat(), end_day.isoformat())
    rows = {row["code"]: row for row in summary["children"]}
    assert sorted(rows) == [VILLAGE, VILLAGE_2, VILLAGE_3]

    start = datetime.combine(start_day, datetime.min.time(), LOCAL)
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), LOCAL)
    stored = sql("select village_code, created_at, met_at, meet_deadline, outcome, amount_yuan from warnings "
                 "where created_at >= :s and created_at < :e", s=start, e=end).all()
    for code, row in rows.items():
        mine = [w for w in stored if w.village_code == code]
        met = [w for w in mine if w.met_at is not None]
        minutes = [(w.met_at - w.created_at).total_seconds() / 60 for w in met]
        expected = {
            "warnings": len(mine), "met": len(met), "met_on_time": sum(w.met_at <= w.meet_deadline for w in met),
            "dissuaded": sum(w.outcome == "dissuaded" for w in mine),
            "transferred": sum(w.outcome == "transferred" for w in mine),
            "amount_transferred_yuan": float(sum(w.amount_yuan for w in mine if w.outcome == "transferred") or 0),
            "median_minutes_to_meet": round(statistics.median(minutes), 1) if minutes else None,
        }
        assert {k: row[k] for k in expected} == expected, code

    # The same figures, spelled out.
    assert {k: rows[VILLAGE][k] for k in ("warnings", "met", "met_on_time", "dissuaded", "transferred")} == {
        "warnings": 4, "met": 3, "met_on_time": 2, "dissuaded": 1, "transferred": 1}
    assert (rows[VILLAGE]["amount_transferred_yuan"], rows[VILLAGE]["median_minutes_to_meet"]) == (1000.5, 60.0)
    assert (rows[VILLAGE_2]["warnings"], rows[VILLAGE_2]["met_on_time"], rows[VILLAGE_2]["median_minutes_to_meet"],
            rows[VILLAGE_2]["amount_transferred_yuan"]) == (3, 1, 27.5, 200.0)
    assert (rows[VILLAGE_3]["warnings"], rows[VILLAGE_3]["median_minutes_to_meet"]) == (0, None)

    # Rolled up a level: the county row of the city summary; the county's own township.
    city = client.get(f"{API}/warnings/summary", query_string={"from": start_day.isoformat(),
                                                              "to": end_day.isoformat()}).get_json()
    county_row = next(row for row in city["children"] if row["code"] == COUNTY + "000000")
    assert (county_row["warnings"], county_row["met"], county_row["transferred"]) == (7, 5, 2)
    assert county_row["amount_transferred_yuan"] == 1200.5
    assert all(row["warnings"] == 0 for row in city["children"] if row["code"] != COUNTY + "000000")
    county = client.get(f"{API}/warnings/summary", query_string={
        "region": COUNTY + "000000", "from": start_day.isoformat(), "to": end_day.isoformat()}, headers=police)
    assert [(r["code"], r["warnings"]) for r in county.get_json()["children"]] == [(TOWNSHIP, 7)]


def test_summary_period_and_errors(client):
    today = datetime.now(LOCAL).date()
    response = client.get(f"{API}/warnings/summary", query_string={"region": TOWNSHIP})
    assert response.status_code == 200
    payload = response.get_json()
    assert (payload["from"], payload["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert all(row["warnings"] == 0 and row["median_minutes_to_meet"] is None for row in payload["children"])
    later = (today + timedelta(days=1)).isoformat()
    assert_error(client.get(f"{API}/warnings/summary", query_string={"from": later, "to": today.isoformat()}), 422)
    assert_error(client.get(f"{API}/warnings/summary", query_string={"region": "610981100099"}), 404)
    assert_error(client.get(f"{API}/warnings/summary", query_string={"from": "yesterday"}), 422)
    assert isinstance(date.fromisoformat(payload["to"]), date)


def test_a_reference_taken_in_another_scope_answers_exactly_as_an_unknown_one(client, police):
    post_warning(client, police, external_ref="POL-TAKEN", household_id=household_of(CELL))
    make_user("police_county", "police", OTHER_COUNTY + "000000")
    headers = auth("police_county")
    # A household outside the caller's scope: the same 422, taken or unknown reference.
    answers = [client.post(f"{API}/warnings", json=body(external_ref=ref, household_id=household_of(CELL)),
                           headers=headers) for ref in ("POL-TAKEN", "POL-NEVER-USED")]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].get_json() == answers[1].get_json()
    # A household of the caller's own scope: created, as for an unknown reference.
    own = sql("select min(id) from households where village_code like :p", p=OTHER_COUNTY + "%").scalar()
    created = client.post(f"{API}/warnings", json=body(external_ref="POL-TAKEN", household_id=own), headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["village_code"].startswith(OTHER_COUNTY)


def test_an_event_id_recorded_on_another_scopes_warning_answers_exactly_as_an_unknown_one(client, police, field):
    taken = str(uuid.uuid4())
    post_event(client, field.headers, new_warning(client, police, field)["id"], "acknowledged", event_id=taken)
    # A liaison of another village, who cannot see the first warning, with two warnings of their own.
    cell = f"{VILLAGE_2}-01-01"
    member = free_members(VILLAGE_2, 1)[0]
    assign(client, member, cell, "liaison")
    make_user("gw_other", "grid_worker", VILLAGE_2, member)
    headers = auth("gw_other")
    first, second = (post_warning(client, police, household_id=household_of(cell)) for _ in range(2))
    assert first["assigned_member_id"] == second["assigned_member_id"] == member
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    answers = [client.post(f"{API}/warnings/{warning['id']}/events", headers=headers,
                           json={"id": event_id, "type": "acknowledged", "at": at.isoformat()})
               for warning, event_id in ((first, taken), (second, str(uuid.uuid4())))]
    assert [a.status_code for a in answers] == [201, 201], answers[0].get_data(as_text=True)
    assert answers[0].get_json()["id"] == taken
    assert {k: v for k, v in answers[0].get_json().items() if k != "id"} == \
        {k: v for k, v in answers[1].get_json().items() if k != "id"}
    assert detail(client, first["id"])["status"] == "acknowledged"
    # On its own warning the id is still the key of retries.
    again = client.post(f"{API}/warnings/{first['id']}/events", headers=headers,
                        json={"id": taken, "type": "acknowledged", "at": at.isoformat()})
    assert again.status_code == 200 and again.get_json() == answers[0].get_json()
