"""Visit review and the implausible-pace flag: a supervisor in scope confirms or voids a visit; a voided
visit leaves coverage (every rollup, in the same transaction) and stays in history, audited; the
certification evaluation ignores it; a member's visits through the night or past a day's plausible
number are flagged (thresholds from the configuration)."""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import pytest

from core.clock import LOCAL, today
from outreach.coverage import services as coverage_services
from tests.helpers import assert_error, auth, chief_visits, make_user, sql

API = "/api/v1"
VILLAGE = "610981100005"
TOWNSHIP = "610981100000"
COUNTY = "610981000000"
OTHER_TOWNSHIP = "610922100000"
ROLLUPS = ("grid_day_counts", "village_day_counts", "grid_coverage", "household_visit_days", "household_coverage",
           "last_completed_counts", "household_visit_months", "village_month_counts", "village_app_counts")


def households(n: int, village: str = VILLAGE) -> list[int]:
    return list(sql("select id from households where village_code = :v and removed_at is null order by id limit :n",
                    v=village, n=n).scalars())


def coverage_row(client, region: str = TOWNSHIP, code: str = VILLAGE, days: int = 30) -> dict:
    start = today() - timedelta(days=days - 1)
    rows = client.get(f"{API}/coverage?region={region}&from={start}&to={today()}").get_json()
    return next(r for r in rows if r["code"] == code)


def snapshot(village: str = VILLAGE) -> dict[str, list]:
    """Every rollup row of a village, for comparing two states."""
    like = village + "%"
    return {
        "grid_day_counts": sql("select grid_code, day, visits, completed, flagged from grid_day_counts "
                               "where grid_code like :l and visits > 0 order by 1, 2", l=like).all(),
        "village_day_counts": sql("select day, visits, completed, flagged from village_day_counts "
                                  "where village_code = :v and visits > 0 order by 1", v=village).all(),
        "grid_coverage": sql("select grid_code, last_visit_at, last_completed_on, app_installed from grid_coverage "
                             "where village_code = :v and last_visit_at is not null order by 1", v=village).all(),
        "household_visit_days": sql("select household_id, day, previous_day from household_visit_days "
                                    "where grid_code like :l order by 1, 2", l=like).all(),
        "household_coverage": sql("select household_id, last_visit_at, last_completed_on, app_installed "
                                  "from household_coverage where grid_code like :l and last_visit_at is not null "
                                  "order by 1", l=like).all(),
        "last_completed_counts": sql("select day, households, vulnerable from last_completed_counts "
                                     "where village_code = :v and households <> 0 order by 1", v=village).all(),
        "household_visit_months": sql("select household_id, month, vulnerable from household_visit_months "
                                      "where village_code = :v order by 1, 2", v=village).all(),
        "village_month_counts": sql("select month, households, vulnerable, visits, flagged from village_month_counts "
                                    "where village_code = :v and (visits <> 0 or households <> 0) order by 1",
                                    v=village).all(),
        "village_app_counts": sql("select app_installed from village_app_counts where village_code = :v "
                                  "and app_installed <> 0", v=village).all(),
    }


def review(client, visit_id: str, decision: str = "voided", reason: str = "mocked location", headers=None):
    return client.post(f"{API}/visits/{visit_id}/review", json={"decision": decision, "reason": reason},
                       headers=headers)


def supervisor(name: str = "ts", role: str = "township_supervisor", scope: str = TOWNSHIP) -> dict:
    make_user(name, role, scope)
    return auth(name)


def at(days_ago: int, hour: int = 10) -> datetime:
    return datetime.combine(today() - timedelta(days=days_ago), time(hour), LOCAL)


# --- review ---

def test_a_voided_visit_lowers_the_villages_coverage_by_exactly_its_household(client):
    [first, second, third] = households(3)
    chief_visits([first, second], at(3), gap=timedelta(minutes=15))
    [target] = chief_visits([third], at(2), mocked=True)
    before = coverage_row(client)
    response = review(client, target, headers=supervisor())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["review"] == "voided" and body["reviewed_by"] == "ts"
    after = coverage_row(client)
    assert after["households_visited"] == before["households_visited"] - 1
    assert after["visits"] == before["visits"] - 1 and after["flagged_visits"] == before["flagged_visits"] - 1
    assert after["households"] == before["households"]
    # The same figures over a period ending before today (the exact path through the visit days).
    past = coverage_services.rows_under(VILLAGE, "village", today() - timedelta(days=10), today() - timedelta(days=1))
    assert past[0]["households_visited"] == 2


def test_voiding_leaves_the_rollups_as_if_the_visit_had_never_been_synced(client):
    ids = households(4)
    chief_visits(ids[:2], at(5), gap=timedelta(minutes=15), app=True)
    chief_visits(ids[1:3], at(3), gap=timedelta(minutes=15))
    before = snapshot()
    # The household's latest visit (app now "not installed"), and a first visit to a fresh household.
    voided = chief_visits([ids[1], ids[3]], at(1), app=False, mocked=True, gap=timedelta(minutes=20))
    assert snapshot() != before
    headers = supervisor()
    for visit_id in voided:
        assert review(client, visit_id, headers=headers).status_code == 200
    assert snapshot() == before
    # Both stay in the history, marked.
    rows = sql("select review, reviewed_by from visits where id = any(cast(:ids as uuid[]))", ids=voided).all()
    assert rows == [("voided", "ts"), ("voided", "ts")]


def test_a_review_is_kept_listed_and_audited(client):
    [visit_id] = chief_visits(households(1), at(2), mocked=True)
    headers = supervisor()
    confirmed = review(client, visit_id, "confirmed", "called the household: the visit happened", headers)
    assert confirmed.status_code == 200 and confirmed.get_json()["review"] == "confirmed"
    assert coverage_row(client)["households_visited"] >= 1
    assert_error(review(client, visit_id, "confirmed", "again", headers), 409, rule="already_confirmed")
    voided = review(client, visit_id, "voided", "the phone was found to mock its location", headers)
    assert voided.status_code == 200
    assert_error(review(client, visit_id, "confirmed", "undo", headers), 409, rule="already_voided")
    assert_error(review(client, visit_id, "voided", "twice", headers), 409, rule="already_voided")
    body = client.get(f"{API}/visits/{visit_id}", headers=headers).get_json()
    assert body["review"] == "voided" and [r["decision"] for r in body["reviews"]] == ["confirmed", "voided"]
    assert body["reviews"][1]["reason"] == "the phone was found to mock its location"
    listed = client.get(f"{API}/visits?region={VILLAGE}&review=voided", headers=headers).get_json()
    assert [v["id"] for v in listed] == [visit_id]
    assert client.get(f"{API}/visits?region={VILLAGE}&review=none", headers=headers).get_json() == []
    entries = sql("select actor, details->>'decision', comment from audit_log where action = 'visit.review' "
                  "and object_id = :id order by id", id=visit_id).all()
    assert [(e[0], e[1]) for e in entries] == [("ts", "confirmed"), ("ts", "voided")]


@pytest.mark.parametrize("role,scope", [("village_admin", VILLAGE), ("reviewer", COUNTY), ("police", COUNTY)])
def test_only_supervisors_review(client, role, scope):
    [visit_id] = chief_visits(households(1), at(2))
    assert_error(review(client, visit_id, headers=supervisor("x", role, scope)), 403)
    assert sql("select review from visits where id = cast(:id as uuid)", id=visit_id).scalar() is None


def test_a_supervisor_outside_the_scope_gets_404(client):
    [visit_id] = chief_visits(households(1), at(2))
    assert_error(review(client, visit_id, headers=supervisor("other", "township_supervisor", OTHER_TOWNSHIP)), 404)
    assert_error(review(client, str(uuid.uuid4()), headers=supervisor()), 404)
    assert review(client, visit_id, headers=supervisor("ca", "county_admin", COUNTY)).status_code == 200


@pytest.mark.parametrize("body,field", [({"decision": "deleted", "reason": "x"}, "decision"),
                                        ({"decision": "voided"}, "reason"),
                                        ({"decision": "voided", "reason": ""}, "reason")])
def test_bad_reviews_are_422_and_change_nothing(client, body, field):
    [visit_id] = chief_visits(households(1), at(2))
    before = snapshot()
    assert_error(client.post(f"{API}/visits/{visit_id}/review", json=body), 422, field)
    assert snapshot() == before


def test_the_certification_evaluation_ignores_voided_visits(client):
    client.put(f"{API}/certification/criteria", json={"zero_case_months": 12, "min_coverage": 0,
                                                       "min_vulnerable_coverage": 0, "min_app_install_rate": 0,
                                                       "window_days": 30})
    ids = households(3)
    visit_ids = chief_visits(ids, at(2), gap=timedelta(minutes=15))

    def coverage_value() -> float:
        criteria = client.get(f"{API}/villages/{VILLAGE}/certification").get_json()["criteria"]
        return next(c["value"] for c in criteria if c["name"] == "coverage")

    total = sql("select households from regions where code = :v", v=VILLAGE).scalar()
    assert coverage_value() == round(3 / total, 4)
    review(client, visit_ids[0], headers=supervisor())
    assert coverage_value() == round(2 / total, 4)


# --- the implausible-pace flag ---

@pytest.fixture
def pace(app, monkeypatch):
    """The thresholds the deployment uses by default (the test session turns the night window off)."""
    monkeypatch.setitem(app.config, "GRIDS_PACE_NIGHT_HOURS", (0, 5))
    monkeypatch.setitem(app.config, "GRIDS_PACE_MAX_VISITS_PER_DAY", 60)


def flags_of(visit_ids: list[str]) -> list[list[str]]:
    rows = dict(sql("select id::text, flags from visits where id = any(cast(:ids as uuid[]))", ids=visit_ids).all())
    return [sorted(rows[i]) for i in visit_ids]


def test_visits_through_the_night_are_flagged(client, pace):
    ids = households(4)
    day = today() - timedelta(days=2)
    times = [time(4, 30), time(5, 0), time(23, 59), time(0, 0)]
    flagged = []
    for household, moment in zip(ids, times, strict=True):
        start = datetime.combine(day + timedelta(days=1 if moment == time(0, 0) else 0), moment, LOCAL)
        [visit_id] = chief_visits([household], start)
        flagged.append("implausible_pace" in flags_of([visit_id])[0])
    assert flagged == [True, False, False, True]


def test_more_visits_in_a_day_than_a_person_can_make_are_flagged(client, app, pace, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_PACE_MAX_VISITS_PER_DAY", 5)
    cell = sql("""select grid_code from households where village_code like :t and removed_at is null
                  group by 1 having count(*) >= 8 order by 1 limit 1""", t=TOWNSHIP[:9] + "%").scalar()
    ids = list(sql("select id from households where grid_code = :c order by id limit 8", c=cell).scalars())
    first = chief_visits(ids[:3], at(2, 8), gap=timedelta(minutes=30))  # stored first
    later = chief_visits(ids[3:8], at(2, 10), gap=timedelta(minutes=30))  # one batch: visits 4..8 of the day
    marks = ["implausible_pace" in f for f in flags_of(first + later)]  # one cell: one chief made them all
    assert marks == [False] * 5 + [True] * 3


def test_the_pace_flag_counts_in_flagged_visits(client, pace):
    ids = households(2)
    chief_visits(ids, datetime.combine(today() - timedelta(days=1), time(2), LOCAL), gap=timedelta(minutes=20))
    row = coverage_row(client)
    assert row["flagged_visits"] == 2
    flagged = client.get(f"{API}/visits?region={VILLAGE}&flag=implausible_pace").get_json()
    assert len(flagged) == 2


def test_the_night_window_and_the_daily_limit_are_configuration(app):
    from config import load_config

    config = load_config({})
    assert config["GRIDS_PACE_NIGHT_HOURS"] == (0, 5) and config["GRIDS_PACE_MAX_VISITS_PER_DAY"] == 60
    assert app.config["GRIDS_PACE_NIGHT_HOURS"] is None  # the test session: off unless a test turns it on


# --- the lagging list names the responsible member ---

def test_every_lagging_cell_names_its_chief_with_the_phone_masked(client):
    rows = client.get(f"{API}/coverage?region={VILLAGE}&by=grid").get_json()
    chiefs = {code: (member, name, phone) for code, member, name, phone in sql("""
        select a.grid_code, m.id, m.name, m.phone_masked from assignments a join members m on m.id = a.member_id
        where a.village_code = :v and a.role = 'chief' and a.valid_to is null""", v=VILLAGE).all()}
    assert rows and all(row["code"] in chiefs for row in rows)
    for row in rows:
        member, name, phone = chiefs[row["code"]]
        assert row["responsible"] == {"member_id": member, "name": name, "phone": phone}
        assert "*" in row["responsible"]["phone"]
    village_rows = client.get(f"{API}/coverage?region={TOWNSHIP}&by=village").get_json()
    assert all("responsible" not in row for row in village_rows)
