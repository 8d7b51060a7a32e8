"""OGC API – Features at /ogc: documents, counts, bbox, paging, validation, scope, auth — and GDAL reading it."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import text

from core.extensions import db
from grids.accounts.models import User
from grids.accounts.services import update_user
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import PASSWORD, auth, first_village, make_user, visit_in

OGC = "/ogc"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0"
GEOJSON = "application/geo+json"
COUNTY = "610902"
OTHER_COUNTY = "610921"
# collection id → SQL counting its features (the whole city, as the city administrator sees it).
COUNTS = {
    "counties": "select count(*) from regions where level = 'county' and code like :p",
    "townships": "select count(*) from regions where level = 'township' and code like :p",
    "villages": "select count(*) from regions where level = 'village' and code like :p",
    "village-coverage": "select count(*) from regions where level = 'village' and code like :p",
    "grids-tier1": "select count(*) from grids where tier = 1 and village_code like :p",
    "grids-tier2": "select count(*) from grids where tier = 2 and village_code like :p",
    "grids-tier3": "select count(*) from grids where tier = 3 and village_code like :p",
}


def db_count(collection: str, prefix: str = "") -> int:
    return db.session.execute(text(COUNTS[collection]), {"p": prefix + "%"}).scalar()


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get_json(client, url: str, headers: dict | None = None, status: int = 200) -> dict:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json(force=True)


def walk(client, url: str, headers: dict | None = None) -> list[dict]:
    """Every feature reached by following ``next`` links from ``url``."""
    features, pages = [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == GEOJSON
        page = response.get_json(force=True)
        assert page["numberReturned"] == len(page["features"])
        features += page["features"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        pages += 1
        assert pages < 1000
    return features


# --- documents ---

def test_landing_page_links_its_parts(client):
    for path in (OGC, OGC + "/", OGC + "?f=json"):
        page = get_json(client, path)
        rels = {link["rel"]: link for link in page["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= set(rels)
        assert rels["data"]["href"].endswith("/ogc/collections")
        assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
        assert all(link["href"].startswith("http") and link["type"] for link in page["links"])


def test_conformance_and_api_definition(client):
    classes = get_json(client, f"{OGC}/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    response = client.get(f"{OGC}/api")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.oai.openapi+json"
    definition = response.get_json(force=True)
    assert definition["openapi"].startswith("3.0")
    for collection in COUNTS:
        operation = definition["paths"][f"/collections/{collection}/items"]["get"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert parameters["limit"]["schema"]["maximum"] == 10_000
        # What GDAL reads: the queryables as query parameters, and CQL text among the filter languages.
        assert {"code", "name", "households"} <= set(parameters)
        assert {"cql2-text", "cql2-json", "cql-text"} == set(parameters["filter-lang"]["schema"]["enum"])


def test_collections_describe_every_collection_with_its_extent(client):
    document = get_json(client, f"{OGC}/collections")
    ids = [c["id"] for c in document["collections"]]
    assert ids == ["counties", "townships", "villages", "grids-tier1", "grids-tier2", "grids-tier3",
                   "village-coverage"]
    city = db.session.execute(text("""
        select ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        from (select ST_Extent(boundary) e from regions where level = 'county') x""")).one()
    for described in document["collections"]:
        assert described["itemType"] == "feature"
        assert described["crs"] == [CRS84, f"{EPSG}/4326", f"{EPSG}/4490", f"{EPSG}/3857"]
        assert described["storageCrs"] == CRS84
        assert {link["rel"] for link in described["links"]} >= {"self", "items"}
        [box] = described["extent"]["spatial"]["bbox"]
        assert len(box) == 4 and box[0] < box[2] and box[1] < box[3]
        # Every level and tier nests inside the counties.
        assert city[0] - 1e-9 <= box[0] and box[2] <= city[2] + 1e-9
        assert city[1] - 1e-9 <= box[1] and box[3] <= city[3] + 1e-9
        assert get_json(client, f"{OGC}/collections/{described['id']}") == described
    assert get_json(client, f"{OGC}/collections/counties")["extent"]["spatial"]["bbox"] == [
        pytest.approx(list(city))]


def test_an_unknown_collection_or_feature_answers_404(client):
    assert get_json(client, f"{OGC}/collections/nope", status=404)["code"] == 404
    assert client.get(f"{OGC}/collections/nope/items").status_code == 404
    assert client.get(f"{OGC}/collections/villages/items/000000000000").status_code == 404
    # A grid code is not a village.
    cell = db.session.execute(text("select min(code) from grids")).scalar()
    assert client.get(f"{OGC}/collections/villages/items/{cell}").status_code == 404


# --- items ---

@pytest.mark.parametrize("collection", list(COUNTS))
def test_items_count_matches_the_database(client, collection):
    response = client.get(f"{OGC}/collections/{collection}/items?limit=10000")
    assert response.status_code == 200
    assert response.mimetype == GEOJSON
    page = response.get_json(force=True)
    expected = db_count(collection)
    assert expected > 0
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == page["numberReturned"] == len(page["features"]) == expected
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", page["timeStamp"])
    codes = [f["id"] for f in page["features"]]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    for feature in page["features"][:5]:
        assert feature["type"] == "Feature"
        assert feature["id"] == feature["properties"]["code"]
        assert feature["geometry"]["type"] == "MultiPolygon"


def test_default_limit_and_f_json(client):
    page = get_json(client, f"{OGC}/collections/grids-tier3/items?f=json")
    assert page["numberReturned"] == min(100, db_count("grids-tier3"))
    assert page["numberMatched"] == db_count("grids-tier3")


def test_feature_properties(client):
    village = first_village(COUNTY)
    response = client.get(f"{OGC}/collections/villages/items/{village}")
    assert response.status_code == 200 and response.mimetype == GEOJSON
    feature = response.get_json(force=True)
    code, name, households = db.session.execute(
        text("select code, name, households from regions where code = :c"), {"c": village}).one()
    assert feature["id"] == code
    assert feature["properties"] == {"code": code, "name": name, "level": "village",
                                     "parent_code": code[:9] + "000", "households": households,
                                     "grids": feature["properties"]["grids"]}
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert {link["rel"] for link in feature["links"]} == {"self", "collection"}
    cell = get_json(client, f"{OGC}/collections/grids-tier3/items/{village}-01-01")
    assert cell["properties"]["tier"] == 3 and cell["properties"]["village_code"] == village
    assert cell["properties"]["parent_code"] == f"{village}-01-00"


def test_bbox_selects_what_postgis_intersects(client):
    lon, lat = db.session.execute(text("""
        select ST_X(c), ST_Y(c) from (select ST_Centroid(boundary) c from regions
                                      where code = :v) x"""), {"v": first_village(COUNTY)}).one()
    box = (lon - 0.05, lat - 0.04, lon + 0.05, lat + 0.04)
    for collection, table, kind in (("villages", "regions", "level = 'village'"),
                                     ("grids-tier3", "grids", "tier = 3"),
                                     ("grids-tier1", "grids", "tier = 1")):
        expected = db.session.execute(text(f"""
            select code from {table} where {kind}
              and boundary && ST_MakeEnvelope(:a, :b, :c, :d, 4326)
              and ST_Intersects(boundary, ST_MakeEnvelope(:a, :b, :c, :d, 4326)) order by code"""),
            dict(zip("abcd", box, strict=True))).scalars().all()
        assert expected
        bbox = ",".join(str(v) for v in box)
        page = get_json(client, f"{OGC}/collections/{collection}/items?bbox={bbox}&limit=10000")
        assert page["numberMatched"] == len(expected)
        assert [f["id"] for f in page["features"]] == expected
        assert page["numberMatched"] < db_count(collection)


def test_a_bbox_far_from_the_city_is_empty(client):
    page = get_json(client, f"{OGC}/collections/villages/items?bbox=0,0,1,1")
    assert (page["numberMatched"], page["numberReturned"], page["features"]) == (0, 0, [])
    assert "next" not in {link["rel"] for link in page["links"]}


def test_paging_links_walk_every_feature_exactly_once(client):
    total = db_count("grids-tier3")
    limit = 37
    assert total > 3 * limit
    features = walk(client, f"{OGC}/collections/grids-tier3/items?limit={limit}")
    codes = [f["id"] for f in features]
    assert len(codes) == total and len(set(codes)) == total
    assert codes == sorted(codes)
    # With a bbox, the links keep it.
    box = db.session.execute(text("""
        select ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        from (select ST_Extent(boundary) e from regions where code like :c and level = 'county') x"""),
        {"c": COUNTY + "%"}).one()
    bbox = ",".join(str(v) for v in box)
    within = walk(client, f"{OGC}/collections/grids-tier3/items?bbox={bbox}&limit=5")
    first = get_json(client, f"{OGC}/collections/grids-tier3/items?bbox={bbox}&limit=5")
    assert len(within) == first["numberMatched"] and len({f["id"] for f in within}) == len(within)


def test_paging_links(client):
    total = db_count("villages")
    page = get_json(client, f"{OGC}/collections/villages/items?limit=2&offset=2")
    links = {link["rel"]: link for link in page["links"]}
    assert {"self", "next", "prev", "collection"} <= set(links)
    assert all(link["type"] for link in page["links"])
    assert links["next"]["type"] == GEOJSON
    assert "offset=4" in links["next"]["href"] and "limit=2" in links["next"]["href"]
    assert "offset=0" in links["prev"]["href"]
    assert "offset=2" in links["self"]["href"]
    last = get_json(client, f"{OGC}/collections/villages/items?limit=2&offset={total - 1}")
    assert last["numberReturned"] == 1 and "next" not in {link["rel"] for link in last["links"]}
    beyond = get_json(client, f"{OGC}/collections/villages/items?offset={total + 50}&limit=2")
    assert (beyond["numberReturned"], beyond["numberMatched"]) == (0, total)
    previous = {link["rel"]: link for link in beyond["links"]}["prev"]["href"]
    assert f"offset={total - 2}" in previous  # back to the last page, not further past the end


@pytest.mark.parametrize("query", ["limit=0", "limit=-5", "limit=abc", "limit=1.5", "offset=-1",
                                   "offset=x", "limit=10&limit=20"])
def test_bad_limit_or_offset_answers_400(client, query):
    body = get_json(client, f"{OGC}/collections/villages/items?{query}", status=400)
    assert body["code"] == 400 and body["status"] == "Bad Request" and body["message"]
    assert "query" in body["errors"]


def test_the_largest_limit_is_accepted(client):
    assert client.get(f"{OGC}/collections/villages/items?limit=10000").status_code == 200


def test_a_limit_above_the_maximum_is_the_maximum(client):
    page = get_json(client, f"{OGC}/collections/grids-tier3/items?limit=20000")
    assert page["numberReturned"] == min(10_000, db_count("grids-tier3"))
    assert "limit=10000" in {link["rel"]: link for link in page["links"]}["self"]["href"]


def test_a_bbox_with_heights_is_the_same_bbox(client):
    flat = get_json(client, f"{OGC}/collections/villages/items?bbox=108.5,32.5,109.5,33.5")
    with_heights = get_json(client, f"{OGC}/collections/villages/items?bbox=108.5,32.5,-10,109.5,33.5,900")
    assert [f["id"] for f in with_heights["features"]] == [f["id"] for f in flat["features"]]


@pytest.mark.parametrize("path", ["/collections/", "/conformance/", "/collections/villages/",
                                  "/collections/villages/items/"])
def test_a_trailing_slash_is_the_same_resource(client, path):
    assert client.get(OGC + path).status_code == 200


@pytest.mark.parametrize("bbox", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "108,32,109", "108,32,nan,33",
                                  "108,32,inf,33", "200,32,201,33", "108,95,109,96", "109,32,108,33",
                                  "108,33,109,32", ""])
def test_bad_bbox_answers_400(client, bbox):
    body = get_json(client, f"{OGC}/collections/villages/items?bbox={bbox}", status=400)
    assert body["code"] == 400 and "bbox" in body["errors"]["query"]


@pytest.mark.parametrize("path", ["/collections/villages/items?color=red", "/collections?page=2", "?f=html",
                                  "/collections/villages/items?f=xml"])
def test_unknown_parameters_and_formats_answer_400(client, path):
    assert get_json(client, OGC + path, status=400)["code"] == 400


# --- village coverage ---

def test_village_coverage_figures_are_the_coverage_report(client):
    village = first_village(COUNTY)
    visit_in(village)
    report = get_json(client, f"/api/v1/coverage?region={COUNTY}000000&by=village")
    rows = {row["code"]: row for row in report}
    assert rows[village]["households_visited"] >= 1
    page = get_json(client, f"{OGC}/collections/village-coverage/items?limit=10000")
    features = {f["id"]: f["properties"] for f in page["features"]}
    assert set(rows) <= set(features)
    for code, row in rows.items():
        assert features[code] == {key: row[key] for key in
                                  ("code", "name", "households", "households_visited", "coverage", "band")}
    one = get_json(client, f"{OGC}/collections/village-coverage/items/{village}")
    assert one["properties"] == features[village]


def test_a_village_admin_sees_their_village_coverage(client):
    village = first_village(COUNTY)
    visit_in(village)
    make_user("ogc_village", "village_admin", village)
    headers = auth("ogc_village")
    page = get_json(client, f"{OGC}/collections/village-coverage/items", headers=headers)
    assert [f["id"] for f in page["features"]] == [village]
    report = get_json(client, f"/api/v1/coverage?region={village[:9]}000&by=village")
    row = next(r for r in report if r["code"] == village)
    properties = page["features"][0]["properties"]
    assert (properties["households_visited"], properties["coverage"], properties["band"]) == \
        (row["households_visited"], row["coverage"], row["band"])
    one = get_json(client, f"{OGC}/collections/village-coverage/items/{village}", headers=headers)
    assert one["properties"] == properties


# --- scope ---

def test_a_county_admin_sees_only_their_county(client):
    make_user("ogc_county", "county_admin", COUNTY + "000000")
    headers = auth("ogc_county")
    for collection in COUNTS:
        features = walk(client, f"{OGC}/collections/{collection}/items?limit=1000", headers)
        assert len(features) == db_count(collection, COUNTY) > 0
        assert all(f["id"].startswith(COUNTY) for f in features)
    outside_village = first_village(OTHER_COUNTY)
    for collection, feature_id in (("villages", outside_village), ("village-coverage", outside_village),
                                   ("grids-tier3", f"{outside_village}-01-01"),
                                   ("counties", OTHER_COUNTY + "000000")):
        assert client.get(f"{OGC}/collections/{collection}/items/{feature_id}").status_code == 200  # the admin
        body = get_json(client, f"{OGC}/collections/{collection}/items/{feature_id}", headers=headers, status=404)
        assert body["code"] == 404
    inside = first_village(COUNTY)
    assert client.get(f"{OGC}/collections/grids-tier3/items/{inside}-01-01", headers=headers).status_code == 200
    # The extents are those of the county.
    county_box = db.session.execute(text("""
        select ST_XMin(boundary), ST_YMin(boundary), ST_XMax(boundary), ST_YMax(boundary)
        from regions where code = :c"""), {"c": COUNTY + "000000"}).one()
    described = get_json(client, f"{OGC}/collections/counties", headers=headers)
    assert described["extent"]["spatial"]["bbox"] == [pytest.approx(list(county_box))]
    # A bbox over the other county finds nothing.
    other_box = db.session.execute(text("""
        select ST_X(p) - 0.0005, ST_Y(p) - 0.0005, ST_X(p) + 0.0005, ST_Y(p) + 0.0005
        from (select ST_PointOnSurface(boundary) p from regions where code = :c) x"""),
        {"c": OTHER_COUNTY + "000000"}).one()
    bbox = ",".join(str(v) for v in other_box)
    assert get_json(client, f"{OGC}/collections/villages/items?bbox={bbox}", headers)["numberMatched"] == 0
    assert get_json(client, f"{OGC}/collections/villages/items?bbox={bbox}")["numberMatched"] > 0


def test_a_reviewer_and_a_township_supervisor_may_read(client):
    township = first_village(COUNTY)[:9] + "000"
    make_user("ogc_reviewer", "reviewer", township)
    make_user("ogc_supervisor", "township_supervisor", township)
    for username in ("ogc_reviewer", "ogc_supervisor"):
        page = get_json(client, f"{OGC}/collections/villages/items", headers=auth(username))
        assert page["numberMatched"] == db_count("villages", township[:9])


# --- authentication and roles ---

@pytest.mark.parametrize("path", ["", "/", "/api", "/conformance", "/collections", "/collections/villages",
                                  "/collections/villages/items", "/collections/villages/items/610902001003"])
def test_every_ogc_path_needs_credentials(anonymous_client, path):
    response = anonymous_client.get(OGC + path)
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == 401 and body["message"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Basic") and 'realm="grids"' in challenge and "Bearer" in challenge


def test_a_bad_token_answers_401_with_both_schemes(anonymous_client):
    response = anonymous_client.get(f"{OGC}/collections", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="grids", Bearer'


def test_basic_authentication_works(anonymous_client, db_session):
    headers = basic("admin", ADMIN_PASSWORD)
    page = get_json(anonymous_client, f"{OGC}/collections/villages/items", headers=headers)
    assert page["numberMatched"] == db_count("villages")
    # Again (the verified credentials are remembered for a while: no second Argon2 check).
    assert anonymous_client.get(f"{OGC}/collections", headers=headers).status_code == 200


@pytest.mark.parametrize("credentials", ["admin:wrong-password", "nobody:whatever", "admin", "admin:"])
def test_bad_basic_credentials_answer_401(anonymous_client, credentials):
    token = base64.b64encode(credentials.encode()).decode()
    response = anonymous_client.get(f"{OGC}/collections", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401
    assert response.get_json()["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_repeated_basic_failures_are_rate_limited_like_sign_in(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_LOGIN_RATE_LIMIT", "3 per minute")
    headers = basic("ogc_hammered", "guess")
    statuses = [anonymous_client.get(f"{OGC}/collections", headers=headers).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_malformed_basic_credentials_answer_401(anonymous_client):
    response = anonymous_client.get(f"{OGC}/collections", headers={"Authorization": "Basic ###"})
    assert response.status_code == 401


def test_basic_authentication_does_not_reach_the_api(anonymous_client):
    # /api/v1 stays Bearer-only.
    assert anonymous_client.get("/api/v1/me", headers=basic("admin", ADMIN_PASSWORD)).status_code == 401


def test_basic_scope_applies_and_a_deactivated_account_is_refused(client, anonymous_client):
    make_user("ogc_basic", "county_admin", COUNTY + "000000")
    headers = basic("ogc_basic", PASSWORD)
    page = get_json(anonymous_client, f"{OGC}/collections/townships/items", headers=headers)
    assert page["numberMatched"] == db_count("townships", COUNTY)
    assert anonymous_client.get(f"{OGC}/collections/villages/items/{first_village(OTHER_COUNTY)}",
                                headers=headers).status_code == 404
    admin = db.session.query(User).filter_by(username="admin").one()
    update_user(admin, "ogc_basic", {"active": False})
    # Refused at once, although the same credentials were just verified.
    assert anonymous_client.get(f"{OGC}/collections", headers=headers).status_code == 401


def test_a_grid_worker_or_police_gets_403(client, anonymous_client):
    village = first_village(COUNTY)
    member = db.session.execute(text("select min(id) from members where village_code = :v"),
                                {"v": village}).scalar()
    make_user("ogc_worker", "grid_worker", village, member)
    make_user("ogc_police", "police", COUNTY + "000000")
    for username in ("ogc_worker", "ogc_police"):
        for path in ("", "/collections", "/collections/villages/items"):
            body = get_json(client, OGC + path, headers=auth(username), status=403)
            assert body["code"] == 403
    assert anonymous_client.get(f"{OGC}/collections", headers=basic("ogc_worker", PASSWORD)).status_code == 403


def test_write_methods_are_not_allowed(client, anonymous_client):
    response = client.post(f"{OGC}/collections/villages/items", json={})
    assert response.status_code == 405
    assert response.get_json()["code"] == 405
    options = anonymous_client.options(f"{OGC}/collections/villages/items")
    assert options.status_code == 200 and "POST" not in options.headers["Allow"]


# --- GDAL ---

def _ogrinfo() -> str | None:
    path = shutil.which("ogrinfo")
    if path is None and os.environ.get("GRIDS_REQUIRE_TOOLS") == "1":
        pytest.fail("ogrinfo (GDAL) is required (GRIDS_REQUIRE_TOOLS=1) but not on PATH")
    return path


def test_gdal_ogrinfo_reads_the_collections(live_server):
    ogrinfo = _ogrinfo()
    if ogrinfo is None:
        pytest.skip("ogrinfo (GDAL) is not installed")
    service = f"OAPIF:{live_server.url}/ogc"
    credentials = ["-oo", f"USERPWD={live_server.username}:{live_server.password}"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ogrinfo, "-ro", *args], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"})

    counts = {}
    for collection in ("villages", "grids-tier3", "village-coverage", "counties"):
        result = run("-so", service, collection, *credentials)
        assert result.returncode == 0, result.stdout + result.stderr
        match = re.search(r"^Feature Count: (\d+)$", result.stdout, re.MULTILINE)
        assert match, result.stdout
        counts[collection] = int(match.group(1))
        assert "Geometry: Multi Polygon" in result.stdout and "Extent: (" in result.stdout, result.stdout
    assert counts == {collection: db_count(collection) for collection in counts}
    assert "households_visited: Integer" in run("-so", service, "village-coverage", *credentials).stdout

    # Every feature, page by page through the next links (the credentials go with each page).
    result = run("-geom=NO", service, "grids-tier3", *credentials, "-oo", "PAGE_SIZE=50")
    assert result.returncode == 0, result.stderr
    codes = re.findall(r"^  code \(String\) = (\S+)$", result.stdout, re.MULTILINE)
    assert len(codes) == len(set(codes)) == db_count("grids-tier3") > 50

    # Wrong credentials: GDAL cannot open the service.
    refused = run("-so", service, "villages", "-oo", "USERPWD=admin:wrong")
    assert refused.returncode != 0


def test_gdal_ogrinfo_filters_on_the_server(live_server):
    """GDAL 3.6 reads the queryables and ``filter-lang`` from the OpenAPI document and sends ``-where`` as
    CQL text; the count it reports is the API's ``numberMatched`` for the same CQL2 filter."""
    ogrinfo = _ogrinfo()
    if ogrinfo is None:
        pytest.skip("ogrinfo (GDAL) is not installed")
    service = f"OAPIF:{live_server.url}/ogc"
    credentials = ["-oo", f"USERPWD={live_server.username}:{live_server.password}"]
    token = base64.b64encode(f"{live_server.username}:{live_server.password}".encode()).decode()

    def api_count(collection: str, where: str) -> int:
        url = f"{live_server.url}/ogc/collections/{collection}/items?limit=1&filter={urllib.parse.quote(where)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["numberMatched"]

    for collection, where in (("grids-tier3", "households > 30"),
                              ("villages", f"households >= 300 AND code LIKE '{COUNTY}%'"),
                              ("village-coverage", "households_visited > 0")):
        result = subprocess.run(
            [ogrinfo, "-ro", "-so", service, collection, *credentials, "-where", where, "--debug", "on"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"})
        assert result.returncode == 0, result.stdout + result.stderr
        match = re.search(r"^Feature Count: (\d+)$", result.stdout, re.MULTILINE)
        assert match, result.stdout
        expected = api_count(collection, where)
        assert int(match.group(1)) == expected > 0, (collection, where)
        # Evaluated by the server: GDAL saw CQL text and kept nothing back for the client.
        assert "CQL text detected" in result.stderr, result.stderr[-2000:]
        assert "evaluated on client side" not in result.stderr, result.stderr[-2000:]
        fetched = re.findall(r"HTTP: Fetch\((\S+)\)", result.stderr)
        assert any("filter=" in url and "filter-lang=cql-text" in url for url in fetched), fetched
