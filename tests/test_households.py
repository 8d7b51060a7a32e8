"""Households: placement in the tier-3 cell, crs conversion, tags, rollups, filters, scope and CSV import."""
from __future__ import annotations

import io

import numpy as np
import pytest

from config import CITY_BBOX
from core.coords import to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from tests.helpers import assert_error, bearer, one, pagination, sql

HOUSEHOLD_FIELDS = {"id", "grid_code", "village_code", "location", "address", "residents", "tags", "updated_at",
                    "external_id", "removed_at"}
RESULT_FIELDS = {"rows", "accepted", "rejected", "written", "dry_run"}
PASSWORD = "a-long-enough-password"
COUNTY_A = "610902"
COUNTY_B = "610921"
HEADER = "lon,lat,crs,address,residents,tags"
BOM = b"\xef\xbb\xbf"


def household_count() -> int:
    return sql("select count(*) from households").scalar()


def cells(count: int, county: str | None = None, offset: int = 0) -> list:
    """Tier-3 cells with a point safely inside each (centre of the largest inscribed circle)."""
    return sql("""
        select g.code, g.parent_code, g.village_code, ST_X(c.center) as lon, ST_Y(c.center) as lat
        from grids g, ST_MaximumInscribedCircle(g.boundary) c
        where g.tier = 3 and (cast(:county as text) is null or g.village_code like :county || '%')
        order by g.code limit :n offset :offset
    """, county=county, n=count, offset=offset).all()


def cell_covering(lon: float, lat: float) -> str | None:
    """The tier-3 cell covering a WGS84 point, straight from SQL (lowest code on a shared edge)."""
    row = one("select code from grids where tier = 3 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
              "order by code limit 1", x=lon, y=lat)
    return row.code if row else None


def households_of(grid_code: str) -> int:
    return one("select households from grids where code = :c", c=grid_code).households


def region_households(code: str) -> int:
    return one("select households from regions where code = :c", c=code).households


def create_user(client, username: str, role: str, scope: str, member_id: int | None = None) -> None:
    body = {"username": username, "password": PASSWORD, "role": role, "scope": scope}
    if member_id is not None:
        body["member_id"] = member_id
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.fixture
def county_b_admin(app, client):
    create_user(client, "hh_county_b", "county_admin", COUNTY_B + "000000")
    return {"Authorization": bearer(app, "hh_county_b")}


@pytest.fixture
def gap_point():
    """A WGS84 point inside the city's bounding box (where points are accepted) but in no tier-3 cell."""
    row = one("""
        with u as (select ST_Union(boundary) as g from grids where tier = 3),
        d as (select (ST_Dump(ST_Difference(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), u.g))).geom as g from u)
        select ST_X(c.center) as lon, ST_Y(c.center) as lat
        from d, ST_MaximumInscribedCircle(d.g) c order by c.radius desc limit 1
    """, **dict(zip(("x0", "y0", "x1", "y1"), CITY_BBOX, strict=True)))
    if row is None or cell_covering(row.lon, row.lat) is not None:
        pytest.skip("no point between cells in this data set")
    return row.lon, row.lat


def shifted_point(crs: str):
    """A household point whose ``crs`` coordinates, read naively as WGS84, fall in another cell.

    Returns (wgs lon, wgs lat, crs lon, crs lat, true cell); placing the crs coordinates
    without converting them would put the household in the wrong cell.
    """
    rows = sql("""
        select h.id, ST_X(h.location) as lon, ST_Y(h.location) as lat, h.grid_code
        from households h join grids g on g.code = h.grid_code
        where ST_Distance(ST_Boundary(g.boundary), h.location) > 1e-4
        order by h.id limit 3000
    """).all()
    lon = np.array([r.lon for r in rows])
    lat = np.array([r.lat for r in rows])
    forward = wgs84_to_gcj02 if crs == "gcj02" else wgs84_to_bd09
    x, y = forward(lon, lat)
    naive = sql("""
        select t.i, (select code from grids g where g.tier = 3
                     and ST_Covers(g.boundary, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326)) order by code limit 1) as code
        from unnest(cast(:x as float8[]), cast(:y as float8[])) with ordinality as t(x, y, i)
    """, x=x.tolist(), y=y.tolist()).all()
    for i, code in naive:
        row = rows[i - 1]
        if code != row.grid_code:
            return row.lon, row.lat, float(x[i - 1]), float(y[i - 1]), row.grid_code
    pytest.skip(f"no household whose {crs} shift crosses a cell edge")


# --- POST /households ---

@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09", "cgcs2000"])
def test_create_household_is_placed_in_covering_cell(client, crs):
    cell = cells(1, offset=11)[0]
    lon, lat = cell.lon, cell.lat
    if crs == "gcj02":
        lon, lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    elif crs == "bd09":
        lon, lat = (float(v) for v in wgs84_to_bd09(lon, lat))
    before = household_count()
    response = client.post("/api/v1/households", json={
        "location": {"type": "Point", "coordinates": [lon, lat], "crs": crs},
        "address": "安康市汉滨区测试路1号", "residents": 3, "tags": ["elderly", "student", "elderly"]})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == HOUSEHOLD_FIELDS
    assert household_count() == before + 1
    row = one("select grid_code, village_code, county_code, ST_X(location) as lon, ST_Y(location) as lat, "
              "address, residents, tags from households where id = :id", id=body["id"])
    assert (row.lon, row.lat) == pytest.approx(to_wgs84(lon, lat, crs), abs=1e-7)
    assert (row.lon, row.lat) == pytest.approx((cell.lon, cell.lat), abs=1e-6)
    assert row.grid_code == body["grid_code"] == cell_covering(row.lon, row.lat) == cell.code
    assert row.village_code == body["village_code"] == cell.village_code
    assert row.county_code == cell.village_code[:6]
    assert body["location"]["coordinates"] == pytest.approx([row.lon, row.lat], abs=1e-9)
    assert row.address == body["address"] == "安康市汉滨区测试路1号"
    assert row.residents == body["residents"] == 3
    assert row.tags == body["tags"] == ["elderly", "student"]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_create_household_converts_crs_before_placing(client, crs):
    wgs_lon, wgs_lat, lon, lat, cell = shifted_point(crs)
    assert cell_covering(lon, lat) != cell  # the naive reading would land elsewhere
    response = client.post("/api/v1/households", json={"location": {"lon": lon, "lat": lat, "crs": crs}})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["grid_code"] == cell
    assert body["location"]["coordinates"] == pytest.approx([wgs_lon, wgs_lat], abs=1e-6)
    assert body["residents"] == 1 and body["tags"] == [] and body["address"] is None


def test_create_household_lon_lat_form(client):
    cell = cells(1, county=COUNTY_B)[0]
    response = client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat}})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["grid_code"] == cell.code


def test_create_household_updates_rollups(client):
    cell = cells(1, offset=40)[0]
    village = cell.village_code
    tier2, tier1 = cell.parent_code, village + "-00-00"
    regions = [village, village[:9] + "000", village[:6] + "000000", "610900000000"]
    grid_before = {code: client.get(f"/api/v1/grids/{code}").get_json()["households"]
                   for code in (cell.code, tier2, tier1)}
    region_before = {code: client.get(f"/api/v1/regions/{code}").get_json()["households"] for code in regions}
    response = client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat}})
    assert response.status_code == 201
    for code, count in grid_before.items():
        assert client.get(f"/api/v1/grids/{code}").get_json()["households"] == count + 1, code
    for code, count in region_before.items():
        assert client.get(f"/api/v1/regions/{code}").get_json()["households"] == count + 1, code
    # the counters agree with a recount
    assert households_of(cell.code) == sql("select count(*) from households where grid_code = :c",
                                           c=cell.code).scalar()
    # another village is untouched
    other = one("select code, households from regions where level = 'village' and code <> :v order by code",
                v=village)
    assert client.get(f"/api/v1/regions/{other.code}").get_json()["households"] == other.households


@pytest.mark.parametrize("tags", [["alien"], ["elderly", "vip"], "elderly"])
def test_create_household_unknown_tag_is_rejected(client, tags):
    cell = cells(1)[0]
    before = household_count()
    assert_error(client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat},
                                                         "tags": tags}), 422, "tags")
    assert household_count() == before


@pytest.mark.parametrize(("change", "field"), [
    ({"location": {"lon": 116.4, "lat": 39.9}}, "location"),  # Beijing
    ({"location": {"lon": 500, "lat": 32.5}}, "location"),
    ({"location": {"lon": 109.0, "lat": 32.5, "crs": "utm"}}, "location"),
    ({"location": {"type": "Polygon", "coordinates": [[[109, 32], [109.1, 32], [109, 32.1], [109, 32]]]}},
     "location"),
    ({"location": None}, "location"),
    ({"residents": -1}, "residents"),
    ({"residents": 101}, "residents"),
    ({"residents": "many"}, "residents"),
    ({"address": "路" * 201}, "address"),
])
def test_create_household_invalid_input(client, change, field):
    cell = cells(1)[0]
    body = {"location": {"lon": cell.lon, "lat": cell.lat}, **change}
    before = household_count()
    assert_error(client.post("/api/v1/households", json=body), 422, field)
    assert household_count() == before


def test_create_household_without_location(client):
    assert_error(client.post("/api/v1/households", json={"address": "无坐标"}), 422, "location")


def test_create_household_between_cells_is_rejected(client, gap_point):
    lon, lat = gap_point
    before = household_count()
    cell_counts = sql("select sum(households) from grids").scalar()
    assert_error(client.post("/api/v1/households", json={"location": {"lon": lon, "lat": lat}}), 422, "location")
    assert household_count() == before
    assert sql("select sum(households) from grids").scalar() == cell_counts


def test_county_admin_cannot_create_household_in_another_county(client, county_b_admin):
    cell = cells(1, county=COUNTY_A)[0]
    before = household_count()
    response = client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat}},
                           headers=county_b_admin)
    assert_error(response, 422, "location")
    assert household_count() == before
    own = cells(1, county=COUNTY_B)[0]
    response = client.post("/api/v1/households", json={"location": {"lon": own.lon, "lat": own.lat}},
                           headers=county_b_admin)
    assert response.status_code == 201 and response.get_json()["grid_code"] == own.code


@pytest.mark.parametrize("role", ["police", "reviewer"])
def test_non_admin_roles_may_not_create_households(app, client, role):
    create_user(client, "hh_" + role, role, COUNTY_B + "000000")
    headers = {"Authorization": bearer(app, "hh_" + role)}
    cell = cells(1, county=COUNTY_B)[0]
    before = household_count()
    assert_error(client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat}},
                             headers=headers), 403)
    assert_error(client.post("/api/v1/households/import", data=f"lon,lat\n{cell.lon},{cell.lat}\n",
                             content_type="text/csv", headers=headers), 403)
    assert household_count() == before


def test_grid_worker_may_not_list_households(app, client):
    village = cells(1, county=COUNTY_B)[0].village_code
    member = one("select id from members where village_code = :v order by id limit 1", v=village).id
    create_user(client, "hh_worker", "grid_worker", village, member)
    headers = {"Authorization": bearer(app, "hh_worker")}
    assert_error(client.get("/api/v1/households", headers=headers), 403)
    some = one("select id from households where village_code = :v limit 1", v=village).id
    assert_error(client.get(f"/api/v1/households/{some}", headers=headers), 403)


# --- GET /households ---

def test_list_households_paginated(client):
    response = client.get("/api/v1/households?page_size=25&page=3")
    items = response.get_json()
    info = pagination(response)
    assert info["total"] == household_count() == 17000
    assert info["page"] == 3 and len(items) == 25
    assert all(set(item) == HOUSEHOLD_FIELDS for item in items)
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)


@pytest.mark.parametrize("level", ["county", "village"])
def test_list_households_by_region(client, level):
    code = one("select code from regions where level = :l and code like :p order by code desc",
               l=level, p=COUNTY_B + "%").code
    prefix = code[:6] if level == "county" else code
    response = client.get(f"/api/v1/households?region={code}&page_size=1000")
    items = response.get_json()
    expected = sql("select count(*) from households where village_code like :p", p=prefix + "%").scalar()
    assert pagination(response)["total"] == expected == region_households(code) > 0
    assert len(items) == min(expected, 1000)  # one page of at most 1000
    assert all(item["village_code"].startswith(prefix) for item in items)


def test_list_households_by_grid(client):
    cell = cells(1, offset=100)[0]
    response = client.get(f"/api/v1/households?grid={cell.code}&page_size=1000")
    items = response.get_json()
    expected = sql("select count(*) from households where grid_code = :c", c=cell.code).scalar()
    assert pagination(response)["total"] == expected == len(items) == households_of(cell.code) > 0
    assert {item["grid_code"] for item in items} == {cell.code}
    assert_error(client.get("/api/v1/households?grid=not-a-cell"), 422, "grid", "query")


def test_list_households_by_tag(client):
    response = client.get("/api/v1/households?tag=previous_victim&page_size=1000")
    items = response.get_json()
    expected = sql("select count(*) from households where 'previous_victim' = any(tags)").scalar()
    assert pagination(response)["total"] == expected == len(items) > 0
    assert all("previous_victim" in item["tags"] for item in items)
    assert_error(client.get("/api/v1/households?tag=alien"), 422, "tag", "query")


def test_list_households_combined_filters(client):
    response = client.get(f"/api/v1/households?region={COUNTY_B}000000&tag=elderly&page_size=1000")
    expected = sql("select count(*) from households where village_code like :p and 'elderly' = any(tags)",
                   p=COUNTY_B + "%").scalar()
    assert pagination(response)["total"] == expected > 0


def test_list_households_as_geojson(client):
    cell = cells(1, offset=5)[0]
    response = client.get(f"/api/v1/households?grid={cell.code}&f=geojson&page_size=1000")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    body = response.get_json(force=True)
    assert body["type"] == "FeatureCollection"
    rows = {r.id: r for r in sql("select id, ST_X(location) as lon, ST_Y(location) as lat from households "
                                 "where grid_code = :c", c=cell.code)}
    assert {f["id"] for f in body["features"]} == set(rows)
    for feature in body["features"]:
        assert feature["geometry"]["type"] == "Point"
        row = rows[feature["id"]]
        assert feature["geometry"]["coordinates"] == pytest.approx([row.lon, row.lat], abs=1e-9)


def test_get_household(client):
    row = one("select id, grid_code, village_code, residents, tags, address, ST_X(location) as lon, "
              "ST_Y(location) as lat from households order by id limit 1 offset 123")
    response = client.get(f"/api/v1/households/{row.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == row.id and body["grid_code"] == row.grid_code and body["village_code"] == row.village_code
    assert body["residents"] == row.residents and body["tags"] == row.tags and body["address"] == row.address
    assert body["location"] == {"type": "Point", "coordinates": pytest.approx([row.lon, row.lat], abs=1e-9)}


def test_get_unknown_household_is_404(client):
    assert_error(client.get("/api/v1/households/987654321"), 404)


def test_county_admin_scope_on_households(client, county_b_admin):
    other = one("select id from households where village_code like :p order by id limit 1", p=COUNTY_A + "%").id
    own = one("select id from households where village_code like :p order by id limit 1", p=COUNTY_B + "%").id
    assert_error(client.get(f"/api/v1/households/{other}", headers=county_b_admin), 404)
    assert client.get(f"/api/v1/households/{own}", headers=county_b_admin).status_code == 200
    response = client.get("/api/v1/households?page_size=1000", headers=county_b_admin)
    expected = sql("select count(*) from households where village_code like :p", p=COUNTY_B + "%").scalar()
    assert pagination(response)["total"] == expected
    assert all(item["village_code"].startswith(COUNTY_B) for item in response.get_json())
    cell_a = cells(1, county=COUNTY_A)[0].code
    assert client.get(f"/api/v1/households?grid={cell_a}", headers=county_b_admin).get_json() == []


# --- POST /households/import ---

def csv_bytes(lines: list[str], bom: bool = True) -> bytes:
    return (BOM if bom else b"") + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def post_csv(client, content: bytes, query: str = "", headers: dict | None = None, multipart: bool = False):
    url = "/api/v1/households/import" + (f"?{query}" if query else "")
    if multipart:
        return client.post(url, data={"file": (io.BytesIO(content), "households.csv")},
                           content_type="multipart/form-data", headers=headers or {})
    return client.post(url, data=content, content_type="text/csv", headers=headers or {})


def import_result(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == RESULT_FIELDS
    for rejection in body["rejected"]:
        assert set(rejection) == {"line", "reason", "errors"}
    return body


def imported(marker: str) -> dict[str, tuple]:
    """Households whose address contains ``marker``: address → (grid, village, lon, lat, residents, tags)."""
    return {r.address: (r.grid_code, r.village_code, r.lon, r.lat, r.residents, r.tags) for r in sql(
        "select address, grid_code, village_code, ST_X(location) as lon, ST_Y(location) as lat, residents, tags "
        "from households where address like :m", m=f"%{marker}%")}


def good_rows(marker: str, count: int = 6) -> tuple[list[str], dict[str, str]]:
    """CSV lines in cells across the city (mixed crs) and the cell each must land in, by address."""
    chosen = cells(705)[:: max(1, 705 // count)][:count]
    lines, expected = [], {}
    for index, cell in enumerate(chosen):
        crs = ("wgs84", "gcj02", "bd09")[index % 3]
        lon, lat = cell.lon, cell.lat
        if crs == "gcj02":
            lon, lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
        elif crs == "bd09":
            lon, lat = (float(v) for v in wgs84_to_bd09(lon, lat))
        address = f"安康市{marker}路{index + 1}号"
        lines.append(f"{lon!r},{lat!r},{crs},{address},{index % 5},elderly;student")
        expected[address] = cell.code
    return lines, expected


@pytest.mark.parametrize("multipart", [False, True])
def test_import_places_every_row(client, multipart):
    lines, expected = good_rows("导入", 6)
    before = household_count()
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines]), multipart=multipart))
    assert body == {"rows": 6, "accepted": 6, "rejected": [], "written": 6, "dry_run": False}
    assert household_count() == before + 6
    stored = imported("导入")
    assert {address: row[0] for address, row in stored.items()} == expected
    for address, (grid, village, lon, lat, residents, tags) in stored.items():
        assert cell_covering(lon, lat) == grid
        assert village == grid[:12]
        assert tags == ["elderly", "student"]
        assert residents == (int(address.split("路")[1].rstrip("号")) - 1) % 5


def test_import_converts_crs_before_placing(client):
    lines, expected = [], {}
    for index, crs in enumerate(("gcj02", "bd09")):
        wgs_lon, wgs_lat, lon, lat, cell = shifted_point(crs)
        address = f"偏移{index}"
        lines.append(f"{lon!r},{lat!r},{crs.upper()},{address},1,")
        expected[address] = (cell, wgs_lon, wgs_lat)
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines])))
    assert body["written"] == 2
    for address, (grid, _village, lon, lat, _residents, tags) in imported("偏移").items():
        cell, wgs_lon, wgs_lat = expected[address]
        assert grid == cell
        assert (lon, lat) == pytest.approx((wgs_lon, wgs_lat), abs=1e-6)
        assert tags == []


def test_import_without_bom_and_optional_columns(client):
    cell = cells(1, offset=3)[0]
    content = csv_bytes([" LAT , Lon ", f"{cell.lat!r},{cell.lon!r}"], bom=False)
    body = import_result(post_csv(client, content))
    assert body["written"] == 1
    row = one("select grid_code, residents, tags, address from households order by id desc limit 1")
    assert row.grid_code == cell.code and row.residents == 1 and row.tags == [] and row.address is None


def test_import_updates_rollups(client):
    chosen = cells(3, county=COUNTY_B)
    lines = [f"{c.lon!r},{c.lat!r},wgs84,卷{i},1," for i, c in enumerate(chosen) for _ in range(i + 1)]
    grid_before = {c.code: client.get(f"/api/v1/grids/{c.code}").get_json()["households"] for c in chosen}
    village = chosen[0].village_code
    assert {c.village_code for c in chosen} == {village}
    regions = [village, village[:9] + "000", COUNTY_B + "000000", "610900000000"]
    region_before = {code: client.get(f"/api/v1/regions/{code}").get_json()["households"] for code in regions}
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines])))
    assert body["written"] == 6
    for index, cell in enumerate(chosen):
        assert client.get(f"/api/v1/grids/{cell.code}").get_json()["households"] == grid_before[cell.code] + index + 1
    tier2 = {c.parent_code for c in chosen}
    for code in tier2:
        recount = sql("select count(*) from households where grid_code like :p", p=code[:15] + "%").scalar()
        assert client.get(f"/api/v1/grids/{code}").get_json()["households"] == recount
    for code in regions:
        assert client.get(f"/api/v1/regions/{code}").get_json()["households"] == region_before[code] + 6, code


def test_import_keeps_quoted_addresses_intact(client):
    cell = cells(1, offset=9)[0]
    address = '安康市"老街",3\\号\t二楼'
    quoted = '"' + address.replace('"', '""') + '"'
    content = csv_bytes([HEADER, f"{cell.lon!r},{cell.lat!r},wgs84,{quoted},2,disabled"])
    body = import_result(post_csv(client, content))
    assert body["written"] == 1
    row = one("select address, residents, tags, grid_code from households order by id desc limit 1")
    assert (row.address, row.residents, row.tags, row.grid_code) == (address, 2, ["disabled"], cell.code)


BAD_ROWS = [
    ("abc,32.5,wgs84,坏经度,1,", "invalid_value", "lon"),
    ("109.0,95,wgs84,坏纬度,1,", "invalid_value", "lat"),
    ("109.0,32.5,utm,坏坐标系,1,", "invalid_value", "crs"),
    ("109.0,32.5,wgs84,坏人数,two,", "invalid_value", "residents"),
    ("109.0,32.5,wgs84,坏标签,1,elderly;alien", "invalid_value", "tags"),
    ("116.4,39.9,wgs84,北京,1,", "outside_city", "location"),
    ("109.0,32.5,wgs84,多列,1,,extra", "malformed_row", "row"),
]


def mixed_csv(marker: str) -> tuple[bytes, list[str], dict[int, tuple[str, str]]]:
    """Good rows interleaved with bad ones; the expected rejections by line (header = line 1)."""
    good, expected_cells = good_rows(marker, 4)
    lines = [HEADER]
    rejections = {}
    for index, bad in enumerate(BAD_ROWS):
        if index < len(good):
            lines.append(good[index])
        lines.append(bad[0])
        rejections[len(lines)] = (bad[1], bad[2])
    return csv_bytes(lines), list(expected_cells), rejections


def check_rejections(body: dict, rejections: dict[int, tuple[str, str]]) -> None:
    assert [r["line"] for r in body["rejected"]] == sorted(rejections)
    for rejection in body["rejected"]:
        reason, field = rejections[rejection["line"]]
        assert rejection["reason"] == reason, rejection
        assert field in rejection["errors"], rejection
        assert all(isinstance(m, str) for messages in rejection["errors"].values() for m in messages)


def test_import_is_all_or_nothing(client):
    content, addresses, rejections = mixed_csv("全或无")
    before, city = household_count(), region_households("610900000000")
    body = import_result(post_csv(client, content))
    assert body["rows"] == 11 and body["accepted"] == 4 and body["written"] == 0 and body["dry_run"] is False
    check_rejections(body, rejections)
    assert household_count() == before
    assert imported("全或无") == {}
    assert region_households("610900000000") == city


def test_import_one_bad_row_writes_nothing(client):
    lines, _expected = good_rows("一坏", 3)
    before = household_count()
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines, "109.0,32.5,wgs84,一坏x,1,ghost"])))
    assert body["written"] == 0 and body["accepted"] == 3
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(5, "invalid_value")]
    assert household_count() == before


def test_import_partial_writes_good_rows(client):
    content, addresses, rejections = mixed_csv("部分")
    before, city = household_count(), region_households("610900000000")
    body = import_result(post_csv(client, content, "partial=true"))
    assert body["accepted"] == body["written"] == 4
    check_rejections(body, rejections)
    assert household_count() == before + 4
    assert sorted(imported("部分")) == sorted(addresses)
    assert region_households("610900000000") == city + 4


@pytest.mark.parametrize("query", ["dry_run=true", "dry_run=true&partial=true"])
def test_import_dry_run_writes_nothing(client, query):
    content, _addresses, rejections = mixed_csv("演练")
    before, city = household_count(), region_households("610900000000")
    body = import_result(post_csv(client, content, query))
    assert body["dry_run"] is True and body["written"] == 0 and body["accepted"] == 4
    check_rejections(body, rejections)
    assert household_count() == before
    assert region_households("610900000000") == city


def test_import_dry_run_of_good_file(client):
    lines, _ = good_rows("好演练", 5)
    before = household_count()
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines]), "dry_run=true"))
    assert body == {"rows": 5, "accepted": 5, "rejected": [], "written": 0, "dry_run": True}
    assert household_count() == before


def test_import_line_numbers_count_blank_lines(client):
    cell = cells(1)[0]
    content = csv_bytes([HEADER, f"{cell.lon!r},{cell.lat!r},,好,1,", "", "x,32,,坏,1,"])
    body = import_result(post_csv(client, content))
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(4, "invalid_value")]
    assert body["rows"] == 2


def test_import_point_between_cells(client, gap_point):
    lon, lat = gap_point
    cell = cells(1)[0]
    body = import_result(post_csv(client, csv_bytes([HEADER, f"{cell.lon!r},{cell.lat!r},,好,1,",
                                                     f"{lon!r},{lat!r},wgs84,缝隙,1,"]), "partial=true"))
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(3, "outside_grid")]
    assert "location" in body["rejected"][0]["errors"]
    assert body["written"] == 1


def test_import_out_of_scope_for_county_admin(client, county_b_admin):
    own = cells(2, county=COUNTY_B)
    other = cells(1, county=COUNTY_A)[0]
    lines = [HEADER, f"{own[0].lon!r},{own[0].lat!r},,本县1,1,", f"{other.lon!r},{other.lat!r},,外县,1,",
             f"{own[1].lon!r},{own[1].lat!r},,本县2,1,"]
    before = household_count()
    body = import_result(post_csv(client, csv_bytes(lines), headers=county_b_admin))
    assert body["accepted"] == 2 and body["written"] == 0
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(3, "out_of_scope")]
    assert "location" in body["rejected"][0]["errors"]
    assert household_count() == before
    body = import_result(post_csv(client, csv_bytes(lines), "partial=true", headers=county_b_admin))
    assert body["written"] == 2
    assert {row[0] for row in imported("本县").values()} == {own[0].code, own[1].code}
    assert imported("外县") == {}


def test_import_is_audited(client):
    lines, _ = good_rows("审计导入", 3)
    body = import_result(post_csv(client, csv_bytes([HEADER, *lines])))
    entries = client.get("/api/v1/audit?object_type=household&actor=admin").get_json()
    assert entries[0]["action"] == "household.import"
    assert entries[0]["object_id"] == f"csv:{body['written']}"
    assert entries[0]["details"] == {"rows": 3, "written": 3, "rejected": 0}
    assert entries[0]["region_code"] == "610900000000"  # rows in several counties


@pytest.mark.parametrize("multipart", [False, True])
def test_import_missing_lon_column(client, multipart):
    before = household_count()
    body = assert_error(post_csv(client, csv_bytes(["lat,address", "32.5,无经度"]), multipart=multipart),
                        422, "file", None)
    assert "lon" in " ".join(body["errors"]["file"])
    assert household_count() == before


@pytest.mark.parametrize("multipart", [False, True])
def test_import_not_utf8(client, multipart):
    content = ("lon,lat,address\n109.0,32.5,安康市汉滨区\n").encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    before = household_count()
    assert_error(post_csv(client, content, multipart=multipart), 422, "file", None)
    assert household_count() == before


@pytest.mark.parametrize("multipart", [False, True])
def test_import_empty_body(client, multipart):
    assert_error(post_csv(client, b"", multipart=multipart), 422, "file", None)


def test_import_without_any_body(client):
    assert_error(client.post("/api/v1/households/import"), 422, "file", None)


def test_import_unreadable_csv_is_a_client_error(client):
    """A field the csv module refuses (longer than csv.field_size_limit()) is a 422 naming the file, not a 500."""
    cell = cells(1)[0]
    before = household_count()
    point = f"{cell.lon!r},{cell.lat!r}"
    content = csv_bytes([HEADER, f"{point},,好,1,", f"{point},,{'长' * 140_000},1,"])
    assert_error(post_csv(client, content, "partial=true"), 422, "file", None)
    assert household_count() == before


def test_import_control_characters_in_address_are_rejected(client):
    cell = cells(1)[0]
    before = household_count()
    content = csv_bytes([HEADER, f"{cell.lon!r},{cell.lat!r},,好,1,", f"{cell.lon!r},{cell.lat!r},,坏\x00地址,1,",
                         f"{cell.lon!r},{cell.lat!r},,坏\x07地址,1,"])
    body = import_result(post_csv(client, content, "partial=true"))
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(3, "invalid_value"), (4, "invalid_value")]
    assert all("address" in r["errors"] for r in body["rejected"])
    assert body["written"] == 1
    assert household_count() == before + 1


@pytest.mark.parametrize("address", ["坏\x00地址", "响铃\x07"])
def test_create_household_control_characters_in_address_are_rejected(client, address):
    cell = cells(1)[0]
    before = household_count()
    response = client.post("/api/v1/households", json={"location": {"lon": cell.lon, "lat": cell.lat},
                                                       "address": address})
    assert_error(response, 422, "address")
    assert household_count() == before


# --- external ids: importing the same CSV twice ---

def keyed_rows(marker: str, count: int = 4) -> list[str]:
    """CSV lines (with an external_id column) in cells across the city."""
    chosen = cells(705)[:: max(1, 705 // count)][:count]
    return [f"{cell.lon!r},{cell.lat!r},wgs84,{marker}{i}号,{1 + i},elderly,门牌-{marker}-{i}"
            for i, cell in enumerate(chosen)]


EXTERNAL_HEADER = "lon,lat,crs,address,residents,tags,external_id"


def test_the_same_csv_imported_twice_updates_instead_of_duplicating(client):
    lines = keyed_rows("户籍")
    before = household_count()
    city_before = sql("select households, vulnerable_households from regions where level = 'city'").one()
    first = import_result(post_csv(client, csv_bytes([EXTERNAL_HEADER, *lines])))
    assert first["written"] == 4 and household_count() == before + 4
    ids = dict(sql("select external_id, id from households where external_id like '门牌-户籍-%'").all())
    again = import_result(post_csv(client, csv_bytes([EXTERNAL_HEADER, *lines])))
    assert again["written"] == 4 and household_count() == before + 4
    assert dict(sql("select external_id, id from households where external_id like '门牌-户籍-%'").all()) == ids
    # Changed figures and tags update the same households; the rollups move by the difference only.
    changed = [line.replace(",elderly,", ",,").replace("号,", "号(新),") for line in lines]
    import_result(post_csv(client, csv_bytes([EXTERNAL_HEADER, *changed])))
    rows = sql("select address, tags from households where external_id like '门牌-户籍-%' order by id").all()
    assert [(address.endswith("(新)"), tags) for address, tags in rows] == [(True, [])] * 4
    city = sql("select households, vulnerable_households from regions where level = 'city'").one()
    assert (city.households, city.vulnerable_households) == (city_before.households + 4,
                                                              city_before.vulnerable_households)
    listed = client.get(f"/api/v1/households/{ids['门牌-户籍-0']}").get_json()
    assert listed["external_id"] == "门牌-户籍-0"


def test_without_external_ids_a_second_import_adds_households(client):
    lines = [line.rsplit(",", 1)[0] for line in keyed_rows("无键")]
    before = household_count()
    for _ in range(2):
        import_result(post_csv(client, csv_bytes([HEADER, *lines])))
    assert household_count() == before + 8


def test_an_external_id_twice_in_one_village_is_rejected(client):
    [line] = keyed_rows("重复", 1)
    body = import_result(post_csv(client, csv_bytes([EXTERNAL_HEADER, line, line])))
    assert body["written"] == 0 and [r["reason"] for r in body["rejected"]] == ["duplicate_external_id"]
    assert body["rejected"][0]["line"] == 3
    long_id = line.rsplit(",", 1)[0] + "," + "x" * 65
    assert import_result(post_csv(client, csv_bytes([EXTERNAL_HEADER, long_id])))["rejected"][0]["errors"] == {
        "external_id": ["At most 64 characters."]}
