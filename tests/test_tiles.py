"""Vector tiles: layers, coverage attributes, scope, caching, bad tiles."""
from __future__ import annotations

import math

import mapbox_vector_tile
from sqlalchemy import text

from core.extensions import db
from tests.helpers import auth, make_user, visit_in

API = "/api/v1/tiles"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The x, y of the web-mercator tile holding a point."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def village_point(county: str) -> tuple[str, float, float]:
    """A village of a county and a point well inside it."""
    return db.session.execute(text("""
        select code, ST_X(p), ST_Y(p) from (
            select code, (ST_MaximumInscribedCircle(boundary)).center as p from regions
            where level = 'village' and code like :c order by code limit 1) v
    """), {"c": county + "%"}).one()


def decode(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.data)


def test_grid_tile_has_cells_with_tier_and_coverage(client):
    village, _, _ = village_point("610902")
    visit_id = visit_in(village)
    lon, lat = db.session.execute(text("select ST_X(location), ST_Y(location) from visits where id = :v"),
                                  {"v": visit_id}).one()
    x, y = tile_of(lon, lat, 13)
    layers = decode(client.get(f"{API}/grids/13/{x}/{y}.pbf"))
    features = layers["grids"]["features"]
    codes = {f["properties"]["code"] for f in features}
    assert f"{village}-00-00" in codes
    assert {f["properties"]["tier"] for f in features} == {1, 2, 3}
    tier3 = [f["properties"] for f in features if f["properties"]["tier"] == 3]
    assert all("coverage" in p and "households_visited" in p for p in tier3)
    assert sum(p["households_visited"] for p in tier3) >= 1
    for feature in features:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_village_tile_coverage_matches_the_report(client):
    village, lon, lat = village_point("610921")
    visit_in(village)
    x, y = tile_of(lon, lat, 10)
    features = decode(client.get(f"{API}/villages/10/{x}/{y}.pbf"))["villages"]["features"]
    mine = next(f["properties"] for f in features if f["properties"]["code"] == village)
    report = client.get(f"/api/v1/coverage?region={village[:9]}000&by=village").get_json()
    row = next(r for r in report if r["code"] == village)
    assert mine["households_visited"] == row["households_visited"] == 1
    assert mine["households"] == row["households"]


def test_tiles_are_filtered_by_scope(client):
    village, lon, lat = village_point("610902")
    make_user("tile_other_county", "county_admin", "610921000000")
    x, y = tile_of(lon, lat, 12)
    everyone = decode(client.get(f"{API}/grids/12/{x}/{y}.pbf"))
    assert everyone["grids"]["features"]
    other = client.get(f"{API}/grids/12/{x}/{y}.pbf", headers=auth("tile_other_county"))
    codes = {f["properties"]["code"][:6] for f in decode(other).get("grids", {}).get("features", [])}
    assert "610902" not in codes


def test_etag_and_not_modified(client):
    _, lon, lat = village_point("610902")
    x, y = tile_of(lon, lat, 11)
    first = client.get(f"{API}/villages/11/{x}/{y}.pbf")
    assert first.headers["Cache-Control"] == "private, max-age=60"
    again = client.get(f"{API}/villages/11/{x}/{y}.pbf", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_cells_are_not_drawn_at_low_zoom_and_bad_tiles_are_404(client):
    assert client.get(f"{API}/grids/8/206/104.pbf").data == b""
    assert client.get(f"{API}/roads/8/206/104.pbf").status_code == 404
    assert client.get(f"{API}/grids/3/8/0.pbf").status_code == 404
    assert client.get(f"{API}/grids/23/0/0.pbf").status_code == 404


def test_a_grid_worker_sees_exactly_own_cells(client):
    """The field app's map: a member's account draws the member's current cells (and their villages),
    not the rest of the village its scope names."""
    member_id, village, grid_code = db.session.execute(text("""
        select a.member_id, m.village_code, a.grid_code from assignments a join members m on m.id = a.member_id
        join grids g on g.code = a.grid_code and g.tier = 3
        where a.valid_to is null and m.village_code = g.village_code
          and not exists (select 1 from assignments b join grids c on c.code = b.grid_code
                          where b.member_id = a.member_id and b.valid_to is null and c.tier < 3)
        order by a.member_id limit 1
    """)).one()
    own = set(db.session.execute(text("select grid_code from assignments where member_id = :m and valid_to is null"),
                                 {"m": member_id}).scalars())
    make_user("tiles_worker", "grid_worker", village, member_id=member_id)
    lon, lat = db.session.execute(text("select ST_X(c), ST_Y(c) from (select ST_PointOnSurface(boundary) c"
                                       " from grids where code = :g) p"), {"g": grid_code}).one()
    x, y = tile_of(lon, lat, 13)
    features = decode(client.get(f"{API}/grids/13/{x}/{y}.pbf", headers=auth("tiles_worker")))["grids"]["features"]
    codes = {f["properties"]["code"] for f in features}
    assert grid_code in codes and codes <= own
    all_cells = decode(client.get(f"{API}/grids/13/{x}/{y}.pbf"))["grids"]["features"]
    assert len(all_cells) > len(features)  # the admin sees the neighbours the member does not hold
    villages = decode(client.get(f"{API}/villages/10/{x >> 3}/{y >> 3}.pbf", headers=auth("tiles_worker")))
    village_codes = {f["properties"]["code"] for f in villages["villages"]["features"]}
    assert grid_code[:12] in village_codes and village_codes <= {code[:12] for code in own}
