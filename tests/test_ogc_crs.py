"""OGC API – Features Part 2 at /ogc: ``crs``, ``bbox-crs`` and ``filter-crs`` with CRS84, EPSG:4326,
EPSG:4490 (CGCS2000) and EPSG:3857, the ``Content-Crs`` header, and round trips of a known point."""
from __future__ import annotations

import math
from urllib.parse import quote

import pytest

from tests.helpers import assert_error, first_village, one, sql

OGC = "/ogc"
COUNTY = "610902"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0"
EARTH_RADIUS = 6378137.0  # Web Mercator's sphere


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """EPSG:3857 by its defining formulas (independent of PROJ)."""
    return (EARTH_RADIUS * math.radians(lon),
            EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)))


def get(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def first_vertex(feature: dict) -> list[float]:
    return feature["geometry"]["coordinates"][0][0][0]


def a_cell() -> str:
    return f"{first_village(COUNTY)}-01-01"


@pytest.mark.parametrize(("crs", "uri"), [
    (CRS84, CRS84), (f"{EPSG}/4326", f"{EPSG}/4326"), ("[EPSG:4490]", f"{EPSG}/4490"),
    ("EPSG:3857", f"{EPSG}/3857"), (None, CRS84),
])
def test_content_crs_names_the_crs_of_the_coordinates(client, crs, uri):
    query = f"?crs={quote(crs)}" if crs else ""
    for path in ("/collections/grids-tier3/items", f"/collections/grids-tier3/items/{a_cell()}"):
        response = get(client, f"{OGC}{path}{query}")
        assert response.headers["Content-Crs"] == f"<{uri}>"
        assert response.mimetype == "application/geo+json"


def test_a_known_point_in_every_crs(client):
    cell = a_cell()
    stored = one("select ST_X(ST_PointN(ST_ExteriorRing(ST_GeometryN(boundary, 1)), 1)),"
                 " ST_Y(ST_PointN(ST_ExteriorRing(ST_GeometryN(boundary, 1)), 1)) from grids where code = :c", c=cell)
    lon, lat = stored

    def vertex(crs: str) -> list[float]:
        return first_vertex(get(client, f"{OGC}/collections/grids-tier3/items/{cell}?crs={quote(crs)}").get_json())

    assert vertex(CRS84) == pytest.approx([lon, lat], abs=1e-6)
    # Latitude first, as EPSG defines 4326 and CGCS2000 (which agrees with WGS 84 well below the data's precision).
    assert vertex(f"{EPSG}/4326") == pytest.approx([lat, lon], abs=1e-6)
    assert vertex(f"{EPSG}/4490") == pytest.approx([lat, lon], abs=1e-6)
    assert vertex(f"{EPSG}/3857") == pytest.approx(list(mercator(lon, lat)), abs=0.02)
    # Whole pages too: the same features, every vertex transformed.
    plain = get(client, f"{OGC}/collections/grids-tier3/items?limit=5").get_json()["features"]
    web = get(client, f"{OGC}/collections/grids-tier3/items?limit=5&crs=EPSG:3857").get_json()["features"]
    cgcs = get(client, f"{OGC}/collections/grids-tier3/items?limit=5&crs=EPSG:4490").get_json()["features"]
    for a, b, c in zip(plain, web, cgcs, strict=True):
        assert a["id"] == b["id"] == c["id"] and a["properties"] == b["properties"]
        rings = (f["geometry"]["coordinates"][0][0] for f in (a, b, c))
        for (x, y), (mx, my), (clat, clon) in zip(*rings, strict=True):
            # From CRS84 rounded to 6 decimals (about 0.1 m), so within 0.2 m.
            assert (mx, my) == pytest.approx(mercator(x, y), abs=0.2)
            assert (clon, clat) == pytest.approx((x, y), abs=1e-6)


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:3857", "EPSG:4326"])
def test_round_trip_a_point_through_bbox_crs_and_filter_crs(client, crs):
    """A point read in ``crs`` and sent back as a small bbox (bbox-crs) and a point (filter-crs) finds the cell
    that contains it, as the same point in CRS84 does."""
    lon, lat = one("select ST_X(p), ST_Y(p) from (select ST_PointOnSurface(boundary) p from grids"
                   " where code = :c) x", c=a_cell())
    expected = list(sql("select code from grids where tier = 3 and ST_Intersects(boundary,"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4326))", x=lon, y=lat).scalars())
    assert expected == [a_cell()]
    # The point in the CRS, as the server computes it.
    x, y = one("select ST_X(p), ST_Y(p) from (select ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :s) p) q",
               x=lon, y=lat, s=int(crs.split(":")[1]))
    if crs in ("EPSG:4326", "EPSG:4490"):
        x, y = y, x  # latitude first
    else:
        assert (x, y) == pytest.approx(mercator(lon, lat), abs=0.01)
    half = 0.5 if crs == "EPSG:3857" else 0.000005
    bbox = f"{x - half},{y - half},{x + half},{y + half}"
    page = get(client, f"{OGC}/collections/grids-tier3/items?bbox={bbox}&bbox-crs={crs}").get_json()
    assert [f["id"] for f in page["features"]] == expected
    page = get(client, f"{OGC}/collections/grids-tier3/items?filter-crs={crs}&filter="
                       + quote(f"S_INTERSECTS(geometry, POINT({x!r} {y!r}))")).get_json()
    assert [f["id"] for f in page["features"]] == expected
    # And back out in the same CRS: the cell's coordinates in it surround the point.
    feature = get(client, f"{OGC}/collections/grids-tier3/items/{expected[0]}?crs={crs}").get_json()
    ring = feature["geometry"]["coordinates"][0][0]
    assert min(p[0] for p in ring) <= x <= max(p[0] for p in ring)
    assert min(p[1] for p in ring) <= y <= max(p[1] for p in ring)


def test_bbox_crs_selects_the_same_features(client):
    x1, y1, x2, y2 = one("select ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)"
                         " from (select boundary b from regions where code = :c) x", c=first_village(COUNTY))
    plain = get(client, f"{OGC}/collections/grids-tier3/items?limit=10000&bbox={x1},{y1},{x2},{y2}").get_json()
    (mx1, my1), (mx2, my2) = mercator(x1, y1), mercator(x2, y2)
    # Mercator maps a lon/lat box onto a box, so both select exactly the same cells.
    for bbox, crs in ((f"{mx1},{my1},{mx2},{my2}", "EPSG:3857"), (f"{y1},{x1},{y2},{x2}", f"{EPSG}/4490"),
                      (f"{y1},{x1},{y2},{x2}", f"{EPSG}/4326")):
        other = get(client, f"{OGC}/collections/grids-tier3/items?limit=10000&bbox={bbox}&bbox-crs={crs}").get_json()
        assert [f["id"] for f in other["features"]] == [f["id"] for f in plain["features"]]
        assert other["numberMatched"] == plain["numberMatched"] > 0
        # The links keep the CRS parameters.
        self_link = next(link["href"] for link in other["links"] if link["rel"] == "self")
        assert "bbox-crs=" in self_link


@pytest.mark.parametrize(("query", "field"), [
    ("crs=EPSG:2000", "crs"), ("crs=http://www.opengis.net/def/crs/EPSG/0/9999", "crs"), ("crs=", "crs"),
    ("bbox-crs=EPSG:1234&bbox=1,2,3,4", "bbox-crs"),
    ("bbox=109,32,110,33&bbox-crs=EPSG:4326", "bbox"),  # longitude where latitude belongs: 109 > 90
    ("bbox=-30000000,0,1,1&bbox-crs=EPSG:3857", "bbox"),
    ("filter-crs=EPSG:3857&filter=" + quote("S_INTERSECTS(geometry, POINT(109 32))") + "x", "filter"),
])
def test_bad_crs_parameters_answer_400(client, query, field):
    assert_error(client.get(f"{OGC}/collections/grids-tier3/items?{query}"), 400, field, "query")


def test_collections_list_their_crs_and_storage_crs(client):
    document = get(client, f"{OGC}/collections").get_json()
    for collection in document["collections"]:
        assert collection["crs"][0] == CRS84
        assert set(collection["crs"]) == {CRS84, f"{EPSG}/4326", f"{EPSG}/4490", f"{EPSG}/3857"}
        assert collection["storageCrs"] == CRS84
        assert collection["extent"]["spatial"]["crs"] == CRS84
