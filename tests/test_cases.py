"""Fraud cases: recording (village from a point in any crs, or named), validation, roles and scope,
the case list with its filters, the regional summary against direct SQL, and the audit entry."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import today
from tests.helpers import assert_error, auth, make_user, sql, to_crs

API = "/api/v1"
CITY = "610900000000"
COUNTY_A = "610925"  # one township (610925100000) with two villages
VILLAGE_A1 = "610925100001"
VILLAGE_A2 = "610925100002"
COUNTY_B = "610927"  # one township with two villages
VILLAGE_B1 = "610927100002"
VILLAGE_B2 = "610927100003"
VILLAGE_C = "610981100006"  # 旬阳市, a township of three villages
CASE_FIELDS = {"id", "occurred_on", "type", "loss_yuan", "location", "village_code", "external_ref", "reported_by",
               "created_at", "suspended_certification_id", "voided_at", "voided_by", "void_reason"}


# --- helpers ---

def interior(village: str) -> tuple[float, float]:
    """A WGS84 point well inside a village (centre of its largest inscribed circle)."""
    lon, lat = sql("""select ST_X(c), ST_Y(c) from (select (ST_MaximumInscribedCircle(boundary)).center as c
                      from regions where code = :v) x""", v=village).one()
    return float(lon), float(lat)


def body(village: str | None = None, location: dict | None = None, **fields) -> dict:
    data = {"occurred_on": (today() - timedelta(days=3)).isoformat(), "type": "investment", "loss_yuan": 1000}
    if village is not None:
        data["village_code"] = village
    if location is not None:
        data["location"] = location
    data.update(fields)
    return data


def record(client, headers: dict, **kwargs) -> dict:
    response = client.post(f"{API}/cases", json=body(**kwargs), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def police(db_session) -> dict:
    """Headers of a city-wide police account."""
    make_user("pol", "police", CITY)
    return auth("pol")


# --- recording ---

@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
@pytest.mark.parametrize("form", ["geojson", "lonlat"])
def test_create_with_a_location_in_any_crs_derives_the_village(client, police, crs, form):
    lon, lat = interior(VILLAGE_B2)
    sent_lon, sent_lat = to_crs(lon, lat, crs)
    if crs in ("gcj02", "bd09"):
        assert abs(sent_lon - lon) + abs(sent_lat - lat) > 1e-4  # the transform really moved the point
    location = {"type": "Point", "coordinates": [sent_lon, sent_lat], "crs": crs} if form == "geojson" \
        else {"lon": sent_lon, "lat": sent_lat, "crs": crs}
    case = record(client, police, location=location, type="romance", loss_yuan=1234.567, external_ref="JZ-1")
    assert set(case) == CASE_FIELDS
    assert case["village_code"] == VILLAGE_B2
    assert case["type"] == "romance" and case["loss_yuan"] == 1234.57 and case["external_ref"] == "JZ-1"
    assert case["reported_by"] == "pol" and case["suspended_certification_id"] is None
    assert case["location"]["type"] == "Point"
    stored_lon, stored_lat = case["location"]["coordinates"]
    assert abs(stored_lon - lon) < 1e-6 and abs(stored_lat - lat) < 1e-6  # stored in WGS84
    row = sql("select county_code, village_code, loss_yuan, ST_X(location) x, ST_Y(location) y, reported_by "
              "from cases where id = :id", id=case["id"]).one()
    assert row.county_code == COUNTY_B and row.village_code == VILLAGE_B2 and str(row.loss_yuan) == "1234.57"
    assert abs(row.x - lon) < 1e-6 and abs(row.y - lat) < 1e-6 and row.reported_by == "pol"


def test_create_with_a_village_code(client, police):
    day = today() - timedelta(days=10)
    case = record(client, police, village=VILLAGE_A2, occurred_on=day.isoformat(), type="loan", loss_yuan=0)
    assert case["village_code"] == VILLAGE_A2 and case["location"] is None
    assert case["occurred_on"] == day.isoformat() and case["loss_yuan"] == 0
    assert sql("select county_code from cases where id = :id", id=case["id"]).scalar() == COUNTY_A


def test_location_and_village_code_must_agree(client, police):
    lon, lat = interior(VILLAGE_A1)
    response = client.post(f"{API}/cases", json=body(VILLAGE_A2, {"lon": lon, "lat": lat}), headers=police)
    errors = assert_error(response, 422)["errors"]
    assert "village_code" in errors["json"]
    assert record(client, police, village=VILLAGE_A1, location={"lon": lon, "lat": lat})["village_code"] == VILLAGE_A1
    assert sql("select count(*) from cases").scalar() == 1


def test_a_location_or_a_village_code_is_required(client, police):
    assert_error(client.post(f"{API}/cases", json=body(), headers=police), 422)
    assert_error(client.post(f"{API}/cases", json={**body(), "location": None, "village_code": None},
                             headers=police), 422)
    assert sql("select count(*) from cases").scalar() == 0


@pytest.mark.parametrize("location", [
    {"lon": 116.397, "lat": 39.909},  # Beijing
    {"type": "Point", "coordinates": [116.397, 39.909], "crs": "gcj02"},
    {"lon": 107.5, "lat": 32.5, "crs": "bd09"},  # west of the city's box
    {"lon": 109.0, "lat": 34.5},  # north of it
])
def test_a_location_outside_the_city_is_422(client, police, location):
    errors = assert_error(client.post(f"{API}/cases", json=body(location=location), headers=police), 422)["errors"]
    assert "location" in errors["json"]
    assert sql("select count(*) from cases").scalar() == 0


def test_a_point_in_the_city_box_outside_every_village_is_422(client, police):
    # At this seed scale the villages leave slivers of their townships uncovered: look for one on a 0.01° lattice.
    point = sql("""
        select x, y from (select 108.0 + i * 0.01 + 0.005 as x, 31.7 + j * 0.01 + 0.005 as y
                          from generate_series(0, 219) i, generate_series(0, 209) j) p
        where not exists (select 1 from grids
                          where tier = 1 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(x, y), 4326)))
        order by x, y limit 1
    """).first()
    if point is None:
        pytest.skip("the seeded villages cover the whole city box")
    location = {"lon": float(point.x), "lat": float(point.y)}
    errors = assert_error(client.post(f"{API}/cases", json=body(location=location), headers=police), 422)["errors"]
    assert "location" in errors["json"]
    assert sql("select count(*) from cases").scalar() == 0


@pytest.mark.parametrize("changes", [
    {"type": "phishing"},
    {"type": None},
    {"loss_yuan": -0.01},
    {"loss_yuan": "lots"},
    {"loss_yuan": 10**12},
    {"occurred_on": "yesterday"},
    {"village_code": "6109220010"},
    {"location": {"lon": 109.0, "lat": 32.8, "crs": "epsg3857"}},
    {"location": {"type": "LineString", "coordinates": [[109.0, 32.8], [109.1, 32.9]]}},
    {"location": {"lon": "109", "lat": 32.8}},
    {"external_ref": "x" * 65},
])
def test_invalid_fields_are_422(client, police, changes):
    data = body(VILLAGE_A1)
    data.update(changes)
    assert_error(client.post(f"{API}/cases", json=data, headers=police), 422)
    assert sql("select count(*) from cases").scalar() == 0


@pytest.mark.parametrize("missing", ["occurred_on", "type", "loss_yuan"])
def test_required_fields(client, police, missing):
    data = body(VILLAGE_A1)
    del data[missing]
    assert missing in assert_error(client.post(f"{API}/cases", json=data, headers=police), 422)["errors"]["json"]


@pytest.mark.parametrize("code", ["610925100000", "610925000000", CITY, "110101001001"])
def test_not_a_village_is_422(client, police, code):
    errors = assert_error(client.post(f"{API}/cases", json=body(code), headers=police), 422)["errors"]
    assert "village_code" in errors["json"]


def test_an_unknown_village_is_refused(client, police):
    response = client.post(f"{API}/cases", json=body("610925100999"), headers=police)
    assert response.status_code in (404, 422), response.get_data(as_text=True)
    assert sql("select count(*) from cases").scalar() == 0


def test_an_unknown_village_is_a_422_field_error(client, police):
    errors = assert_error(client.post(f"{API}/cases", json=body("610925100999"), headers=police), 422)["errors"]
    assert "village_code" in errors["json"]


def test_occurred_on_in_the_future_is_422(client, police):
    for days in (2, 30):
        response = client.post(f"{API}/cases", json=body(VILLAGE_A1, occurred_on=(today() + timedelta(days=days))
                                                         .isoformat()), headers=police)
        assert "occurred_on" in assert_error(response, 422)["errors"]["json"]
    assert record(client, police, village=VILLAGE_A1, occurred_on=today().isoformat())["occurred_on"] \
        == today().isoformat()


def test_occurred_on_tomorrow_is_422(client, police):
    response = client.post(f"{API}/cases", json=body(VILLAGE_A1, occurred_on=(today() + timedelta(days=1))
                                                     .isoformat()), headers=police)
    assert_error(response, 422)


@pytest.mark.parametrize("role, scope", [
    ("city_admin", None), ("county_admin", "610925000000"), ("township_supervisor", "610925100000"),
    ("village_admin", VILLAGE_A1), ("reviewer", "610925100000"), ("reviewer", "610925000000"),
])
def test_only_police_record_cases(client, role, scope):
    headers = {}
    if scope is not None:
        make_user("someone", role, scope)
        headers = auth("someone")
    assert_error(client.post(f"{API}/cases", json=body(VILLAGE_A1), headers=headers), 403)
    assert sql("select count(*) from cases").scalar() == 0


def test_anonymous_is_401(anonymous_client):
    assert anonymous_client.post(f"{API}/cases", json=body(VILLAGE_A1)).status_code == 401
    assert anonymous_client.get(f"{API}/cases").status_code == 401
    assert anonymous_client.get(f"{API}/regions/{CITY}/cases/summary").status_code == 401


@pytest.mark.parametrize("scope", ["610925000000", "610925100000"])
def test_scoped_police_record_only_in_their_scope(client, scope):
    make_user("pol-a", "police", scope)
    headers = auth("pol-a")
    lon, lat = interior(VILLAGE_B1)
    for data in (body(VILLAGE_B1), body(location={"lon": lon, "lat": lat})):
        response = client.post(f"{API}/cases", json=data, headers=headers)
        assert response.status_code in (404, 422), response.get_data(as_text=True)
        assert response.get_json()["code"] == response.status_code
    assert sql("select count(*) from cases").scalar() == 0
    assert record(client, headers, village=VILLAGE_A2)["village_code"] == VILLAGE_A2
    lon, lat = interior(VILLAGE_A1)
    assert record(client, headers, location={"lon": lon, "lat": lat})["village_code"] == VILLAGE_A1


def test_police_scoped_to_a_village_cannot_exist(db_session):
    from core.errors import Invalid

    with pytest.raises(Invalid):
        make_user("pol-v", "police", VILLAGE_A1)


def test_audit_entry(client, police):
    case = record(client, police, village=VILLAGE_B1, type="gaming", loss_yuan=88.8)
    entry = sql("select actor, region_code, details from audit_log where action = 'case.create' and "
                "object_type = 'case' and object_id = :id", id=str(case["id"])).one()
    assert entry.actor == "pol" and entry.region_code == VILLAGE_B1
    assert entry.details == {"type": "gaming", "loss_yuan": "88.80"}


def test_a_rejected_case_leaves_no_audit_entry(client, police):
    client.post(f"{API}/cases", json=body(VILLAGE_A1, type="nope"), headers=police)
    client.post(f"{API}/cases", json=body("610925100999"), headers=police)
    assert sql("select count(*) from audit_log where action = 'case.create'").scalar() == 0


# --- the list ---

@pytest.fixture
def some_cases(client, police) -> dict:
    """Cases in three counties, of several types and days; name → response."""
    t = today()
    spec = {
        "a1_old": (VILLAGE_A1, 200, "investment", 500),
        "a1_new": (VILLAGE_A1, 2, "romance", 1500.5),
        "a2": (VILLAGE_A2, 40, "investment", 20000),
        "b1": (VILLAGE_B1, 10, "loan", 300),
        "b2_older_than_a_year": (VILLAGE_B2, 400, "gaming", 7000),
        "c": (VILLAGE_C, 0, "other", 42),
    }
    return {name: record(client, police, village=v, occurred_on=(t - timedelta(days=d)).isoformat(), type=k,
                         loss_yuan=loss) for name, (v, d, k, loss) in spec.items()}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["id"] for c in response.get_json()]


def test_list_filters(client, police, some_cases):
    c = some_cases
    t = today()
    everything = ids(client.get(f"{API}/cases", headers=police))
    # Newest first.
    assert everything == [c[n]["id"] for n in ("c", "a1_new", "b1", "a2", "a1_old", "b2_older_than_a_year")]
    response = client.get(f"{API}/cases", headers=police)
    assert '"total": 6' in response.headers["X-Pagination"]
    assert set(response.get_json()[0]) == CASE_FIELDS - {"suspended_certification_id"}  # set when recording
    assert ids(client.get(f"{API}/cases?region=610925000000", headers=police)) == \
        [c["a1_new"]["id"], c["a2"]["id"], c["a1_old"]["id"]]
    assert ids(client.get(f"{API}/cases?region=610925100000", headers=police)) == \
        [c["a1_new"]["id"], c["a2"]["id"], c["a1_old"]["id"]]
    assert ids(client.get(f"{API}/cases?region={VILLAGE_A1}", headers=police)) == \
        [c["a1_new"]["id"], c["a1_old"]["id"]]
    assert ids(client.get(f"{API}/cases?region={CITY}", headers=police)) == everything
    assert ids(client.get(f"{API}/cases?type=investment", headers=police)) == [c["a2"]["id"], c["a1_old"]["id"]]
    start, end = (t - timedelta(days=40)).isoformat(), (t - timedelta(days=2)).isoformat()
    assert ids(client.get(f"{API}/cases?from={start}&to={end}", headers=police)) == \
        [c["a1_new"]["id"], c["b1"]["id"], c["a2"]["id"]]  # both ends inclusive
    assert ids(client.get(f"{API}/cases?from={start}&to={end}&region=610925000000&type=investment",
                          headers=police)) == [c["a2"]["id"]]
    assert ids(client.get(f"{API}/cases?from={t.isoformat()}", headers=police)) == [c["c"]["id"]]
    assert ids(client.get(f"{API}/cases?page_size=2&page=2", headers=police)) == everything[2:4]


@pytest.mark.parametrize("query", ["region=6109", "region=610925100999", "type=phishing", "from=2026-13-01",
                                   "to=someday"])
def test_list_bad_filters(client, police, query):
    response = client.get(f"{API}/cases?{query}", headers=police)
    assert response.status_code in (404, 422), response.get_data(as_text=True)


def test_list_is_scoped(client, some_cases):
    c = some_cases
    make_user("pol-b", "police", "610927000000")
    make_user("rev-a", "reviewer", "610925100000")
    make_user("va", "village_admin", VILLAGE_A1)
    make_user("ca", "county_admin", "610981000000")
    assert ids(client.get(f"{API}/cases", headers=auth("pol-b"))) == \
        [c["b1"]["id"], c["b2_older_than_a_year"]["id"]]
    assert ids(client.get(f"{API}/cases", headers=auth("rev-a"))) == \
        [c["a1_new"]["id"], c["a2"]["id"], c["a1_old"]["id"]]
    assert ids(client.get(f"{API}/cases", headers=auth("va"))) == [c["a1_new"]["id"], c["a1_old"]["id"]]
    assert ids(client.get(f"{API}/cases", headers=auth("ca"))) == [c["c"]["id"]]
    assert ids(client.get(f"{API}/cases", headers=auth("admin"))) == ids(client.get(f"{API}/cases"))
    assert len(ids(client.get(f"{API}/cases"))) == 6
    # A region outside the caller's scope is not found.
    assert_error(client.get(f"{API}/cases?region=610925000000", headers=auth("pol-b")), 404)
    assert_error(client.get(f"{API}/cases?region={VILLAGE_A2}", headers=auth("va")), 404)


def test_list_roles(client):
    make_user("gw", "grid_worker", VILLAGE_A1,
              sql("select min(id) from members where village_code = :v", v=VILLAGE_A1).scalar())
    assert_error(client.get(f"{API}/cases", headers=auth("gw")), 403)
    assert_error(client.get(f"{API}/regions/{CITY}/cases/summary", headers=auth("gw")), 403)


# --- the summary ---

def expected_summary(region: str, start, end) -> dict:
    """The summary computed straight from the tables."""
    prefix = sql("select code from regions where code = :c", c=region).scalar()
    level = sql("select level from regions where code = :c", c=region).scalar()
    length = {"city": 4, "county": 6, "township": 9, "village": 12}[level]
    prefix = prefix[:length]
    per_village = {code: (int(n), float(loss)) for code, n, loss in sql("""
        select r.code, count(c.id), coalesce(sum(c.loss_yuan), 0) from regions r
        left join cases c on c.village_code = r.code and c.occurred_on between :s and :e
        where r.level = 'village' and r.code like :p group by r.code
    """, s=start, e=end, p=prefix + "%")}
    by_type = dict(sql("select type, count(*) from cases where village_code like :p and occurred_on between :s and :e "
                       "group by 1", p=prefix + "%", s=start, e=end).all())
    children = []
    child_level = {"city": "county", "county": "township", "township": "village"}.get(level)
    if child_level:
        child_length = {"county": 6, "township": 9, "village": 12}[child_level]
        for code, name in sql("select code, name from regions where level = :l and code like :p order by code",
                              l=child_level, p=prefix + "%"):
            mine = [v for k, v in per_village.items() if k[:child_length] == code[:child_length]]
            children.append({"code": code, "name": name, "cases": sum(n for n, _ in mine),
                             "loss_yuan": pytest.approx(sum(loss for _, loss in mine)),
                             "zero_cases": sum(n for n, _ in mine) == 0, "villages": len(mine),
                             "villages_with_zero_cases": sum(1 for n, _ in mine if n == 0)})
    return {"code": region, "from": start.isoformat(), "to": end.isoformat(),
            "cases": sum(n for n, _ in per_village.values()),
            "loss_yuan": pytest.approx(sum(loss for _, loss in per_village.values())), "by_type": by_type,
            "villages": len(per_village), "villages_with_zero_cases": sum(1 for n, _ in per_village.values() if n == 0),
            "children": children}


@pytest.mark.parametrize("region", [CITY, "610925000000", "610925100000", "610981100000", VILLAGE_A1, VILLAGE_B2])
def test_summary_against_sql(client, police, some_cases, region):
    t = today()
    start, end = t - timedelta(days=100), t - timedelta(days=1)
    response = client.get(f"{API}/regions/{region}/cases/summary?from={start}&to={end}", headers=police)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == expected_summary(region, start, end)
    # The default period: the last 365 days, today included.
    response = client.get(f"{API}/regions/{region}/cases/summary", headers=police)
    assert response.get_json() == expected_summary(region, t - timedelta(days=364), t)


def test_summary_figures(client, police, some_cases):
    t = today()
    summary = client.get(f"{API}/regions/{CITY}/cases/summary", headers=police).get_json()
    assert summary["from"] == (t - timedelta(days=364)).isoformat() and summary["to"] == t.isoformat()
    # The 400-day-old case is outside the default period.
    assert summary["cases"] == 5 and summary["loss_yuan"] == pytest.approx(500 + 1500.5 + 20000 + 300 + 42)
    assert summary["by_type"] == {"investment": 2, "romance": 1, "loan": 1, "other": 1}
    assert summary["villages"] == 38 and summary["villages_with_zero_cases"] == 38 - 4
    children = {c["code"]: c for c in summary["children"]}
    assert len(children) == 12
    assert children["610925000000"]["cases"] == 3 and children["610925000000"]["villages"] == 2
    assert children["610925000000"]["villages_with_zero_cases"] == 0
    assert children["610927000000"]["cases"] == 1 and children["610927000000"]["villages_with_zero_cases"] == 1
    assert not children["610927000000"]["zero_cases"]
    assert children["610902000000"] == {"code": "610902000000", "name": children["610902000000"]["name"], "cases": 0,
                                        "loss_yuan": 0, "zero_cases": True, "villages": 14,
                                        "villages_with_zero_cases": 14}
    assert sum(c["zero_cases"] for c in children.values()) == 12 - 3
    township = client.get(f"{API}/regions/610981100000/cases/summary", headers=police).get_json()
    assert [(c["code"], c["cases"], c["zero_cases"]) for c in township["children"]] == [
        ("610981100004", 0, True), ("610981100005", 0, True), ("610981100006", 1, False)]
    village = client.get(f"{API}/regions/{VILLAGE_A1}/cases/summary", headers=police).get_json()
    assert village["cases"] == 2 and village["children"] == [] and village["villages_with_zero_cases"] == 0


def test_summary_errors_and_scope(client, police, some_cases):
    t = today()
    response = client.get(f"{API}/regions/{CITY}/cases/summary?from={t}&to={t - timedelta(days=1)}", headers=police)
    assert_error(response, 422)
    assert_error(client.get(f"{API}/regions/610925100999/cases/summary", headers=police), 404)
    make_user("rev-b", "reviewer", "610927100000")
    headers = auth("rev-b")
    assert_error(client.get(f"{API}/regions/610925000000/cases/summary", headers=headers), 404)
    assert_error(client.get(f"{API}/regions/{CITY}/cases/summary", headers=headers), 404)
    own = client.get(f"{API}/regions/610927100000/cases/summary", headers=headers)
    assert own.status_code == 200 and own.get_json()["cases"] == 1
