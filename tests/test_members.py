"""Members: list, filters, GeoJSON, create/update with crs conversion, phone protection, scope, roles, audit."""
from __future__ import annotations

import pytest

from core.coords import to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from core.extensions import db
from core.personal_data import decrypt_phone
from tests.helpers import assert_error, bearer, first_village, one, pagination, sql

MEMBER_FIELDS = {"id", "name", "phone", "kind", "village_code", "home", "active"}
PASSWORD = "a-long-enough-password"
COUNTY_A = "610902"  # 汉滨区
COUNTY_B = "610921"  # 汉阴县


def village_in(county: str) -> str:
    return one("select code from regions where level = 'village' and code like :p order by code",
               p=county + "%").code


def interior_point(village_code: str) -> tuple[float, float]:
    """A WGS84 point safely inside a tier-3 cell of the village."""
    row = one("""
        select ST_X(c.center) as lon, ST_Y(c.center) as lat
        from grids g, ST_MaximumInscribedCircle(g.boundary) c
        where g.tier = 3 and g.village_code = :v order by g.code limit 1
    """, v=village_code)
    return row.lon, row.lat


def member_count() -> int:
    return sql("select count(*) from members").scalar()


def stored(member_id: int):
    return one("""
        select name, kind, village_code, county_code, active, phone_encrypted, phone_hash, phone_masked,
               ST_X(home) as lon, ST_Y(home) as lat
        from members where id = :id
    """, id=member_id)


def create_user(client, username: str, role: str, scope: str, member_id: int | None = None) -> None:
    body = {"username": username, "password": PASSWORD, "role": role, "scope": scope}
    if member_id is not None:
        body["member_id"] = member_id
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


def member_payload(village: str, **overrides) -> dict:
    lon, lat = interior_point(village)
    body = {"name": "张测试", "phone": "13812341234", "kind": "party_member", "village_code": village,
            "home": {"lon": lon, "lat": lat}}
    body.update(overrides)
    return body


def post_member(client, body: dict, headers: dict | None = None) -> dict:
    response = client.post("/api/v1/members", json=body, headers=headers or {})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def county_b_admin(app, client):
    """Headers of a county_admin scoped to 610921."""
    create_user(client, "county_b_admin", "county_admin", COUNTY_B + "000000")
    return {"Authorization": bearer(app, "county_b_admin")}


# --- list and read ---

def test_list_members_paginated(client):
    response = client.get("/api/v1/members?page=1&page_size=10")
    items = response.get_json()
    info = pagination(response)
    assert info["total"] == member_count() > 500
    assert info["page"] == 1 and info["total_pages"] == -(-info["total"] // 10)
    assert len(items) == 10
    assert all(set(item) == MEMBER_FIELDS for item in items)
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)
    second = client.get("/api/v1/members?page=2&page_size=10").get_json()
    assert not {i["id"] for i in items} & {i["id"] for i in second}


def test_list_members_never_shows_plain_phone(client):
    items = client.get("/api/v1/members?page_size=100").get_json()
    assert items
    for item in items:
        assert item["phone"] is None or (len(item["phone"]) == 11 and item["phone"][:7] == "*******"), item


def test_list_filter_by_region(client):
    for code, prefix in ((COUNTY_A + "000000", COUNTY_A), (village_in(COUNTY_B), village_in(COUNTY_B))):
        response = client.get(f"/api/v1/members?region={code}&page_size=1000")
        items = response.get_json()
        expected = sql("select count(*) from members where village_code like :p", p=prefix + "%").scalar()
        assert expected > 0
        assert pagination(response)["total"] == expected == len(items)
        assert all(item["village_code"].startswith(prefix) for item in items)


def test_list_filter_by_unknown_region_is_404(client):
    assert_error(client.get("/api/v1/members?region=610999000000"), 404)


def test_list_filter_by_kind(client):
    response = client.get("/api/v1/members?kind=village_secretary&page_size=1000")
    items = response.get_json()
    expected = sql("select count(*) from members where kind = 'village_secretary'").scalar()
    assert pagination(response)["total"] == expected == len(items) == 38
    assert {item["kind"] for item in items} == {"village_secretary"}
    assert_error(client.get("/api/v1/members?kind=boss"), 422, "kind", "query")


def test_list_filter_by_active(client):
    village = village_in(COUNTY_A)
    created = post_member(client, member_payload(village, active=False))
    inactive = client.get("/api/v1/members?active=false&page_size=1000").get_json()
    assert [item["id"] for item in inactive] == [created["id"]]
    assert inactive[0]["active"] is False
    active = client.get("/api/v1/members?active=true&page_size=1")
    assert pagination(active)["total"] == member_count() - 1


def test_list_filter_by_name(client):
    village = village_in(COUNTY_A)
    created = post_member(client, member_payload(village, name="欧阳测试员"))
    items = client.get("/api/v1/members?q=阳测试").get_json()
    assert [item["id"] for item in items] == [created["id"]]
    surname = one("select left(name, 1) as s from members order by id limit 1").s
    response = client.get(f"/api/v1/members?q={surname}&page_size=1000")
    expected = sql("select count(*) from members where name like :p", p=f"%{surname}%").scalar()
    assert pagination(response)["total"] == expected > 0
    assert all(surname in item["name"] for item in response.get_json())
    # LIKE wildcards are matched literally
    assert client.get("/api/v1/members?q=%25").get_json() == []


def test_list_combined_filters(client):
    response = client.get(f"/api/v1/members?region={COUNTY_A}000000&kind=township_cadre&page_size=100")
    items = response.get_json()
    assert len(items) == 15 * 3 == pagination(response)["total"]  # 15 per township, three townships
    assert all(i["kind"] == "township_cadre" and i["village_code"].startswith(COUNTY_A) for i in items)


def test_list_as_geojson(client):
    response = client.get(f"/api/v1/members?f=geojson&region={COUNTY_A}000000&page_size=1000")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json(force=True)
    assert body["type"] == "FeatureCollection"
    rows = {r.id: r for r in sql("select id, ST_X(home) as lon, ST_Y(home) as lat from members "
                                 "where village_code like :p", p=COUNTY_A + "%")}
    assert len(body["features"]) == len(rows) > 0
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        row = rows[feature["id"]]
        assert feature["properties"]["id"] == feature["id"]
        assert feature["geometry"]["coordinates"] == pytest.approx([row.lon, row.lat], abs=1e-9)
        assert feature["properties"]["phone"][:7] == "*******"


def test_list_as_geojson_by_accept_header(client):
    response = client.get("/api/v1/members?page_size=3", headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    body = response.get_json(force=True)
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 3


def test_get_member(client):
    row = one("select id, name, kind, village_code, phone_masked, ST_X(home) as lon, ST_Y(home) as lat "
              "from members order by id limit 1 offset 5")
    response = client.get(f"/api/v1/members/{row.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == MEMBER_FIELDS
    assert body["id"] == row.id and body["name"] == row.name and body["kind"] == row.kind
    assert body["village_code"] == row.village_code and body["active"] is True
    assert body["phone"] == row.phone_masked and "****" in body["phone"]
    assert body["home"]["type"] == "Point"
    assert body["home"]["coordinates"] == pytest.approx([row.lon, row.lat], abs=1e-9)


def test_get_unknown_member_is_404(client):
    assert_error(client.get("/api/v1/members/999999999"), 404)


def test_members_need_a_token(anonymous_client):
    assert anonymous_client.get("/api/v1/members").status_code == 401
    assert anonymous_client.post("/api/v1/members", json={}).status_code == 401


# --- create ---

def test_create_member_with_gcj02_geojson_home(client):
    village = village_in(COUNTY_A)
    wgs_lon, wgs_lat = interior_point(village)
    gcj_lon, gcj_lat = (float(v) for v in wgs84_to_gcj02(wgs_lon, wgs_lat))
    before = member_count()
    response = client.post("/api/v1/members", json={
        "name": "李网格", "phone": "13812341234", "kind": "grid_worker", "village_code": village,
        "home": {"type": "Point", "coordinates": [gcj_lon, gcj_lat], "crs": "gcj02"}})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == MEMBER_FIELDS
    assert body["name"] == "李网格"
    assert body["phone"] == "*******1234"
    assert body["kind"] == "grid_worker" and body["village_code"] == village and body["active"] is True
    assert member_count() == before + 1

    expected = to_wgs84(gcj_lon, gcj_lat, "gcj02")
    row = stored(body["id"])
    assert row.lon == pytest.approx(expected[0], abs=1e-7)
    assert row.lat == pytest.approx(expected[1], abs=1e-7)
    assert (row.lon, row.lat) == pytest.approx((wgs_lon, wgs_lat), abs=1e-6)
    assert abs(row.lon - gcj_lon) + abs(row.lat - gcj_lat) > 1e-3, "the gcj02 offset was removed"
    assert body["home"]["type"] == "Point"
    assert body["home"]["coordinates"] == pytest.approx(list(expected), abs=1e-7)
    assert row.county_code == COUNTY_A and row.village_code == village


def test_create_member_with_lon_lat_home(client):
    village = village_in(COUNTY_B)
    lon, lat = interior_point(village)
    body = post_member(client, {"name": "王五", "kind": "village_cadre", "village_code": village,
                                "home": {"lon": lon, "lat": lat}})
    row = stored(body["id"])
    assert (row.lon, row.lat) == pytest.approx((lon, lat), abs=1e-9)
    assert body["home"]["coordinates"] == pytest.approx([lon, lat], abs=1e-9)
    assert body["phone"] is None and row.phone_encrypted is None and row.phone_hash is None


def test_create_member_with_bd09_lon_lat_home(client):
    village = village_in(COUNTY_B)
    lon, lat = interior_point(village)
    bd_lon, bd_lat = (float(v) for v in wgs84_to_bd09(lon, lat))
    body = post_member(client, member_payload(village, home={"lon": bd_lon, "lat": bd_lat, "crs": "bd09"}))
    row = stored(body["id"])
    assert (row.lon, row.lat) == pytest.approx(to_wgs84(bd_lon, bd_lat, "bd09"), abs=1e-7)
    assert (row.lon, row.lat) == pytest.approx((lon, lat), abs=1e-6)


def test_create_member_without_home(client):
    body = post_member(client, {"name": "赵六", "kind": "party_member", "village_code": village_in(COUNTY_A)})
    assert body["home"] is None
    assert stored(body["id"]).lon is None


def test_phone_is_encrypted_hashed_and_masked(client):
    body = post_member(client, member_payload(village_in(COUNTY_A), phone="13812341234"))
    assert body["phone"] == "*******1234"
    row = stored(body["id"])
    assert row.phone_masked == "*******1234"
    ciphertext = bytes(row.phone_encrypted)
    assert b"13812341234" not in ciphertext
    assert decrypt_phone(ciphertext) == "13812341234"
    assert row.phone_hash and "13812341234" not in row.phone_hash
    # nothing in the row holds the plain number
    dump = one("select row_to_json(m)::text as dump from members m where id = :id", id=body["id"]).dump
    assert "13812341234" not in dump


def test_phone_hash_ignores_spaces_and_country_code(client):
    village = village_in(COUNTY_A)
    first = post_member(client, member_payload(village, phone="13912345678"))
    second = post_member(client, member_payload(village, name="同号", phone="+86 139 1234 5678"))
    third = post_member(client, member_payload(village, name="另号", phone="139-1234-5679"))
    a, b, c = stored(first["id"]), stored(second["id"]), stored(third["id"])
    assert a.phone_hash == b.phone_hash
    assert a.phone_hash != c.phone_hash
    assert second["phone"] == first["phone"] == "*******5678"
    assert decrypt_phone(bytes(b.phone_encrypted)) == "13912345678"
    assert bytes(a.phone_encrypted) != bytes(b.phone_encrypted)  # randomised encryption


def test_phone_masked_on_get_and_list(client):
    body = post_member(client, member_payload(village_in(COUNTY_A), name="遮蔽号码", phone="13800001111"))
    fetched = client.get(f"/api/v1/members/{body['id']}").get_json()
    assert fetched["phone"] == "*******1111"
    listed = client.get("/api/v1/members?q=遮蔽号码").get_json()
    assert [item["phone"] for item in listed] == ["*******1111"]
    geo = client.get("/api/v1/members?q=遮蔽号码&f=geojson").get_json(force=True)
    assert geo["features"][0]["properties"]["phone"] == "*******1111"
    for text_body in (client.get(f"/api/v1/members/{body['id']}").get_data(as_text=True),
                      client.get("/api/v1/members?q=遮蔽号码").get_data(as_text=True),
                      client.get("/api/v1/members?q=遮蔽号码&f=geojson").get_data(as_text=True)):
        assert "13800001111" not in text_body


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "boss"}, "kind"),
    ({"phone": "call me"}, "phone"),
    ({"phone": "12345"}, "phone"),
    ({"home": {"lon": 500, "lat": 32.5}}, "home"),
    ({"home": {"type": "Point", "coordinates": [116.4, 39.9]}}, "home"),  # Beijing: outside the city
    ({"home": {"lon": 109.0, "lat": 32.5, "crs": "utm"}}, "home"),
    ({"home": {"type": "LineString", "coordinates": [[109, 32.5], [109.1, 32.6]]}}, "home"),
    ({"home": {"lon": "109", "lat": 32.5}}, "home"),
    ({"name": ""}, "name"),
    ({"name": "x" * 51}, "name"),
    ({"name": "坏\x00名"}, "name"),
    ({"village_code": "6109"}, "village_code"),
])
def test_create_member_invalid_field(client, change, field):
    body = member_payload(village_in(COUNTY_A))
    body.update(change)
    before = member_count()
    assert_error(client.post("/api/v1/members", json=body), 422, field)
    assert member_count() == before


@pytest.mark.parametrize("field", ["name", "kind", "village_code"])
def test_create_member_missing_required_field(client, field):
    body = member_payload(village_in(COUNTY_A))
    del body[field]
    before = member_count()
    assert_error(client.post("/api/v1/members", json=body), 422, field)
    assert member_count() == before


@pytest.mark.parametrize("region", ["610902001000", "610902000000", "610900000000", "610902001099"])
def test_create_member_village_code_must_be_a_village(client, region):
    """A township, county, city or unknown code is not a village."""
    before = member_count()
    assert_error(client.post("/api/v1/members", json=member_payload(village_in(COUNTY_A), village_code=region)),
                 422, "village_code")
    assert member_count() == before


@pytest.mark.parametrize("name", ["   ", "\t\n"])
def test_create_member_blank_name_is_rejected(client, name):
    before = member_count()
    assert_error(client.post("/api/v1/members", json=member_payload(village_in(COUNTY_A), name=name)),
                 422, "name")
    assert member_count() == before


def test_create_member_name_is_stripped(client):
    body = post_member(client, member_payload(village_in(COUNTY_A), name="李网格  "))
    assert body["name"] == "李网格" == stored(body["id"]).name


@pytest.mark.parametrize("method", ["post", "patch"])
def test_name_with_leading_whitespace_is_accepted_and_stripped(client, method):
    village = village_in(COUNTY_A)
    if method == "post":
        response = client.post("/api/v1/members", json=member_payload(village, name="  李网格  "))
        assert response.status_code == 201, response.get_data(as_text=True)
    else:
        created = post_member(client, member_payload(village))
        response = client.patch(f"/api/v1/members/{created['id']}", json={"name": " 李网格"})
        assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "李网格" == stored(body["id"]).name


# --- update ---

def test_patch_member_changes_fields(client):
    village_a, village_b = village_in(COUNTY_A), village_in(COUNTY_B)
    created = post_member(client, member_payload(village_a))
    lon, lat = interior_point(village_b)
    gcj_lon, gcj_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    response = client.patch(f"/api/v1/members/{created['id']}", json={
        "name": "新名字", "kind": "village_cadre", "village_code": village_b, "active": False,
        "home": {"type": "Point", "coordinates": [gcj_lon, gcj_lat], "crs": "gcj02"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "新名字" and body["kind"] == "village_cadre"
    assert body["village_code"] == village_b and body["active"] is False
    assert body["phone"] == "*******1234"  # unchanged, still masked
    row = stored(created["id"])
    assert row.name == "新名字" and row.kind == "village_cadre" and row.active is False
    assert row.village_code == village_b and row.county_code == COUNTY_B
    assert (row.lon, row.lat) == pytest.approx(to_wgs84(gcj_lon, gcj_lat, "gcj02"), abs=1e-7)
    assert client.get(f"/api/v1/members/{created['id']}").get_json() == body


def test_patch_member_new_phone_is_masked_and_encrypted(client):
    created = post_member(client, member_payload(village_in(COUNTY_A), phone="13812341234"))
    old = stored(created["id"])
    response = client.patch(f"/api/v1/members/{created['id']}", json={"phone": "+86 159 8765 4321"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["phone"] == "*******4321"
    assert "15987654321" not in response.get_data(as_text=True)
    row = stored(created["id"])
    assert row.phone_masked == "*******4321"
    assert decrypt_phone(bytes(row.phone_encrypted)) == "15987654321"
    assert row.phone_hash != old.phone_hash
    assert client.get(f"/api/v1/members/{created['id']}").get_json()["phone"] == "*******4321"


def test_patch_member_can_clear_phone_and_home(client):
    created = post_member(client, member_payload(village_in(COUNTY_A)))
    body = client.patch(f"/api/v1/members/{created['id']}", json={"phone": None, "home": None}).get_json()
    assert body["phone"] is None and body["home"] is None
    row = stored(created["id"])
    assert row.phone_encrypted is None and row.phone_hash is None and row.phone_masked is None
    assert row.lon is None


def test_patch_member_partial_keeps_other_fields(client):
    created = post_member(client, member_payload(village_in(COUNTY_A)))
    body = client.patch(f"/api/v1/members/{created['id']}", json={"active": False}).get_json()
    assert body == {**created, "active": False}


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "boss"}, "kind"),
    ({"phone": "not a phone"}, "phone"),
    ({"name": "   "}, "name"),
    ({"home": {"lon": 500, "lat": 32}}, "home"),
    ({"home": {"lon": 2.35, "lat": 48.85}}, "home"),
    ({"village_code": "610902001000"}, "village_code"),
    ({"village_code": "610902001099"}, "village_code"),
])
def test_patch_member_invalid_changes_nothing(client, change, field):
    created = post_member(client, member_payload(village_in(COUNTY_A)))
    before = stored(created["id"])
    assert_error(client.patch(f"/api/v1/members/{created['id']}", json=change), 422, field)
    assert stored(created["id"]) == before


def test_patch_unknown_member_is_404(client):
    assert_error(client.patch("/api/v1/members/999999999", json={"active": False}), 404)


# --- scope ---

def test_county_admin_cannot_read_or_change_member_of_another_county(client, county_b_admin):
    member = one("select id, name from members where village_code like :p order by id limit 1", p=COUNTY_A + "%")
    assert_error(client.get(f"/api/v1/members/{member.id}", headers=county_b_admin), 404)
    assert_error(client.patch(f"/api/v1/members/{member.id}", json={"name": "越权"}, headers=county_b_admin), 404)
    assert one("select name from members where id = :id", id=member.id).name == member.name
    # the city admin still sees it
    assert client.get(f"/api/v1/members/{member.id}").status_code == 200


def test_county_admin_reads_and_changes_own_member(client, county_b_admin):
    member = one("select id from members where village_code like :p order by id limit 1", p=COUNTY_B + "%")
    assert client.get(f"/api/v1/members/{member.id}", headers=county_b_admin).status_code == 200
    response = client.patch(f"/api/v1/members/{member.id}", json={"name": "本县"}, headers=county_b_admin)
    assert response.status_code == 200 and response.get_json()["name"] == "本县"


def test_county_admin_cannot_create_member_in_another_county(client, county_b_admin):
    before = member_count()
    response = client.post("/api/v1/members", json=member_payload(village_in(COUNTY_A)), headers=county_b_admin)
    assert_error(response, 422, "village_code")
    assert member_count() == before
    created = post_member(client, member_payload(village_in(COUNTY_B)), headers=county_b_admin)
    assert created["village_code"].startswith(COUNTY_B)


def test_county_admin_cannot_move_member_out_of_county(client, county_b_admin):
    member = one("select id, village_code from members where village_code like :p order by id limit 1",
                 p=COUNTY_B + "%")
    response = client.patch(f"/api/v1/members/{member.id}", json={"village_code": village_in(COUNTY_A)},
                            headers=county_b_admin)
    assert_error(response, 422, "village_code")
    assert one("select village_code from members where id = :id", id=member.id).village_code == member.village_code


def test_county_admin_lists_only_own_county(client, county_b_admin):
    response = client.get("/api/v1/members?page_size=1000", headers=county_b_admin)
    items = response.get_json()
    expected = sql("select count(*) from members where village_code like :p", p=COUNTY_B + "%").scalar()
    assert pagination(response)["total"] == expected == len(items) > 0
    assert all(item["village_code"].startswith(COUNTY_B) for item in items)
    geo = client.get("/api/v1/members?page_size=1000&f=geojson", headers=county_b_admin).get_json(force=True)
    assert len(geo["features"]) == expected
    # a filter naming another county finds nothing (it is out of scope)
    other = client.get(f"/api/v1/members?region={COUNTY_A}000000", headers=county_b_admin)
    assert_error(other, 404)


@pytest.mark.parametrize("role", ["grid_worker", "police"])
def test_grid_worker_and_police_may_not_use_members(app, client, role):
    village = village_in(COUNTY_B)
    if role == "grid_worker":
        member_id = one("select id from members where village_code = :v order by id limit 1", v=village).id
        create_user(client, "field_user", "grid_worker", village, member_id)
    else:
        create_user(client, "field_user", "police", COUNTY_B + "000000")
    headers = {"Authorization": bearer(app, "field_user")}
    before = member_count()
    assert_error(client.post("/api/v1/members", json=member_payload(village), headers=headers), 403)
    assert member_count() == before
    assert_error(client.get("/api/v1/members", headers=headers), 403)
    some_id = one("select id from members where village_code = :v order by id limit 1", v=village).id
    assert_error(client.get(f"/api/v1/members/{some_id}", headers=headers), 403)
    assert_error(client.patch(f"/api/v1/members/{some_id}", json={"active": False}, headers=headers), 403)


def test_reviewer_reads_but_may_not_write(app, client):
    create_user(client, "reviewer_b", "reviewer", COUNTY_B + "000000")
    headers = {"Authorization": bearer(app, "reviewer_b")}
    assert client.get("/api/v1/members", headers=headers).status_code == 200
    assert_error(client.post("/api/v1/members", json=member_payload(village_in(COUNTY_B)), headers=headers), 403)


# --- audit ---

def test_member_create_and_update_are_audited(client):
    created = post_member(client, member_payload(village_in(COUNTY_A), phone="13712345678"))
    response = client.patch(f"/api/v1/members/{created['id']}",
                            json={"name": "改名", "phone": "13787654321", "active": False})
    assert response.status_code == 200
    audit = client.get(f"/api/v1/audit?object_type=member&object_id={created['id']}")
    assert audit.status_code == 200, audit.get_data(as_text=True)
    entries = audit.get_json()
    assert [e["action"] for e in entries] == ["member.update", "member.create"]  # newest first
    assert all(e["actor"] == "admin" and e["object_type"] == "member" and e["object_id"] == str(created["id"])
               and e["region_code"] == created["village_code"] for e in entries)
    assert entries[1]["details"] == {"kind": "party_member"}
    assert entries[0]["details"] == {"fields": ["active", "name", "phone"]}
    text_body = audit.get_data(as_text=True)
    assert "13712345678" not in text_body and "13787654321" not in text_body
    all_members = client.get("/api/v1/audit?object_type=member").get_json()
    assert {e["object_type"] for e in all_members} == {"member"}
    assert entries[0]["id"] == all_members[0]["id"]


def test_geojson_list_is_paginated_too(client):
    response = client.get("/api/v1/members?f=geojson&page_size=7&page=2")
    assert pagination(response)["total"] == member_count()
    assert pagination(response)["page"] == 2
    assert len(response.get_json(force=True)["features"]) == 7


def test_page_size_is_capped(client):
    assert_error(client.get("/api/v1/members?page_size=1001"), 422, "page_size", "query")
    assert pagination(client.get("/api/v1/members?page_size=1000"))["total"] == member_count()


def test_patch_with_one_bad_field_changes_nothing(client):
    created = post_member(client, member_payload(village_in(COUNTY_A)))
    before = stored(created["id"])
    response = client.patch(f"/api/v1/members/{created['id']}",
                            json={"name": "不应保存", "active": False, "village_code": "610902001000"})
    assert_error(response, 422, "village_code")
    # Within a test every request shares the test's app context and session (conftest), so the
    # request-end teardown (session.remove(): roll back whatever was flushed but not committed)
    # is done here; what the service committed would survive it.
    db.session.remove()
    assert stored(created["id"]) == before
    assert client.get(f"/api/v1/members/{created['id']}").get_json() == created


def test_reviewer_may_not_patch(app, client):
    create_user(client, "reviewer_p", "reviewer", COUNTY_B + "000000")
    member = one("select id from members where village_code like :p order by id limit 1", p=COUNTY_B + "%").id
    response = client.patch(f"/api/v1/members/{member}", json={"active": False},
                            headers={"Authorization": bearer(app, "reviewer_p")})
    assert_error(response, 403)


def test_village_admin_is_limited_to_own_village(app, client):
    own, other = (r.code for r in sql("select code from regions where level = 'village' and code like '610925%' "
                                      "order by code"))
    create_user(client, "village_admin_x", "village_admin", own)
    headers = {"Authorization": bearer(app, "village_admin_x")}
    created = post_member(client, member_payload(own), headers=headers)
    assert created["village_code"] == own
    before = member_count()
    assert_error(client.post("/api/v1/members", json=member_payload(other), headers=headers), 422, "village_code")
    assert member_count() == before
    neighbour = one("select id from members where village_code = :v order by id limit 1", v=other).id
    assert_error(client.get(f"/api/v1/members/{neighbour}", headers=headers), 404)
    items = client.get("/api/v1/members?page_size=1000", headers=headers).get_json()
    assert items and {item["village_code"] for item in items} == {own}


@pytest.mark.parametrize("phone,masked", [("87654321", "****4321"), ("1234567", "***4567"),
                                          ("008613812345678", "***********5678")])
def test_a_masked_phone_never_shows_more_than_the_last_four_digits(client, phone, masked):
    response = client.post("/api/v1/members", json={"name": "八位", "phone": phone, "kind": "party_member",
                                                    "village_code": first_village("610902")})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone"] == masked
    assert sum(character.isdigit() for character in masked) <= 4
