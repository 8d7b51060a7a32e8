"""The four-level warning task forces: the seeded figures, the list, and where an escalated warning sits."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from outreach.certification.seed import seed_cases_and_certifications
from outreach.warnings.seed import ROLES, seed_task_forces
from outreach.warnings.services import create_warnings, escalate
from tests.helpers import assert_error, auth, make_user, pagination, sql

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CELL = "610902107001-01-01"  # in 恒口镇, which 恒口示范区 runs


def test_at_full_scale_the_article_figures_add_up():
    # 1 city, 12 county-level units, 139 townships, 1,924 villages (2023 codes): 2,076 task forces.
    forces = {"city": 1, "county": 12, "township": 139, "village": 1924}
    assert sum(forces.values()) == 2076
    assert sum(n * len(ROLES[level]) for level, n in forces.items()) == 8430


def test_seeded_task_forces_one_per_region_with_people(client):
    figures = seed_task_forces()
    regions = sql("select count(*) from regions").scalar()
    assert figures["task_forces"] == regions == 1 + 12 + 12 + 38
    assert figures["people"] == 34 + 12 * 12 + 12 * 4 + 38 * 4
    # A village's force has its secretary, a cadre and a grid worker from the embedded members.
    linked = sql("""select count(*) from task_force_people p join task_forces f on f.id = p.task_force_id
                    join members m on m.id = p.member_id
                    where f.level = 'village' and m.village_code = f.region_code""").scalar()
    embedded = sql("""select count(*) from (select distinct village_code, kind from members
                      where kind in ('village_secretary', 'village_cadre', 'grid_worker')) k""").scalar()
    assert linked == embedded >= 38 * 2  # every village has a secretary and cadres; most a grid worker
    response = client.get("/api/v1/warnings/task-forces?level=village&page_size=100")
    assert response.status_code == 200 and pagination(response)["total"] == 38
    first = response.get_json()[0]
    assert first["name"].endswith("预警处置专班") and len(first["people"]) == 4
    assert {p["role"] for p in first["people"]} == set(ROLES["village"])
    zone = client.get("/api/v1/warnings/task-forces?region=610972000000").get_json()
    assert [f["region_code"] for f in zone] == ["610972000000"]
    assert client.get("/api/v1/warnings/task-forces?level=mayor").status_code == 422


def test_an_escalated_warning_names_its_task_force(client):
    seed_task_forces()
    home = sql("select min(id) from households where grid_code = :g", g=CELL).scalar_one()
    [(warning, _)] = create_warnings([{"external_ref": f"E-{uuid.uuid4().hex[:12]}", "level": "high",
                                       "reason": "investment", "household_id": home}], "test", now=T0)
    detail = client.get(f"/api/v1/warnings/{warning.id}").get_json()
    assert detail["escalation"] == "member" and detail["task_force"] is None
    expected = ["610902107000", "610972000000", "610900000000"]  # the county-level step is the zone's
    moment = T0
    for region in expected:
        moment += timedelta(days=2)
        escalate(moment)
        detail = client.get(f"/api/v1/warnings/{warning.id}").get_json()
        assert detail["task_force"]["region_code"] == region


def test_cases_and_certifications_reproduce_the_article_shares():
    figures = seed_cases_and_certifications()
    assert figures["villages"] == 38 and figures["case_free"] == round(38 * 1433 / 1924) == 28
    assert figures["certified"] == round(38 * 0.715) and figures["certified"] / 38 > 0.7
    first_half_free = sql("""
        select count(*) from regions r where level = 'village' and not exists (
            select 1 from cases c where c.village_code = r.code
              and c.occurred_on between make_date(extract(year from current_date)::int, 1, 1)
                                    and make_date(extract(year from current_date)::int, 6, 30))""").scalar()
    assert first_half_free == 28
    assert sql("""select count(*) from certifications c where exists (
                    select 1 from cases k where k.village_code = c.village_code)""").scalar() == 0


# --- people, and whom an escalation tells ---

def seat(client, force: str, headers: dict | None = None, **body):
    """POST a person onto the task force of a region; the response."""
    force_id = sql("select id from task_forces where region_code = :r", r=force).scalar_one()
    return client.post(f"/api/v1/warnings/task-forces/{force_id}/people", json=body, headers=headers or {})


def told(warning_id: int, level: int) -> list[tuple]:
    """(username or None, member id when told by text alone, channels) of each notification of a step."""
    rows = sql("""select u.username, case when n.user_id is null then n.member_id end,
                         array(select d.channel from notification_deliveries d where d.notification_id = n.id
                               order by d.channel)
                  from notifications n left join users u on u.id = n.user_id
                  where n.kind = 'warning_escalated' and n.cause = :cause order by 1""",
               cause=f"warning:{warning_id}:escalated:{level}").all()
    return [tuple(row) for row in rows]


def test_an_escalation_tells_the_people_of_the_new_levels_task_force(client):
    seed_task_forces()
    township, zone, county = "610902107000", "610972000000", "610902000000"
    make_user("tf_supervisor", "township_supervisor", township)   # ex officio, and seated: told once
    make_user("tf_police", "police", township)                    # seated through an account
    make_user("tf_zone", "reviewer", township)                    # on the zone's force (it reads 恒口镇)
    make_user("tf_hanbin", "reviewer", county)                    # on 汉滨区's force: not the zone's step
    make_user("tf_county", "county_admin", county)                # ex officio at the county step
    member_with_account, member_by_text = sql(
        "select id from members where village_code like '610902107%' order by id limit 2").scalars()
    make_user("tf_member", "grid_worker", sql("select village_code from members where id = :m",
                                              m=member_with_account).scalar(), member_with_account)
    for force, body in ((township, {"name": "镇长", "role": "official", "username": "tf_supervisor"}),
                        (township, {"name": "派出所", "role": "police", "username": "tf_police"}),
                        (township, {"role": "grid_worker", "member_id": member_with_account}),
                        (township, {"role": "village_cadre", "member_id": member_by_text}),
                        (zone, {"name": "示范区", "role": "official", "username": "tf_zone"}),
                        (county, {"name": "汉滨", "role": "official", "username": "tf_hanbin"})):
        response = seat(client, force, **body)
        assert response.status_code == 201, response.get_json()
    home = sql("select min(id) from households where grid_code = :g", g=CELL).scalar_one()
    [(warning, _)] = create_warnings([{"external_ref": f"E-{uuid.uuid4().hex[:12]}", "level": "high",
                                       "reason": "investment", "household_id": home}], "test", now=T0)
    escalate(T0 + timedelta(days=2))
    assert told(warning.id, 1) == [
        ("tf_member", None, ["in_app", "sms"]),       # an account of a member with a phone: also by text
        ("tf_police", None, ["in_app"]),
        ("tf_supervisor", None, ["in_app"]),
        (None, member_by_text, ["sms"]),              # a member without an account: by text alone
    ]
    escalate(T0 + timedelta(days=4))
    assert told(warning.id, 2) == [("tf_county", None, ["in_app"]), ("tf_zone", None, ["in_app"])]
    assert client.get(f"/api/v1/warnings/{warning.id}").get_json()["task_force"]["region_code"] == zone
    escalate(T0 + timedelta(days=6))
    assert told(warning.id, 3) == [("admin", None, ["in_app"])]  # the city admin, ex officio


def test_seating_people_checks_the_member_the_account_and_the_scope(client):
    seed_task_forces()
    township = "610902107000"
    make_user("tf_other", "county_admin", "610921000000")  # another county's account
    make_user("tf_ts", "township_supervisor", township)
    make_user("tf_ts_other", "township_supervisor", "610902001000")
    foreign_member = sql("select min(id) from members where village_code like '610921%'").scalar()
    assert_error(seat(client, township, role="mayor", name="x"), 422, "role")
    assert_error(seat(client, township, role="official"), 422, "name")
    assert_error(seat(client, township, role="official", member_id=foreign_member), 422, "member_id")
    assert_error(seat(client, township, role="official", name="x", username="tf_other"), 422, "username")
    assert_error(seat(client, township, role="official", name="x", username="nobody"), 422, "username")
    # Another township's supervisor does not see this force: exactly like an unknown one.
    assert_error(seat(client, township, auth("tf_ts_other"), role="official", name="x"), 404)
    assert_error(client.post("/api/v1/warnings/task-forces/99999999/people", json={"role": "official", "name": "x"},
                             headers=auth("tf_ts_other")), 404)
    assert sql("select count(*) from task_force_people p join task_forces f on f.id = p.task_force_id "
               "where f.region_code = :t", t=township).scalar() == 4  # nothing was added

    response = seat(client, township, auth("tf_ts"), role="official", name="x", username="tf_ts")
    assert response.status_code == 201
    person = response.get_json()
    assert person["user_id"] is not None and person["name"] == "x"
    assert_error(seat(client, township, role="police", name="y", username="tf_ts"), 409)  # one seat per account
    force_id = sql("select id from task_forces where region_code = :t", t=township).scalar_one()
    listed = client.get(f"/api/v1/warnings/task-forces?region={township}&level=township").get_json()
    assert person in listed[0]["people"]
    entry = client.get("/api/v1/audit?page_size=1000").get_json()
    assert any(e["action"] == "task_force.person_add" and e["object_id"] == str(force_id) for e in entry)
    url = f"/api/v1/warnings/task-forces/{force_id}/people/{person['id']}"
    assert client.delete(url, headers=auth("tf_ts")).status_code == 204
    assert_error(client.delete(url, headers=auth("tf_ts")), 404)
