"""Territory read endpoints: regions, grids, bbox filter, GeoJSON output and locate."""
from __future__ import annotations

import json

import pytest
from shapely.geometry import box, shape
from sqlalchemy import text

from core.coords import wgs84_to_bd09, wgs84_to_gcj02
from core.extensions import db
from grids import territory_data
from grids.seed import CITY_CODE, scaled_counts
from tests.helpers import assert_error, one, pagination

COUNTS = scaled_counts(0.02)  # the scale tests/conftest.py seeds
ZONES = {zone.code for zone in territory_data.ZONES}
REGION_FIELDS = {"code", "name", "level", "parent_code", "households", "grids", "managed_by"}
GRID_FIELDS = {"code", "tier", "parent_code", "village_code", "name", "households", "members"}


def some_tier3_cell():
    """A tier-3 cell with its parents' codes and a point safely inside it (centre of its largest circle)."""
    return one("""
        select code, parent_code, village_code,
               ST_X(c.center) as lon, ST_Y(c.center) as lat, c.radius
        from grids g, ST_MaximumInscribedCircle(g.boundary) c
        where tier = 3 order by code limit 1 offset 7
    """)


# --- regions ---

def test_regions_filter_by_level(client):
    response = client.get("/api/v1/regions?level=county&page_size=100")
    items = response.get_json()
    assert pagination(response)["total"] == COUNTS["counties"] == len(items)
    assert {item["level"] for item in items} == {"county"}
    assert [item["code"] for item in items] == sorted(item["code"] for item in items)


def test_regions_filter_by_parent(client):
    county = "610902000000"
    response = client.get(f"/api/v1/regions?parent={county}&page_size=100")
    items = response.get_json()
    assert items, "the county has townships"
    assert {item["parent_code"] for item in items} == {county}
    assert {item["level"] for item in items} == {"township"}
    expected = db.session.execute(text("select count(*) from regions where parent_code = :p"),
                                  {"p": county}).scalar()
    assert pagination(response)["total"] == expected == len(items)


def test_regions_filter_by_level_and_parent(client):
    township = one("select code from regions where level = 'township' order by code").code
    response = client.get(f"/api/v1/regions?level=village&parent={township}")
    items = response.get_json()
    assert items
    assert all(item["level"] == "village" and item["parent_code"] == township for item in items)
    assert client.get(f"/api/v1/regions?level=county&parent={township}").get_json() == []


@pytest.mark.parametrize("query, field", [
    ("level=province", "level"),
    ("parent=6109", "parent"),
    ("parent=61090200000x", "parent"),
])
def test_regions_bad_filters(client, query, field):
    assert_error(client.get(f"/api/v1/regions?{query}"), 422, field, location="query")


def test_regions_pagination(client):
    first = client.get("/api/v1/regions?page_size=5")
    header = pagination(first)
    total = len(db.session.execute(text("select code from regions")).all())
    assert header["total"] == total
    assert header["page"] == 1 and header["total_pages"] == -(-total // 5)
    assert len(first.get_json()) == 5
    second = client.get("/api/v1/regions?page_size=5&page=2")
    assert pagination(second)["page"] == 2
    first_codes = [item["code"] for item in first.get_json()]
    second_codes = [item["code"] for item in second.get_json()]
    assert len(second_codes) == 5 and not set(first_codes) & set(second_codes)
    all_codes = [item["code"] for item in client.get("/api/v1/regions?page_size=1000").get_json()]
    assert all_codes[:10] == first_codes + second_codes


@pytest.mark.parametrize("query, field", [("page_size=1001", "page_size"), ("page_size=0", "page_size"),
                                          ("page=0", "page")])
def test_regions_pagination_limits(client, query, field):
    assert_error(client.get(f"/api/v1/regions?{query}"), 422, field, location="query")


def test_region_by_code(client):
    response = client.get("/api/v1/regions/610902000000")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == REGION_FIELDS
    assert body["code"] == "610902000000" and body["name"] == "汉滨区"
    assert body["level"] == "county" and body["parent_code"] == CITY_CODE
    assert body["households"] > 0 and body["grids"] > 0


def test_city_has_no_parent(client):
    body = client.get(f"/api/v1/regions/{CITY_CODE}").get_json()
    assert body["level"] == "city" and body["parent_code"] is None
    assert body["households"] == COUNTS["households"]


@pytest.mark.parametrize("code", ["610902999999", "000000000000", "nonsense"])
def test_unknown_region_is_404(client, code):
    body = assert_error(client.get(f"/api/v1/regions/{code}"), 404)
    assert code in body["message"]


def assert_multipolygon_collection(response, expected_codes: list[str]) -> list:
    """Check a GeoJSON FeatureCollection of MultiPolygons with these ids; return the shapely shapes."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == expected_codes
    shapes = []
    for item in body["features"]:
        assert item["type"] == "Feature"
        assert item["geometry"]["type"] == "MultiPolygon"
        assert item["properties"]["code"] == item["id"]
        geometry = shape(item["geometry"])
        assert geometry.is_valid and not geometry.is_empty
        shapes.append(geometry)
    return shapes


def test_regions_as_geojson_with_f(client):
    json_codes = [r["code"] for r in client.get("/api/v1/regions?level=county").get_json()]
    response = client.get("/api/v1/regions?level=county&f=geojson")
    shapes = assert_multipolygon_collection(response, json_codes)
    properties = json.loads(response.get_data(as_text=True))["features"][0]["properties"]
    assert set(properties) == REGION_FIELDS
    # The ten statistical counties tile the city's real outline; the zones lie inside 汉滨区.
    statistical = [s for code, s in zip(json_codes, shapes, strict=True) if code[:6] not in ZONES]
    city = shape(client.get("/api/v1/regions?level=city&f=geojson").get_json()["features"][0]["geometry"])
    assert sum(s.area for s in statistical) == pytest.approx(city.area, rel=1e-6)
    hanbin = shapes[json_codes.index("610902000000")]
    assert all(hanbin.covers(s.buffer(-1e-9)) for code, s in zip(json_codes, shapes, strict=True)
               if code[:6] in ZONES)
    assert pagination(response)["total"] == COUNTS["counties"]


def test_regions_as_geojson_with_accept_header(client):
    json_codes = [r["code"] for r in client.get("/api/v1/regions?level=county").get_json()]
    response = client.get("/api/v1/regions?level=county", headers={"Accept": "application/geo+json"})
    assert_multipolygon_collection(response, json_codes)


def test_plain_accept_json_stays_json(client):
    response = client.get("/api/v1/regions?level=county", headers={"Accept": "application/json"})
    assert response.mimetype == "application/json"
    assert isinstance(response.get_json(), list)


@pytest.mark.parametrize("path,table,code", [
    ("/api/v1/regions/610902000000", "regions", "610902000000"),
    ("/api/v1/grids/{tier1}", "grids", "{tier1}"),
])
def test_one_object_as_a_geojson_feature(client, path, table, code):
    tier1 = db.session.execute(text("select min(code) from grids where tier = 1")).scalar()
    path, code = path.format(tier1=tier1), code.format(tier1=tier1)
    response = client.get(path + "?f=geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "Feature" and body["id"] == code and body["properties"]["code"] == code
    geometry = shape(body["geometry"])
    assert geometry.geom_type == "MultiPolygon" and geometry.is_valid
    area = db.session.execute(text(f"select ST_Area(boundary) from {table} where code = :c"), {"c": code}).scalar()
    assert geometry.area == pytest.approx(area, rel=1e-9)


def test_bad_format_is_422(client):
    assert_error(client.get("/api/v1/regions?f=kml"), 422, "f", location="query")


# --- grids ---

def grid_codes(client, query: str) -> list[str]:
    """All grid codes a /grids query returns (one page of up to 1000)."""
    response = client.get(f"/api/v1/grids?page_size=1000&{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert pagination(response)["total"] == len(response.get_json())
    return [item["code"] for item in response.get_json()]


def codes_where(sql_filter: str, **params) -> list[str]:
    """Grid codes matching a SQL filter, ordered by code."""
    return list(db.session.execute(text(f"select code from grids where {sql_filter} order by code"),
                                   params).scalars())


@pytest.mark.parametrize("level", ["county", "township", "village"])
def test_grids_filter_by_region(client, level):
    region = one("select code from regions where level = :level order by code offset 1", level=level).code
    prefix = {"county": 6, "township": 9, "village": 12}[level]
    codes = grid_codes(client, f"region={region}")
    assert codes
    assert codes == codes_where("left(village_code, :n) = :p", n=prefix, p=region[:prefix])


def test_grids_filter_by_city_returns_all(client):
    response = client.get(f"/api/v1/grids?region={CITY_CODE}&page_size=1")
    assert pagination(response)["total"] == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]


def test_grids_filter_by_region_and_tier(client):
    village = one("select code from regions where level = 'village' order by code").code
    codes = grid_codes(client, f"region={village}&tier=2")
    assert codes == codes_where("village_code = :v and tier = 2", v=village)
    assert all(code.startswith(village) and code.endswith("-00") and not code.endswith("-00-00")
               for code in codes)
    assert grid_codes(client, f"region={village}&tier=1") == [f"{village}-00-00"]


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_grids_filter_by_tier(client, tier):
    response = client.get(f"/api/v1/grids?tier={tier}&page_size=1000")
    items = response.get_json()
    assert {item["tier"] for item in items} == {tier}
    assert len(items) == COUNTS[f"tier{tier}"]
    assert set(items[0]) == GRID_FIELDS


@pytest.mark.parametrize("query, field", [("tier=4", "tier"), ("tier=0", "tier"), ("tier=x", "tier"),
                                          ("region=6109", "region")])
def test_grids_bad_filters(client, query, field):
    assert_error(client.get(f"/api/v1/grids?{query}"), 422, field, location="query")


def test_grids_unknown_region_is_404(client):
    assert_error(client.get("/api/v1/grids?region=610902999999"), 404)


def bbox_query(bounds) -> str:
    """A ``bbox=`` query parameter for (minlon, minlat, maxlon, maxlat)."""
    return "bbox=" + ",".join(f"{v:.7f}" for v in bounds)


def geojson_features(client, query: str) -> list[dict]:
    """The features of a /grids GeoJSON answer."""
    response = client.get(f"/api/v1/grids?f=geojson&page_size=1000&{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))["features"]


def test_grids_bbox_filters_around_a_cell(client):
    cell = some_tier3_cell()
    bounds = (cell.lon - 0.02, cell.lat - 0.015, cell.lon + 0.02, cell.lat + 0.015)
    features = geojson_features(client, "tier=3&" + bbox_query(bounds))
    returned = {f["id"] for f in features}
    assert cell.code in returned
    assert 1 < len(returned) < COUNTS["tier3"]  # the filter really filters
    assert {f["properties"]["tier"] for f in features} == {3}
    # Everything that truly intersects the box is returned.
    assert set(codes_where("tier = 3 and ST_Intersects(boundary, ST_MakeEnvelope(:a, :b, :c, :d, 4326))",
                           a=bounds[0], b=bounds[1], c=bounds[2], d=bounds[3])) <= returned


def empty_corner_of_a_cell():
    """A tier-3 cell and a small box inside the cell's bounding box that does not touch the cell."""
    row = one("""
        select g.code, ST_X(c.center) as lon, ST_Y(c.center) as lat, c.radius
        from grids g, ST_MaximumInscribedCircle(ST_Difference(ST_Envelope(g.boundary), g.boundary)) c
        where g.tier = 3 order by c.radius desc, g.code limit 1
    """)
    half = row.radius / 3
    return row.code, (row.lon - half, row.lat - half, row.lon + half, row.lat + half)


def test_grids_bbox_returns_only_cells_that_really_intersect(client):
    code, bounds = empty_corner_of_a_cell()
    envelope = box(*bounds)
    assert not db.session.execute(text("select ST_Intersects(boundary, ST_MakeEnvelope(:a, :b, :c, :d, 4326))"
                                       " from grids where code = :code"),
                                  {"a": bounds[0], "b": bounds[1], "c": bounds[2], "d": bounds[3],
                                   "code": code}).scalar()
    features = geojson_features(client, bbox_query(bounds))
    for item in features:
        assert shape(item["geometry"]).intersects(envelope), item["id"]
    assert code not in {f["id"] for f in features}


def test_grids_bbox_outside_the_city_is_empty(client):
    assert grid_codes(client, "bbox=120,30,121,31") == []


def test_grids_bbox_over_the_city_returns_everything(client):
    assert len(grid_codes(client, "bbox=107,31,111,34&tier=1")) == COUNTS["tier1"]


@pytest.mark.parametrize("bbox", [
    "108,32,109",            # three numbers
    "108,32,109,33,1",       # five numbers
    "a,b,c,d",               # letters
    "108,32,109,x",
    "109,32,108,33",         # min lon > max lon
    "108,33,109,32",         # min lat > max lat
    "-181,32,109,33",        # out of range
    "108,32,181,33",
    "108,-91,109,33",
    "108,32,109,95",
    "",
])
def test_grids_malformed_bbox_is_422(client, bbox):
    body = assert_error(client.get(f"/api/v1/grids?bbox={bbox}"), 422, "bbox", location="query")
    assert body["errors"]["query"]["bbox"]


def test_grid_by_code(client):
    cell = some_tier3_cell()
    response = client.get(f"/api/v1/grids/{cell.code}")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == GRID_FIELDS
    assert body["code"] == cell.code and body["tier"] == 3
    assert body["parent_code"] == cell.parent_code and body["village_code"] == cell.village_code
    # The seed assigned a chief to every cell with the optimiser.
    chief = db.session.execute(text(
        "select m.id, m.name from assignments a join members m on m.id = a.member_id "
        "where a.grid_code = :c and a.role = 'chief' and a.valid_to is null"), {"c": cell.code}).one()
    assert body["members"] == [{"id": chief[0], "name": chief[1], "role": "chief"}]
    households = db.session.execute(text("select count(*) from households where grid_code = :c"),
                                    {"c": cell.code}).scalar()
    assert body["households"] == households


def test_tier1_grid_by_code(client):
    village = one("select code, name from regions where level = 'village' order by code")
    body = client.get(f"/api/v1/grids/{village.code}-00-00").get_json()
    assert body["tier"] == 1 and body["parent_code"] is None and body["village_code"] == village.code


@pytest.mark.parametrize("code", ["610902999999-00-00", "610902001003-99-99", "610902001003",
                                  "not-a-code", "610902001003-1-1"])
def test_unknown_or_malformed_grid_code_is_404(client, code):
    body = assert_error(client.get(f"/api/v1/grids/{code}"), 404)
    assert code in body["message"]


# --- locate ---

def locate(client, lon: float, lat: float, crs: str | None = None):
    """GET /grids/locate for a point (with an optional crs)."""
    query = f"lon={lon!r}&lat={lat!r}" + (f"&crs={crs}" if crs else "")
    return client.get(f"/api/v1/grids/locate?{query}")


def expected_locate_codes(cell) -> list[str]:
    """The tier 1, 2 and 3 codes that contain a point inside ``cell``."""
    return [f"{cell.village_code}-00-00", cell.parent_code, cell.code]


@pytest.mark.parametrize("crs, forward", [
    (None, None),
    ("wgs84", None),
    ("cgcs2000", None),
    ("gcj02", wgs84_to_gcj02),
    ("bd09", wgs84_to_bd09),
])
def test_locate_in_every_crs(client, crs, forward):
    cell = some_tier3_cell()
    assert cell.radius > 1e-4  # > ~10 m: conversion error cannot push the point out of the cell
    lon, lat = cell.lon, cell.lat
    if forward is not None:
        lon, lat = (float(v) for v in forward(lon, lat))
        assert abs(lon - cell.lon) + abs(lat - cell.lat) > 1e-3  # the shift is real
    response = locate(client, lon, lat, crs)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert [g["code"] for g in body["grids"]] == expected_locate_codes(cell)
    assert [g["tier"] for g in body["grids"]] == [1, 2, 3]
    assert body["village"]["code"] == cell.village_code
    assert body["village"]["level"] == "village"
    assert set(body["village"]) == REGION_FIELDS
    assert body["point"]["type"] == "Point"
    assert body["point"]["coordinates"] == pytest.approx([cell.lon, cell.lat], abs=1e-7)


def test_locate_unconverted_gcj02_lands_elsewhere(client):
    """Without crs, a GCJ-02 point is taken as WGS84 and is several hundred metres off."""
    cell = some_tier3_cell()
    lon, lat = (float(v) for v in wgs84_to_gcj02(cell.lon, cell.lat))
    body = locate(client, lon, lat, "wgs84").get_json()
    assert body["point"]["coordinates"] == pytest.approx([lon, lat])


@pytest.mark.parametrize("query, fields", [
    ("lon=181&lat=32.7", {"lon"}),
    ("lon=-181&lat=32.7", {"lon"}),
    ("lon=109&lat=91", {"lat"}),
    ("lon=109&lat=-90.5", {"lat"}),
    ("lon=109&lat=32.7&crs=mercator", {"crs"}),
    ("lon=109", {"lat"}),
    ("lat=32.7", {"lon"}),
    ("lon=east&lat=32.7", {"lon"}),
    ("lon=200&lat=100&crs=x", {"lon", "lat", "crs"}),
])
def test_locate_bad_input_is_422(client, query, fields):
    body = assert_error(client.get(f"/api/v1/grids/locate?{query}"), 422)
    assert set(body["errors"]["query"]) == fields


def test_locate_outside_the_city_is_404(client):
    body = assert_error(locate(client, 120.0, 30.0), 404)
    assert "120.000000" in body["message"] and "30.000000" in body["message"]


def test_locate_outside_the_city_in_chinese(client):
    response = client.get("/api/v1/grids/locate?lon=120&lat=30", headers={"Accept-Language": "zh-CN"})
    body = assert_error(response, 404)
    assert "不在任何网格内" in body["message"]
