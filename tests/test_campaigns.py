"""Publicity campaigns (十进): recording in any crs (village derived), validation, scope and roles,
the list with its filters and GeoJSON, the summary by kind against SQL, and the audit entry."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.clock import LOCAL, today
from outreach.campaigns.models import CAMPAIGN_KINDS
from tests.helpers import assert_error, auth, make_user, member_in, pagination, sql, to_crs

API = "/api/v1"
TOWNSHIP = "610981100000"
V1, V2 = "610981100004", "610981100005"
OTHER_VILLAGE = "610925100001"


def interior(village: str) -> tuple[float, float]:
    lon, lat = sql("""select ST_X(c), ST_Y(c) from (select (ST_MaximumInscribedCircle(boundary)).center as c
                      from regions where code = :v) x""", v=village).one()
    return float(lon), float(lat)


def body(village: str = V1, crs: str = "wgs84", **fields) -> dict:
    lon, lat = to_crs(*interior(village), crs)
    data = {"kind": "school", "title": "反诈进校园", "held_at": (datetime.now(LOCAL) - timedelta(days=1)).isoformat(),
            "location": {"lon": lon, "lat": lat, "crs": crs}, "audience": 120, "materials": 300}
    data.update(fields)
    return data


def post(client, data: dict, headers=None):
    return client.post(f"{API}/campaigns", json=data, headers=headers)


def user(name: str, role: str, scope: str, member_id: int | None = None) -> dict:
    make_user(name, role, scope, member_id)
    return auth(name)


def test_the_ten_kinds():
    assert CAMPAIGN_KINDS == ("community", "village", "household", "school", "enterprise", "institution", "shop",
                              "hospital", "place_of_worship", "internet_cafe")


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_a_campaign_in_any_crs_gets_its_village(client, crs):
    response = post(client, body(V2, crs, notes="家长会"))
    assert response.status_code == 201, response.get_json()
    campaign = response.get_json()
    assert campaign["village_code"] == V2 and campaign["kind"] == "school" and campaign["audience"] == 120
    assert campaign["materials"] == 300 and campaign["created_by"] == "admin" and campaign["notes"] == "家长会"
    lon, lat = interior(V2)
    assert abs(campaign["location"]["coordinates"][0] - lon) < 1e-6
    assert abs(campaign["location"]["coordinates"][1] - lat) < 1e-6
    row = sql("select crs, raw_lon, county_code from campaigns where id = :id", id=campaign["id"]).one()
    assert row.crs == crs and row.county_code == "610981"
    assert sql("select count(*) from audit_log where action = 'campaign.create' and object_id = :id",
               id=str(campaign["id"])).scalar() == 1


@pytest.mark.parametrize("change,field", [
    ({"kind": "stadium"}, "kind"), ({"title": ""}, "title"), ({"audience": -1}, "audience"),
    ({"audience": None}, "audience"), ({"materials": -5}, "materials"), ({"held_at": "yesterday"}, "held_at"),
    ({"held_at": "2026-01-01T10:00:00"}, "held_at"), ({"location": {"lon": 200, "lat": 30}}, "location"),
    ({"location": {"lon": 116.4, "lat": 39.9}}, "location"), ({"title": "a\x00b"}, "title"),
])
def test_bad_campaigns_are_422_and_change_nothing(client, change, field):
    assert_error(post(client, body(**change)), 422, field)
    assert sql("select count(*) from campaigns").scalar() == 0


def test_a_campaign_far_in_the_future_is_422(client):
    assert_error(post(client, body(held_at=(datetime.now(LOCAL) + timedelta(days=3)).isoformat())), 422, "held_at")


def test_a_campaign_outside_the_scope_is_422(client):
    headers = user("ts", "township_supervisor", TOWNSHIP)
    assert_error(post(client, body(OTHER_VILLAGE), headers), 422, "location")
    assert post(client, body(V1), headers).status_code == 201


def test_grid_workers_and_police_record_campaigns_reviewers_do_not(client):
    assert post(client, body(V1), user("gw", "grid_worker", V1, member_in(V1))).status_code == 201
    assert post(client, body(V1), user("pol", "police", "610981000000")).status_code == 201
    assert_error(post(client, body(V1), user("rev", "reviewer", "610981000000")), 403)


def test_list_filters_scope_and_geojson(client):
    post(client, body(V1, kind="school"))
    post(client, body(V2, kind="hospital", held_at=(datetime.now(LOCAL) - timedelta(days=20)).isoformat()))
    post(client, body(OTHER_VILLAGE, kind="school"))
    everything = client.get(f"{API}/campaigns")
    assert pagination(everything)["total"] == 3
    assert [c["kind"] for c in client.get(f"{API}/campaigns?kind=hospital").get_json()] == ["hospital"]
    recent = client.get(f"{API}/campaigns?from={today() - timedelta(days=5)}").get_json()
    assert {c["village_code"] for c in recent} == {V1, OTHER_VILLAGE}
    assert {c["village_code"] for c in client.get(f"{API}/campaigns?region={TOWNSHIP}").get_json()} == {V1, V2}
    headers = user("ts", "township_supervisor", TOWNSHIP)
    assert {c["village_code"] for c in client.get(f"{API}/campaigns", headers=headers).get_json()} == {V1, V2}
    assert_error(client.get(f"{API}/campaigns?region=610925000000", headers=headers), 404)
    geojson = client.get(f"{API}/campaigns?f=geojson&region={TOWNSHIP}")
    assert geojson.mimetype == "application/geo+json"
    features = geojson.get_json()["features"]
    assert len(features) == 2 and features[0]["geometry"]["type"] == "Point"
    assert_error(client.get(f"{API}/campaigns?from=2026-02-01&to=2026-01-01"), 422, "from", "query")


def test_summary_by_kind_against_sql(client):
    for village, kind, audience in ((V1, "school", 100), (V1, "school", 50), (V2, "internet_cafe", 20),
                                    (OTHER_VILLAGE, "shop", 70)):
        post(client, body(village, kind=kind, audience=audience, materials=10))
    summary = client.get(f"{API}/campaigns/summary?region={TOWNSHIP}").get_json()
    assert summary["region"] == TOWNSHIP and summary["campaigns"] == 3 and summary["audience"] == 170
    assert summary["materials"] == 30
    by_kind = {row["kind"]: row for row in summary["by_kind"]}
    assert list(by_kind) == list(CAMPAIGN_KINDS)  # every kind, zeros included
    assert by_kind["school"] == {"kind": "school", "campaigns": 2, "audience": 150, "materials": 20, "villages": 1}
    assert by_kind["internet_cafe"]["campaigns"] == 1 and by_kind["shop"]["campaigns"] == 0
    city = client.get(f"{API}/campaigns/summary").get_json()
    expected = dict(sql("select kind, count(*) from campaigns group by 1").all())
    assert {row["kind"]: row["campaigns"] for row in city["by_kind"] if row["campaigns"]} == expected
    assert client.get(f"{API}/campaigns/summary?from={today() + timedelta(days=1)}").get_json()["campaigns"] == 0
