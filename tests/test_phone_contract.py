"""The phone contract: the published OpenAPI document describes a visit, a new household, a worklist
item and a warning event with their enums, real sync bodies validate against it (openapi-schema-validator,
as a generated client would check them) and what the schema forbids the server rejects; the worklist in
GCJ-02 / BD-09; the other content types of responses are documented; field, per-visit and import errors
come in zh-CN and en."""
from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import refresh
from openapi_schema_validator import OAS30Validator

from core.coords import wgs84_to_bd09, wgs84_to_gcj02
from tests.helpers import auth, make_user, sql
from tests.test_visits_sync import inside, lone_chiefs, make_phone

API = "/api/v1"
SYNC = f"{API}/visits/sync"


@pytest.fixture(scope="module")
def spec(app):
    response = app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def validator(spec: dict, schema: dict) -> OAS30Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in the published document."""
    return OAS30Validator({**schema, "components": spec["components"]}, format_checker=OAS30Validator.FORMAT_CHECKER)


def component(spec: dict, name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def request_schema(spec: dict, path: str, method: str = "post") -> dict:
    return spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def response_schema(spec: dict, path: str, method: str = "get", content: str = "application/json") -> dict:
    return spec["paths"][path][method]["responses"]["200"]["content"][content]["schema"]


def errors_of(spec: dict, schema: dict, instance) -> list[str]:
    return [error.message for error in validator(spec, schema).iter_errors(instance)]


@pytest.fixture
def phone(db_session):
    return make_phone("contract", lone_chiefs()[0])


def full_visit(phone, **fields) -> dict:
    lon, lat = (float(v) for v in wgs84_to_gcj02(phone.lon, phone.lat))
    body = {"id": str(uuid.uuid4()), "household_id": phone.households[0], "grid_code": phone.grid,
            "visited_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(), "outcome": "completed",
            "location": {"lon": lon, "lat": lat, "crs": "gcj02", "accuracy_m": 12.5, "mocked": False},
            "topics": ["investment", "app_install"], "app_installed": True, "residents_reached": 2,
            "vulnerable_reached": 1, "notes": "讲了刷单诈骗\n下周再来"}
    body.update(fields)
    return body


def found_visit(phone, geojson: bool) -> dict:
    visit = full_visit(phone, household_id=None)
    del visit["household_id"]
    lon, lat = (float(v) for v in wgs84_to_bd09(*inside(phone.grid)))
    where = {"type": "Point", "coordinates": [lon, lat], "crs": "bd09"} if geojson else \
        {"lon": lon, "lat": lat, "crs": "bd09"}
    visit["new_household"] = {"location": where, "address": "新村 3 号", "residents": 3,
                              "tags": ["elderly", "left_behind"]}
    return visit


# --- the published schemas ---

def test_a_visit_is_described_field_by_field_with_enums(spec):
    schemas = spec["components"]["schemas"]
    visit = schemas["VisitIn"]
    assert set(visit["properties"]) == {"id", "household_id", "new_household", "grid_code", "visited_at", "outcome",
                                        "location", "topics", "app_installed", "residents_reached",
                                        "vulnerable_reached", "notes"}
    assert visit["additionalProperties"] is False and set(visit["required"]) >= {"id", "grid_code", "visited_at",
                                                                                 "outcome", "location"}
    assert visit["properties"]["outcome"]["enum"] == ["completed", "nobody_home", "refused"]
    assert "investment" in visit["properties"]["topics"]["items"]["enum"]
    location = schemas["VisitLocation"]
    assert location["properties"]["crs"]["enum"] == ["wgs84", "cgcs2000", "gcj02", "bd09"]
    assert "elderly_alone" in schemas["NewHousehold"]["properties"]["tags"]["items"]["enum"]
    sync = request_schema(spec, "/api/v1/visits/sync")
    body = schemas[sync["$ref"].rsplit("/", 1)[1]]
    assert body["properties"]["visits"]["items"]["$ref"].endswith("/VisitIn")
    result = schemas["SyncResult"]["properties"]
    assert result["status"]["enum"] == ["created", "duplicate", "conflict", "rejected"]
    assert "not_assigned" in result["flags"]["items"]["enum"]
    household = schemas["WorklistHousehold"]["properties"]
    assert household["location"]["properties"]["type"]["enum"] == ["Point"]
    assert "student" in household["tags"]["items"]["enum"]
    event = schemas["WarningEvent"]["properties"]
    assert event["type"]["enum"] == ["acknowledged", "called", "met", "outcome"]
    assert "false_alarm" in event["outcome"]["enum"]
    checklist = schemas["Checklist"]
    assert set(checklist["properties"]) == {"screen_sharing", "verification_codes_given", "transfers_made",
                                            "unknown_apps_installed", "links_clicked"}
    assert checklist["additionalProperties"] is False


def test_real_sync_bodies_validate_against_the_published_schema(client, spec, phone):
    visits = [full_visit(phone), found_visit(phone, geojson=True), found_visit(phone, geojson=False),
              {"id": str(uuid.uuid4()), "household_id": phone.households[1], "grid_code": phone.grid,
               "visited_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(), "outcome": "nobody_home",
               "location": {"lon": phone.lon, "lat": phone.lat}}]
    body = {"visits": visits, "sent_at": datetime.now(UTC).isoformat()}
    assert errors_of(spec, request_schema(spec, "/api/v1/visits/sync"), body) == []
    response = client.post(SYNC, json=body, headers=phone.headers)
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == ["created"] * 4
    assert errors_of(spec, response_schema(spec, "/api/v1/visits/sync", "post"), response.get_json()) == []


def _set(path, value):
    def change(visit):
        node = visit
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


BROKEN = {
    "unknown outcome": _set(["outcome"], "maybe"),
    "unknown crs": _set(["location", "crs"], "epsg3857"),
    "lon 500": _set(["location", "lon"], 500),
    "negative accuracy": _set(["location", "accuracy_m"], -1),
    "unknown field": _set(["colour"], "red"),
    "unknown field in location": _set(["location", "altitude"], 3),
    "malformed grid code": _set(["grid_code"], "not-a-cell"),
    "not a uuid": _set(["id"], "visit-1"),
    "no offset": _set(["visited_at"], "2026-01-01T10:00:00"),
    "unknown topic": _set(["topics"], ["weather"]),
    "residents_reached 101": _set(["residents_reached"], 101),
    "notes with a control character": _set(["notes"], "a\x07b"),
    "notes too long": _set(["notes"], "x" * 1001),
    "mocked not a boolean": _set(["location", "mocked"], "perhaps"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_what_the_schema_forbids_the_server_rejects(client, spec, phone, kind):
    visit = full_visit(phone)
    BROKEN[kind](visit)
    assert errors_of(spec, component(spec, "VisitIn"), visit), "the published schema should forbid it"
    response = client.post(SYNC, json={"visits": [visit]}, headers=phone.headers)
    [result] = response.get_json()["results"]
    assert result["status"] == "rejected", result


def test_warning_event_bodies_validate(spec):
    schema = request_schema(spec, "/api/v1/warnings/{warning_id}/events")
    at = datetime.now(UTC).isoformat()
    good = [{"id": str(uuid.uuid4()), "type": "called", "at": at},
            {"id": str(uuid.uuid4()), "type": "outcome", "at": at, "outcome": "transferred", "amount_yuan": 5000,
             "stop_payment_requested": True, "checklist": {"screen_sharing": True, "links_clicked": False}}]
    for body in good:
        assert errors_of(spec, schema, body) == []
    for bad in ({**good[0], "type": "lunch"}, {**good[1], "checklist": {"password_shared": True}},
                {**good[1], "outcome": "vanished"}):
        assert errors_of(spec, schema, bad)


# --- the worklist in the phone's datum ---

@pytest.mark.parametrize("crs, forward", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_worklist_in_the_datum_asked_for(client, spec, phone, crs, forward):
    plain = client.get(f"{API}/me/worklist", headers=phone.headers).get_json()
    response = client.get(f"{API}/me/worklist", query_string={"crs": crs}, headers=phone.headers)
    assert response.status_code == 200
    shifted = response.get_json()
    assert (plain["crs"], shifted["crs"]) == ("wgs84", crs)
    assert errors_of(spec, response_schema(spec, "/api/v1/me/worklist"), shifted) == []
    assert [h["id"] for h in shifted["households"]] == [h["id"] for h in plain["households"]]
    for before, after in zip(plain["households"], shifted["households"], strict=True):
        expected = [float(v) for v in forward(*before["location"]["coordinates"])]
        assert after["location"]["coordinates"] == pytest.approx(expected, abs=2e-7)
        assert after["location"]["coordinates"] != before["location"]["coordinates"]
    ring_before = plain["cells"][0]["geometry"]["coordinates"][0]
    ring_after = shifted["cells"][0]["geometry"]["coordinates"][0]
    assert len(ring_after) == len(ring_before)
    for point_before, point_after in zip(ring_before[0] if isinstance(ring_before[0][0], list) else ring_before,
                                         ring_after[0] if isinstance(ring_after[0][0], list) else ring_after,
                                         strict=True):
        assert point_after == pytest.approx([float(v) for v in forward(*point_before)], abs=2e-7)


def test_worklist_with_an_unknown_datum_is_422(client, phone):
    response = client.get(f"{API}/me/worklist", query_string={"crs": "epsg3857"}, headers=phone.headers)
    assert response.status_code == 422 and "crs" in response.get_json()["errors"]["query"]


# --- other content types ---

GEOJSON_OPERATIONS = [("/api/v1/regions", "collection"), ("/api/v1/regions/{code}", "feature"),
                      ("/api/v1/grids", "collection"), ("/api/v1/grids/{code}", "feature"),
                      ("/api/v1/households", "collection"), ("/api/v1/members", "collection"),
                      ("/api/v1/coverage", "collection")]


@pytest.mark.parametrize("path, kind", GEOJSON_OPERATIONS)
def test_geojson_answers_are_documented_and_conform(client, spec, path, kind):
    content = spec["paths"][path]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/geo+json"} <= set(content)
    url = path.replace("{code}", "610981100004" if path.startswith("/api/v1/regions") else "610981100004-01-01")
    response = client.get(url, query_string={"f": "geojson", "page_size": 5}
                          if "{" not in path else {"f": "geojson"})
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert errors_of(spec, content["application/geo+json"]["schema"], response.get_json()) == []


def test_coverage_exports_are_documented(spec):
    content = spec["paths"]["/api/v1/coverage"]["get"]["responses"]["200"]["content"]
    assert {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(content)


# --- errors in zh-CN and en ---

ZH = {"Accept-Language": "zh-CN"}


def test_per_visit_errors_are_translated(client, phone):
    old = full_visit(phone, visited_at=(datetime.now(UTC) - timedelta(days=40)).isoformat())
    bad = full_visit(phone, outcome="maybe", colour="red")
    del bad["grid_code"]
    for language, expected in (("zh-CN", ("早于 30 天。", "必须是以下之一：completed, nobody_home, refused。",
                                          "未知字段。", "缺少必填字段。")),
                               ("en", ("Older than 30 days.", "Must be one of: completed, nobody_home, refused.",
                                       "Unknown field.", "Missing data for required field."))):
        refresh()  # (the tests share one app context, where flask-babel keeps the request's locale)
        response = client.post(SYNC, json={"visits": [copy.deepcopy(old), copy.deepcopy(bad)]},
                               headers={**phone.headers, "Accept-Language": language})
        first, second = response.get_json()["results"]
        assert first["errors"] == {"visited_at": [expected[0]]}
        assert second["errors"] == {"outcome": [expected[1]], "colour": [expected[2]], "grid_code": [expected[3]]}


def test_field_errors_are_translated(client):
    response = client.post(f"{API}/households", json={"residents": 500, "colour": "red"}, headers=ZH)
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] != "The input is invalid; see the field errors."
    assert body["errors"]["json"] == {"location": ["缺少必填字段。"], "colour": ["未知字段。"],
                                      "residents": ["必须大于或等于 0 且小于或等于 100。"]}


def test_import_errors_are_translated(client):
    csv = "lon,lat,residents,tags\nabc,32.7,1,\n108.9,32.7,7,weather\n"
    response = client.post(f"{API}/households/import", data=csv.encode(), content_type="text/csv",
                           query_string={"dry_run": "true"}, headers=ZH)
    assert response.status_code == 200, response.get_data(as_text=True)
    rejected = response.get_json()["rejected"]
    assert rejected[0]["errors"] == {"lon": ["不是数字。"]}
    assert rejected[1]["errors"]["tags"][0].startswith("未知标签：weather")
    feature = {"type": "Feature", "properties": {"code": "610981100004-01-01", "tier": 2, "name": "x"},
               "geometry": {"type": "Polygon", "coordinates": [[[108, 32], [108.1, 32], [108.1, 32.1], [108, 32]]]}}
    response = client.post(f"{API}/grids/import", json={"type": "FeatureCollection", "features": [feature]},
                           query_string={"dry_run": "true"}, headers=ZH)
    [rejection] = response.get_json()["rejected"]
    assert rejection["message"] == "编码 610981100004-01-01 不是 2 级网格的编码"


def test_a_worker_account_is_needed(client, db_session):
    make_user("contract_admin", "county_admin", "610981000000")
    assert client.get(f"{API}/me/worklist", query_string={"crs": "gcj02"},
                      headers=auth("contract_admin")).status_code == 403
    assert sql("select 1").scalar() == 1
