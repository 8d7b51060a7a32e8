"""Assessment: the versioned scorecard, rankings among siblings over two months, who sees which
ranking (peers' scores, never peers' households), and monthly targets with the responsible member."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from core.clock import LOCAL, today
from tests.helpers import assert_error, auth, chief_visits, make_user, sql

API = "/api/v1"
CITY = "610900000000"
COUNTY = "610981000000"
TOWNSHIP = "610981100000"
V1, V2, V3 = "610981100004", "610981100005", "610981100006"
PEER_TOWNSHIP, PEER_VILLAGE = "610981002000", "610981002001"


# --- helpers ---

def month_before(first: date, months: int = 1) -> date:
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


THIS_MONTH = today().replace(day=1)
PERIOD = month_before(THIS_MONTH, 2)       # the month ranked
EARLIER = month_before(THIS_MONTH, 3)      # the month before it


def at(first: date, day: int = 10, hour: int = 9) -> datetime:
    return datetime.combine(first.replace(day=day), time(hour), LOCAL)


def households(village: str, n: int) -> list[int]:
    return list(sql("select id from households where village_code = :v and removed_at is null order by id limit :n",
                    v=village, n=n).scalars())


def visit_month(first: date, plan: dict[str, int]) -> None:
    """``plan``: village → households visited (the lowest ids), ten minutes apart from the 10th, 09:00."""
    for village, n in plan.items():
        if n:
            chief_visits(households(village, n), at(first), gap=timedelta(minutes=10))


def ranking(client, query: str, headers=None) -> dict:
    response = client.get(f"{API}/rankings?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows_by_code(body: dict) -> dict[str, dict]:
    return {row["code"]: row for row in body["rows"]}


def user(name: str, role: str, scope: str) -> dict:
    make_user(name, role, scope)
    return auth(name)


def seed_two_months() -> None:
    """Earlier month: V1 best, V2, V3 nothing; ranked month: the other way round."""
    visit_month(EARLIER, {V1: 60, V2: 30, V3: 0})
    visit_month(PERIOD, {V1: 0, V2: 30, V3: 60})


@pytest.fixture
def two_months(db_session):
    seed_two_months()


@pytest.fixture
def peer_township(db_session):
    """A second township of the county (the test data set has one per county), one village, three households."""
    for code, level, parent in ((PEER_TOWNSHIP, "township", COUNTY), (PEER_VILLAGE, "village", PEER_TOWNSHIP)):
        sql("""insert into regions (code, level, parent_code, name, boundary, households, vulnerable_households,
                                    grids, tier3_grids)
               select :code, :level, :parent, :name, boundary, 3, 0, 3, 1 from regions where code = :src""",
            code=code, level=level, parent=parent, name=f"对照{level}", src=V3)
    cells = ((f"{PEER_VILLAGE}-00-00", 1, None), (f"{PEER_VILLAGE}-01-00", 2, f"{PEER_VILLAGE}-00-00"),
             (f"{PEER_VILLAGE}-01-01", 3, f"{PEER_VILLAGE}-01-00"))
    for code, tier, parent in cells:
        sql("""insert into grids (code, tier, parent_code, village_code, county_code, name, boundary, households)
               select :code, :tier, :parent, :v, '610981', :code, boundary, 3 from regions where code = :src""",
            code=code, tier=tier, parent=parent, v=PEER_VILLAGE, src=V3)
    sql("""insert into households (county_code, grid_code, village_code, location, residents)
           select '610981', :cell, :v, ST_PointOnSurface(boundary), 2 from regions, generate_series(1, 3)
           where code = :src""", cell=f"{PEER_VILLAGE}-01-01", v=PEER_VILLAGE, src=V3)
    db_session.commit()  # (a savepoint: the test's transaction is still rolled back)


# --- the scorecard ---

def test_scorecard_version_1_is_the_default(client):
    body = client.get(f"{API}/assessment/scorecard").get_json()
    assert body["version"] == 1 and body["list_size"] == 5
    assert set(body["components"]) == {"coverage", "vulnerable_coverage", "app_install_rate", "warnings_met_on_time",
                                       "median_minutes_to_meet", "cases_per_10k_households", "zero_cases",
                                       "flagged_share", "campaigns_per_1k_households"}
    assert sum(c["weight"] for c in body["components"].values()) == 100


def test_the_city_admin_adds_a_version_and_rankings_follow_it(client, two_months):
    new = {"components": {"coverage": {"weight": 1, "best": 1, "worst": 0}}, "list_size": 3}
    response = client.put(f"{API}/assessment/scorecard", json=new)
    assert response.status_code == 200
    # (the next number of an identity: versions added and rolled back by earlier tests use some up)
    version = response.get_json()["version"]
    assert version > 1
    assert client.get(f"{API}/assessment/scorecard").get_json()["version"] == version
    assert sql("select count(*) from scorecards").scalar() == 2  # version 1 kept
    body = ranking(client, f"region={TOWNSHIP}&by=village&period={THIS_MONTH:%Y-%m}")
    assert body["scorecard_version"] == version
    for row in body["rows"]:
        assert row["score"] == round(100 * row["components"]["coverage"]["value"], 2)
        assert set(row["components"]) == {"coverage"}
    # A month that closed before version 2 keeps the version it was ranked on.
    closed = ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}")
    assert closed["scorecard_version"] == 1 and closed["previous_scorecard_version"] == 1
    assert all(len(row["components"]) > 1 for row in closed["rows"])
    assert sql("select count(*) from audit_log where action = 'assessment.scorecard'").scalar() == 1


def test_the_previous_rank_is_the_one_the_version_in_force_last_month_gave(client):
    last_month = month_before(THIS_MONTH)
    visit_month(last_month, {V1: 60, V2: 30, V3: 0})
    published = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={last_month:%Y-%m}"))
    assert [published[v]["rank"] for v in (V1, V2, V3)] == [1, 2, 3]
    # This month a version that prefers low coverage: it would turn last month's ranks upside down.
    inverted = {"components": {"coverage": {"weight": 1, "best": 0, "worst": 1}}, "list_size": 3}
    response = client.put(f"{API}/assessment/scorecard", json=inverted)
    assert response.status_code == 200
    body = ranking(client, f"region={TOWNSHIP}&by=village&period={THIS_MONTH:%Y-%m}")
    assert body["scorecard_version"] == response.get_json()["version"] > 1
    assert body["previous_scorecard_version"] == 1
    rows = rows_by_code(body)
    assert [rows[v]["previous_rank"] for v in (V1, V2, V3)] == [1, 2, 3]
    for code in (V1, V2, V3):
        assert rows[code]["previous_score"] == published[code]["score"]
        assert set(rows[code]["components"]) == {"coverage"}
    # Last month asked for itself still answers what it published.
    again = ranking(client, f"region={TOWNSHIP}&by=village&period={last_month:%Y-%m}")
    assert again["scorecard_version"] == 1 and rows_by_code(again) == published


@pytest.mark.parametrize("role,scope", [("county_admin", COUNTY), ("township_supervisor", TOWNSHIP),
                                        ("reviewer", COUNTY)])
def test_only_the_city_admin_changes_the_scorecard(client, role, scope):
    headers = user("sc", role, scope)
    new = {"components": {"coverage": {"weight": 1, "best": 1, "worst": 0}}}
    assert_error(client.put(f"{API}/assessment/scorecard", json=new, headers=headers), 403)


@pytest.mark.parametrize("components,field", [
    ({"speed": {"weight": 1, "best": 1, "worst": 0}}, "components"),
    ({"coverage": {"weight": 1, "best": 1, "worst": 1}}, "components"),
    ({"coverage": {"weight": 0, "best": 1, "worst": 0}}, "components"),
    ({"coverage": {"weight": -1, "best": 1, "worst": 0}}, "components"),
    ({"coverage": {"weight": 1, "best": 1}}, "components"),
    ({}, "components"),
])
def test_invalid_scorecards_are_422_and_change_nothing(client, components, field):
    assert_error(client.put(f"{API}/assessment/scorecard", json={"components": components}), 422, field)
    assert sql("select count(*) from scorecards").scalar() == 1


# --- rankings ---

def test_ranks_and_previous_ranks_over_two_months(client, two_months):
    earlier = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={EARLIER:%Y-%m}"))
    assert [earlier[v]["rank"] for v in (V1, V2, V3)] == [1, 2, 3]
    body = ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}")
    assert body["period"] == f"{PERIOD:%Y-%m}" and body["by"] == "village" and body["region"] == TOWNSHIP
    rows = rows_by_code(body)
    assert set(rows) == {V1, V2, V3}
    assert [rows[v]["rank"] for v in (V3, V2, V1)] == [1, 2, 3]
    assert [rows[v]["previous_rank"] for v in (V3, V2, V1)] == [3, 2, 1]
    assert [rows[v]["rank_change"] for v in (V3, V2, V1)] == [2, 0, -2]
    for code in (V1, V2, V3):
        assert rows[code]["previous_score"] == earlier[code]["score"]
    assert [r["code"] for r in body["rows"]] == [V3, V2, V1]  # best first


def test_components_are_the_months_figures_and_the_score_their_weighted_mean(client, two_months):
    rows = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}"))
    scorecard = client.get(f"{API}/assessment/scorecard").get_json()["components"]
    for code, visited in ((V1, 0), (V2, 30), (V3, 60)):
        row = rows[code]
        households_total = sql("select households from regions where code = :c", c=code).scalar()
        assert row["counts"]["households"] == households_total
        assert row["counts"]["households_visited"] == visited
        assert row["counts"]["visits"] == visited
        assert row["components"]["coverage"]["value"] == round(visited / households_total, 4)
        assert row["components"]["zero_cases"]["value"] == 1
        assert row["components"]["cases_per_10k_households"]["value"] == 0
        assert row["components"]["warnings_met_on_time"]["value"] is None  # no warnings: left out
        weighted = total = 0.0
        for name, spec in scorecard.items():
            value = row["components"][name]["value"]
            if value is None:
                continue
            share = min(1, max(0, (value - spec["worst"]) / (spec["best"] - spec["worst"])))
            weighted += spec["weight"] * share
            total += spec["weight"]
        assert row["score"] == pytest.approx(100 * weighted / total, abs=0.01)


def test_cases_and_campaigns_count_in_the_month_they_happened(client, db_session, two_months):
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan)
           values ('610981', :v, :day, 'romance', 100)""", v=V3, day=PERIOD.replace(day=5))
    sql("""insert into campaigns (county_code, village_code, kind, title, held_at, location, audience)
           select '610981', code, 'school', '进校园', :held, ST_PointOnSurface(boundary), 80
           from regions where code = :v""",
        v=V2, held=at(PERIOD, 12))
    db_session.commit()
    rows = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}"))
    assert rows[V3]["counts"]["cases"] == 1 and rows[V3]["components"]["zero_cases"]["value"] == 0
    households_v3 = rows[V3]["counts"]["households"]
    assert rows[V3]["components"]["cases_per_10k_households"]["value"] == round(10_000 / households_v3, 4)
    assert rows[V2]["counts"]["campaigns"] == 1
    assert rows[V2]["components"]["campaigns_per_1k_households"]["value"] == \
        round(1000 / rows[V2]["counts"]["households"], 4)
    earlier = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={EARLIER:%Y-%m}"))
    assert earlier[V3]["counts"]["cases"] == 0 and earlier[V2]["counts"]["campaigns"] == 0


def test_a_voided_case_no_longer_counts(client, two_months):
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan, voided_at)
           values ('610981', :v, :day, 'romance', 100, now())""", v=V3, day=PERIOD.replace(day=5))
    rows = rows_by_code(ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}"))
    assert rows[V3]["counts"]["cases"] == 0


def test_counties_are_ranked_among_the_citys_counties(client):
    body = ranking(client, f"by=county&period={PERIOD:%Y-%m}")
    assert body["region"] == CITY
    assert len(body["rows"]) == 12
    assert sorted(r["rank"] for r in body["rows"] if r["rank"] is not None)[0] == 1
    assert {r["parent_code"] for r in body["rows"]} == {CITY}


def test_villages_under_a_county_are_ranked_within_their_township(client, two_months, peer_township):
    rows = rows_by_code(ranking(client, f"region={COUNTY}&by=village&period={PERIOD:%Y-%m}"))
    assert rows[PEER_VILLAGE]["rank"] == 1 and rows[PEER_VILLAGE]["parent_code"] == PEER_TOWNSHIP
    assert rows[V3]["rank"] == 1 and rows[V1]["rank"] == 3


def test_ties_share_a_rank(client):
    rows = ranking(client, f"region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}")["rows"]
    scores = {r["score"] for r in rows}
    if len(scores) == 1:  # nothing happened: every village scores the same
        assert {r["rank"] for r in rows} == {1}


# --- who sees what ---

def test_a_township_supervisor_sees_peer_townships_scores_but_not_their_households(
        client, two_months, peer_township):
    headers = user("ts", "township_supervisor", TOWNSHIP)
    body = ranking(client, f"by=township&period={PERIOD:%Y-%m}", headers)
    assert body["region"] == COUNTY
    rows = rows_by_code(body)
    assert set(rows) == {TOWNSHIP, PEER_TOWNSHIP}
    assert rows[PEER_TOWNSHIP]["score"] is not None and rows[PEER_TOWNSHIP]["rank"] in (1, 2)
    assert rows_by_code(ranking(client, f"region={COUNTY}&by=township&period={PERIOD:%Y-%m}", headers)) == rows
    # ... but nothing inside the peer township.
    assert_error(client.get(f"{API}/households?region={PEER_TOWNSHIP}", headers=headers), 404)
    assert_error(client.get(f"{API}/coverage?region={PEER_TOWNSHIP}", headers=headers), 404)
    assert_error(client.get(f"{API}/rankings?region={PEER_TOWNSHIP}&by=village", headers=headers), 404)
    household = sql("select min(id) from households where village_code = :v", v=PEER_VILLAGE).scalar()
    assert_error(client.get(f"{API}/households/{household}", headers=headers), 404)
    # Its own villages it ranks; the counties (a level above) it does not.
    assert set(rows_by_code(ranking(client, "by=village", headers))) == {V1, V2, V3}
    assert_error(client.get(f"{API}/rankings?by=county", headers=headers), 403)
    assert_error(client.get(f"{API}/rankings?region={CITY}&by=township", headers=headers), 404)


def test_a_village_admin_sees_its_peer_villages(client, two_months):
    headers = user("va", "village_admin", V1)
    body = ranking(client, f"by=village&period={PERIOD:%Y-%m}", headers)
    assert body["region"] == TOWNSHIP and set(rows_by_code(body)) == {V1, V2, V3}
    assert_error(client.get(f"{API}/rankings?by=township", headers=headers), 403)


def test_a_county_admin_sees_only_its_county_and_its_peer_counties(client):
    headers = user("ca", "county_admin", COUNTY)
    assert len(ranking(client, "by=county", headers)["rows"]) == 12
    assert ranking(client, "by=township", headers)["region"] == COUNTY
    assert_error(client.get(f"{API}/rankings?region=610902000000&by=township", headers=headers), 404)


@pytest.mark.parametrize("query,field", [("by=street", "by"), ("", "by"), ("by=village&period=2026-13", "period"),
                                         ("by=village&period=26-01", "period"), ("by=village&region=61", "region")])
def test_bad_ranking_queries_are_422(client, query, field):
    assert_error(client.get(f"{API}/rankings?{query}"), 422, field, "query")


def test_ranking_a_level_not_below_the_region_is_422(client):
    assert_error(client.get(f"{API}/rankings?region={TOWNSHIP}&by=township"), 422, "by", "query")


def test_an_unknown_region_is_404(client):
    assert_error(client.get(f"{API}/rankings?region=610981099000&by=village"), 404)


# --- targets ---

def cell_with_households(village: str) -> str:
    return sql("""select grid_code from households where village_code = :v group by 1
                  order by count(*) desc, grid_code limit 1""", v=village).scalar()


def test_targets_progress_and_the_responsible_member(client):
    headers = user("ts", "township_supervisor", TOWNSHIP)
    cell = cell_with_households(V2)
    period = f"{THIS_MONTH:%Y-%m}"
    for subject, metric, value in (({"grid_code": cell}, "coverage", 0.9), ({"region": V2}, "households_visited", 40),
                                   ({"region": V1}, "visits", 1)):
        response = client.put(f"{API}/targets", json={**subject, "period": period, "metric": metric, "value": value},
                              headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["value"] == value and response.get_json()["set_by"] == "ts"
    in_cell = list(sql("select id from households where grid_code = :c order by id", c=cell).scalars())
    visited_at = datetime.now(LOCAL) - timedelta(minutes=5 * len(in_cell) + 5)
    if visited_at.date() < THIS_MONTH:
        pytest.skip("too early in the month to place the visits in it")
    chief_visits(in_cell[:2], visited_at, gap=timedelta(minutes=2))
    body = client.get(f"{API}/targets/progress?region={TOWNSHIP}&period={period}", headers=headers).get_json()
    assert body["period"] == period and len(body["targets"]) == 3
    rows = {(r["subject_code"], r["metric"]): r for r in body["targets"]}
    row = rows[(cell, "coverage")]
    assert row["actual"] == round(2 / len(in_cell), 4) and row["target"] == 0.9 and row["level"] == "grid"
    chief = sql("""select m.id, m.name, m.phone_masked from assignments a join members m on m.id = a.member_id
                   where a.grid_code = :c and a.role = 'chief' and a.valid_to is null""", c=cell).one()
    assert row["responsible"] == {"member_id": chief.id, "name": chief.name, "phone": chief.phone_masked}
    assert "*" in row["responsible"]["phone"]
    assert row["lagging"] is (row["actual"] < row["expected_by_now"])
    village_row = rows[(V2, "households_visited")]
    assert village_row["actual"] == 2 and village_row["level"] == "village"
    assert village_row["responsible"]["member_id"] == sql(
        "select member_id from assignments where grid_code = :c and role = 'chief' and valid_to is null",
        c=f"{V2}-00-00").scalar()
    assert rows[(V1, "visits")]["actual"] == 0 and not rows[(V1, "visits")]["met"]
    lagging = [r["lagging"] for r in body["targets"]]
    assert lagging == sorted(lagging, reverse=True) and body["lagging"] == sum(lagging)


def test_setting_a_target_again_replaces_it(client):
    body = {"region": V1, "period": f"{THIS_MONTH:%Y-%m}", "metric": "coverage", "value": 0.5}
    client.put(f"{API}/targets", json=body)
    client.put(f"{API}/targets", json={**body, "value": 0.7})
    assert sql("select value from targets where subject_code = :v", v=V1).scalars().all() == [0.7]


@pytest.mark.parametrize("body,field", [
    ({"region": V1, "grid_code": f"{V1}-01-01"}, "region"),
    ({}, "region"),
    ({"region": V1, "metric": "speed"}, "metric"),
    ({"region": V1, "value": 1.5}, "value"),
    ({"region": V1, "period": "2026-1"}, "period"),
    ({"grid_code": f"{V1}-01-01", "metric": "campaigns", "value": 3}, "metric"),
])
def test_bad_targets_are_422(client, body, field):
    data = {"period": f"{THIS_MONTH:%Y-%m}", "metric": "coverage", "value": 0.5}
    data.update(body)
    if not data.get("region") and not data.get("grid_code"):
        data.pop("region", None)
    assert_error(client.put(f"{API}/targets", json=data), 422, field)
    assert sql("select count(*) from targets").scalar() == 0


def test_targets_are_set_for_levels_below_and_inside_the_scope(client):
    headers = user("ts", "township_supervisor", TOWNSHIP)
    body = {"period": f"{THIS_MONTH:%Y-%m}", "metric": "coverage", "value": 0.5}
    assert_error(client.put(f"{API}/targets", json={**body, "region": TOWNSHIP}, headers=headers), 403)
    assert_error(client.put(f"{API}/targets", json={**body, "region": "610902001003"}, headers=headers), 404)
    assert_error(client.put(f"{API}/targets", json={**body, "region": V1}, headers=user("va", "village_admin", V1)),
                 403)
    assert client.put(f"{API}/targets", json={**body, "region": CITY}).status_code == 200  # the city admin


def test_progress_outside_the_scope_is_404(client):
    headers = user("ts", "township_supervisor", TOWNSHIP)
    assert_error(client.get(f"{API}/targets/progress?region=610902000000", headers=headers), 404)


def test_ranking_counts_follow_voided_visits_tag_changes_and_removed_households(client):
    """The monthly rollups the ranking reads stay equal to the coverage report of the same month after
    every writer: a visit voided, a household becoming vulnerable, one removed, a late visit synced."""
    voided = chief_visits(households(V1, 3), at(PERIOD), gap=timedelta(minutes=10), app=True)
    # V2's households without tags (so one can become vulnerable), visited in both months.
    plain = list(sql("select id from households where village_code = :v and removed_at is null and tags = '{}' "
                     "order by id limit 4", v=V2).scalars())
    chief_visits(plain, at(PERIOD), gap=timedelta(minutes=10), mocked=True)
    chief_visits(plain[:2], at(EARLIER), gap=timedelta(minutes=10))
    fields = ("households_visited", "vulnerable_visited", "visits", "flagged_visits", "app_installed")

    def same_as_the_coverage_report() -> dict[date, dict[str, dict]]:
        months = {}
        for first in (PERIOD, EARLIER):
            body = ranking(client, f"region={TOWNSHIP}&by=village&period={first:%Y-%m}")
            last = month_before(first.replace(day=28) + timedelta(days=8)) - timedelta(days=1)
            response = client.get(f"{API}/coverage?region={TOWNSHIP}&by=village&from={first}&to={last}")
            assert response.status_code == 200, response.get_json()
            report = {row["code"]: row for row in response.get_json()}
            for row in body["rows"]:
                assert {f: row["counts"][f] for f in fields} == {f: report[row["code"]][f] for f in fields}, first
            months[first] = {code: row["counts"] for code, row in rows_by_code(body).items()}
        return months

    before = same_as_the_coverage_report()
    assert before[PERIOD][V1]["households_visited"] == 3 and before[PERIOD][V2]["flagged_visits"] == 4
    assert before[EARLIER][V2]["households_visited"] == 2
    # A visit voided, a visited household tagged vulnerable, another removed.
    response = client.post(f"{API}/visits/{voided[0]}/review", json={"decision": "voided", "reason": "not there"})
    assert response.status_code == 200, response.get_json()
    assert client.patch(f"{API}/households/{plain[0]}", json={"tags": ["elderly"]}).status_code == 200
    assert client.delete(f"{API}/households/{households(V1, 3)[2]}").status_code in (200, 204)
    after = same_as_the_coverage_report()
    assert after[PERIOD][V1]["households_visited"] == 1 and after[PERIOD][V1]["visits"] == 2
    assert after[PERIOD][V1]["app_installed"] == 1
    for first in (PERIOD, EARLIER):
        assert after[first][V2]["vulnerable_visited"] == before[first][V2]["vulnerable_visited"] + 1
    # A late visit of the earlier month moves only that month.
    chief_visits(households(V3, 1), at(EARLIER, day=20))
    late = same_as_the_coverage_report()
    assert late[EARLIER][V3]["households_visited"] == after[EARLIER][V3]["households_visited"] + 1
    assert late[PERIOD] == after[PERIOD]
