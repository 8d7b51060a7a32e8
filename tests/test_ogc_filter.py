"""OGC API – Features Part 3 at /ogc: CQL2 text and JSON filters, queryables (document and query parameters),
``properties``, ``sortby`` and ``numberMatched`` — each compared with the same selection made in SQL."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.helpers import assert_error, auth, first_village, make_user, one, sql, visit_in

OGC = "/ogc"
COUNTY = "610902"
OTHER_COUNTY = "610921"


def items(client, collection: str, query: str = "", headers: dict | None = None, status: int = 200) -> dict:
    if "limit=" not in query:
        query = f"limit=10000&{query}"
    response = client.get(f"{OGC}/collections/{collection}/items?{query}", headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json(force=True)


def ids(page: dict) -> list[str]:
    return [f["id"] for f in page["features"]]


def codes(statement: str, **params) -> list[str]:
    return list(sql(statement + " order by code", **params).scalars())


def cql(text: str) -> str:
    return "filter=" + quote(text)


def cql_json(document: dict) -> str:
    return "filter-lang=cql2-json&filter=" + quote(json.dumps(document))


def centre(code: str) -> tuple[float, float]:
    return tuple(one("select ST_X(p), ST_Y(p) from (select ST_PointOnSurface(boundary) p from regions"
                     " where code = :c) x", c=code))


def prop(name: str) -> dict:
    return {"property": name}


# (collection, CQL2 text, CQL2 JSON, SQL over the collection's table giving the same codes)
CASES = [
    ("grids-tier3", "households > 30",
     {"op": ">", "args": [prop("households"), 30]},
     "select code from grids where tier = 3 and households > 30"),
    ("grids-tier3", "households BETWEEN 10 AND 20 AND NOT code LIKE '610902%'",
     {"op": "and", "args": [{"op": "between", "args": [prop("households"), 10, 20]},
                            {"op": "not", "args": [{"op": "like", "args": [prop("code"), "610902%"]}]}]},
     "select code from grids where tier = 3 and households between 10 and 20 and code not like '610902%'"),
    ("villages", "households IN (100, 150, 200) OR name LIKE '%一%' OR grids >= 30",
     {"op": "or", "args": [{"op": "in", "args": [prop("households"), [100, 150, 200]]},
                           {"op": "like", "args": [prop("name"), "%一%"]},
                           {"op": ">=", "args": [prop("grids"), 30]}]},
     "select code from regions where level = 'village' and (households in (100, 150, 200) or name like '%一%'"
     " or grids >= 30)"),
    ("townships", f"parent_code = '{COUNTY}000000' AND households <> 0",
     {"op": "and", "args": [{"op": "=", "args": [prop("parent_code"), f"{COUNTY}000000"]},
                            {"op": "<>", "args": [prop("households"), 0]}]},
     f"select code from regions where level = 'township' and parent_code = '{COUNTY}000000' and households <> 0"),
    ("counties", "parent_code IS NULL OR CASEI(level) = casei('COUNTY')",
     {"op": "or", "args": [{"op": "isNull", "args": [prop("parent_code")]},
                           {"op": "=", "args": [{"op": "casei", "args": [prop("level")]},
                                                {"op": "casei", "args": ["COUNTY"]}]}]},
     "select code from regions where level = 'county'"),
    ("grids-tier2", "village_code LIKE '6109020010__' AND tier = 2",
     {"op": "and", "args": [{"op": "like", "args": [prop("village_code"), "6109020010__"]},
                            {"op": "=", "args": [prop("tier"), 2]}]},
     "select code from grids where tier = 2 and village_code like '6109020010__'"),
]


@pytest.mark.parametrize(("collection", "text", "document", "statement"), CASES)
def test_cql2_text_and_json_filters_equal_the_sql_selection(client, collection, text, document, statement):
    expected = codes(statement)
    assert expected, "the case must select something"
    by_text = items(client, collection, cql(text))
    by_json = items(client, collection, cql_json(document))
    assert ids(by_text) == ids(by_json) == expected
    assert by_text["numberMatched"] == by_json["numberMatched"] == len(expected)
    # The draft name GDAL 3.6 sends is CQL2 text too.
    assert ids(items(client, collection, "filter-lang=cql-text&" + cql(text))) == expected


def test_spatial_filters_equal_postgis(client):
    lon, lat = centre(first_village(COUNTY))
    box = (lon - 0.02, lat - 0.015, lon + 0.02, lat + 0.015)
    envelope = "ST_MakeEnvelope(:a, :b, :c, :d, 4326)"
    values = dict(zip("abcd", box, strict=True))
    bbox = ", ".join(str(v) for v in box)
    # Around a whole village (the cells are large at the test scale).
    x1, y1, x2, y2 = one("select ST_XMin(b) - 0.01, ST_YMin(b) - 0.01, ST_XMax(b) + 0.01, ST_YMax(b) + 0.01"
                         " from (select boundary b from regions where code = :c) x", c=first_village(COUNTY))
    polygon = f"POLYGON(({x1} {y1}, {x2} {y1}, {x2} {y2}, {x1} {y2}, {x1} {y1}))"
    around = dict(zip(("x1", "y1", "x2", "y2"), (x1, y1, x2, y2), strict=True))
    cases = [
        (f"S_INTERSECTS(geometry, BBOX({bbox}))", f"ST_Intersects(boundary, {envelope})"),
        (f"S_WITHIN(geometry, {polygon})", "ST_Within(boundary, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326))"),
        (f"S_CONTAINS(geometry, POINT({lon} {lat}))",
         "ST_Contains(boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
        (f"S_DISJOINT(geometry, BBOX({bbox})) AND village_code LIKE '{COUNTY}%'",
         f"ST_Disjoint(boundary, {envelope}) and village_code like '{COUNTY}%'"),
        (f"S_TOUCHES(geometry, BBOX({bbox})) OR S_OVERLAPS(geometry, BBOX({bbox}))",
         f"ST_Touches(boundary, {envelope}) or ST_Overlaps(boundary, {envelope})"),
    ]
    for text, condition in cases:
        expected = codes(f"select code from grids where tier = 3 and {condition}", **values, **around,
                         lon=lon, lat=lat)
        assert expected, text
        assert ids(items(client, "grids-tier3", cql(text))) == expected, text
    # The same in CQL2 JSON, with a GeoJSON literal.
    document = {"op": "s_intersects", "args": [prop("geometry"), {"type": "Point", "coordinates": [lon, lat]}]}
    expected = codes("select code from grids where tier = 3 and ST_Intersects(boundary,"
                     " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))", lon=lon, lat=lat)
    assert ids(items(client, "grids-tier3", cql_json(document))) == expected and expected


def test_property_property_comparison(client):
    visit_in(first_village(COUNTY))
    page = items(client, "village-coverage", cql("households_visited >= households OR households_visited > 0"))
    assert page["numberMatched"] >= 1
    assert all(f["properties"]["households_visited"] > 0 for f in page["features"])


def test_filter_pages_carry_the_filter_and_number_matched(client):
    expected = codes("select code from grids where tier = 3 and households > 25")
    url = f"{OGC}/collections/grids-tier3/items?limit=7&{cql('households > 25')}"
    seen, pages = [], 0
    while url:
        page = client.get(url).get_json(force=True)
        assert page["numberMatched"] == len(expected)
        seen += ids(page)
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        pages += 1
        assert pages < 500
    assert seen == expected


# --- scope ---

def test_a_filter_never_sees_outside_the_callers_scope(client):
    make_user("ogc_filter_county", "county_admin", COUNTY + "000000")
    headers = auth("ogc_filter_county")
    inside = codes("select code from regions where level = 'village' and code like :p", p=COUNTY + "%")
    for text in ("households > -1 OR 1 = 1", "TRUE", "NOT (code LIKE '610902%')", f"code LIKE '{OTHER_COUNTY}%'",
                 f"code = '{first_village(OTHER_COUNTY)}'"):
        page = items(client, "villages", cql(text), headers=headers)
        assert set(ids(page)) <= set(inside), text
        assert page["numberMatched"] == len(ids(page))
    assert items(client, "villages", cql(f"code LIKE '{OTHER_COUNTY}%'"), headers=headers)["numberMatched"] == 0
    assert items(client, "villages", cql(f"code LIKE '{OTHER_COUNTY}%'"))["numberMatched"] > 0  # the city admin
    # A spatial filter over the other county finds nothing either; the same as query parameters.
    lon, lat = centre(OTHER_COUNTY + "000000")
    assert items(client, "grids-tier3", cql(f"S_INTERSECTS(geometry, POINT({lon} {lat}))"),
                 headers=headers)["numberMatched"] == 0
    assert items(client, "grids-tier3", cql(f"S_INTERSECTS(geometry, POINT({lon} {lat}))"))["numberMatched"] == 1
    assert items(client, "villages", f"code={first_village(OTHER_COUNTY)}", headers=headers)["numberMatched"] == 0


# --- bad filters and injection attempts ---

@pytest.mark.parametrize("query", [
    cql("households > 0; drop table regions"),
    cql("households > 0) OR (1=1"),
    cql("name = 'x' --"),
    cql('"households; drop table regions" > 0'),
    cql("regions.households > 0"),
    cql("boundary IS NULL"),
    cql("pg_sleep(5) = 0"),
    cql("S_INTERSECTS(geometry, 'POINT(0 0)'); select 1"),
    "filter-lang=cql2-json&filter=" + quote('{"op": ">", "args": [{"property": "households) or (1=1"}, 0]}'),
    "filter-lang=cql2-json&filter=" + quote('{"op": "or", "args": [{"op": "=", "args": [1, 1]}'),
    "filter-lang=cql2-json&filter=" + quote('{"op": "sql", "args": ["1=1"]}'),
])
def test_an_injection_attempt_answers_400_and_changes_nothing(client, query):
    before = one("select count(*) from regions")[0]
    body = assert_error(client.get(f"{OGC}/collections/villages/items?{query}"), 400, "filter", "query")
    assert "drop" not in json.dumps(body).lower() or "Unknown queryable" in json.dumps(body)
    assert one("select count(*) from regions")[0] == before


def test_quotes_inside_a_literal_are_data(client):
    page = items(client, "villages", cql("name = 'x'' OR ''1''=''1'"))
    assert page["numberMatched"] == 0
    name = one("select name from regions where level = 'village' order by code limit 1")[0]
    assert items(client, "villages", cql(f"name = '{name}'"))["numberMatched"] >= 1


@pytest.mark.parametrize(("query", "field"), [
    (cql("nope > 1"), "filter"),
    (cql("households = 'many'"), "filter"),
    (cql("name LIKE 5"), "filter"),
    (cql("households BETWEEN 'a' AND 'b'"), "filter"),
    (cql("T_AFTER(households, TIMESTAMP('2024-01-01T00:00:00Z'))"), "filter"),
    (cql("A_CONTAINS(name, ('a'))"), "filter"),
    (cql("households + 1 > 2"), "filter"),
    (cql("S_INTERSECTS(name, POINT(1 2))"), "filter"),
    (cql("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))"), "filter"),
    (cql("S_INTERSECTS(geometry, POINT(500 20))"), "filter"),
    (cql("households > " + "1" * 400 + "e999"), "filter"),
    ("filter-lang=cql2-json&filter=" + quote('{"op": "not", "args": [' * 60 + "true" + "]}" * 60), "filter"),
    ("filter=" + "x" * 20_001, "filter"),
    ("filter-lang=cql2-json&filter=" + quote("not json"), "filter"),
    ("filter-lang=cql3&" + cql("households > 1"), "filter-lang"),
    ("filter-crs=EPSG:9999&" + cql("households > 1"), "filter-crs"),
    ("households=many", "households"),
    ("properties=name,nope", "properties"),
    ("sortby=nope", "sortby"),
    ("sortby=", "sortby"),
])
def test_bad_filters_answer_400_with_the_field(client, query, field):
    assert_error(client.get(f"{OGC}/collections/grids-tier3/items?{query}"), 400, field, "query")


def test_village_coverage_band_is_a_queryable_enum(client):
    assert_error(client.get(f"{OGC}/collections/village-coverage/items?band=purple"), 400, "band", "query")


# --- queryables ---

@pytest.mark.parametrize("collection", ["counties", "villages", "grids-tier3", "village-coverage"])
def test_queryables_describe_every_property_and_the_geometry(client, collection):
    response = client.get(f"{OGC}/collections/{collection}/queryables")
    assert response.status_code == 200 and response.mimetype == "application/schema+json"
    schema = response.get_json(force=True)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/ogc/collections/{collection}/queryables") and schema["type"] == "object"
    feature = items(client, collection, "limit=1")["features"][0]
    assert set(schema["properties"]) == set(feature["properties"]) | {"geometry"}
    assert schema["properties"]["geometry"]["format"] == "geometry-multipolygon"
    for name, value in feature["properties"].items():
        kind = schema["properties"][name]["type"]
        kinds = kind if isinstance(kind, list) else [kind]
        expected = {str: "string", int: "integer", float: "number", type(None): "null"}[type(value)]
        assert expected in kinds or (expected == "integer" and "number" in kinds), (name, value, kind)
    described = client.get(f"{OGC}/collections/{collection}").get_json()
    queryables = next(link for link in described["links"]
                      if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables")
    assert queryables["href"].endswith(f"/collections/{collection}/queryables")
    assert client.get(f"{OGC}/collections/nope/queryables").status_code == 404


def test_queryables_as_query_parameters(client):
    households = one("select households from grids where tier = 3 order by code limit 1")[0]
    expected = codes("select code from grids where tier = 3 and households = :h", h=households)
    assert ids(items(client, "grids-tier3", f"households={households}")) == expected
    assert ids(items(client, "grids-tier3", cql(f"households = {households}"))) == expected
    village = first_village(COUNTY)
    both = items(client, "grids-tier3", f"households={households}&village_code={village}")
    assert ids(both) == codes("select code from grids where tier = 3 and households = :h and village_code = :v",
                              h=households, v=village)


# --- properties and sortby ---

def test_properties_selects_what_each_feature_carries(client):
    page = items(client, "villages", "limit=5&properties=name,households")
    assert page["numberReturned"] == 5
    for feature in page["features"]:
        assert set(feature["properties"]) == {"name", "households"}
        assert feature["id"] and feature["geometry"]["type"] == "MultiPolygon"
    assert all(f["properties"] == {} for f in items(client, "villages", "limit=3&properties=")["features"])
    village = first_village(COUNTY)
    single = client.get(f"{OGC}/collections/village-coverage/items/{village}?properties=coverage,band").get_json()
    assert set(single["properties"]) == {"coverage", "band"}


def test_sortby_orders_as_sql_and_pages_stay_stable(client):
    expected = list(sql("select code from grids where tier = 3 order by households desc, name, code").scalars())
    assert ids(items(client, "grids-tier3", "sortby=-households,%2Bname")) == expected
    walked, url = [], f"{OGC}/collections/grids-tier3/items?limit=50&sortby=-households,name"
    while url:
        page = client.get(url).get_json(force=True)
        walked += ids(page)
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert walked == expected
    ascending = list(sql("select code from regions where level = 'village' order by households, code").scalars())
    assert ids(items(client, "villages", "sortby=households")) == ascending


def test_village_coverage_is_filtered_and_sorted_on_the_reports_figures(client):
    for village in (first_village(COUNTY), first_village(OTHER_COUNTY)):
        visit_in(village)
    # 汉滨区 read statistically (its whole territory, as a county scope sees it in OGC): the managed view,
    # the report's default, leaves out the villages of the townships the two zones run.
    report = client.get(f"/api/v1/coverage?region={COUNTY}000000&by=village&view=statistical").get_json()
    make_user("ogc_cov_county", "county_admin", COUNTY + "000000")
    headers = auth("ogc_cov_county")
    page = items(client, "village-coverage", "sortby=-coverage", headers=headers)
    figures = {row["code"]: row for row in report}
    assert len(page["features"]) == len(figures)
    for feature in page["features"]:
        row = figures[feature["id"]]
        assert feature["properties"] == {key: row[key] for key in
                                         ("code", "name", "households", "households_visited", "coverage", "band")}
    shares = [f["properties"]["coverage"] or 0 for f in page["features"]]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0
    visited = items(client, "village-coverage", cql("households_visited > 0"), headers=headers)
    assert ids(visited) == sorted(code for code, row in figures.items() if row["households_visited"] > 0)
    red = items(client, "village-coverage", "band=red", headers=headers)
    assert ids(red) == sorted(code for code, row in figures.items() if row["band"] == "red")
    assert ids(items(client, "village-coverage", cql("band = 'red'"), headers=headers)) == ids(red)


# --- conformance ---

def test_conformance_declares_exactly_what_is_built(client):
    classes = client.get(f"{OGC}/conformance").get_json()["conformsTo"]
    features, cql2 = "http://www.opengis.net/spec/ogcapi-features-", "http://www.opengis.net/spec/cql2/1.0/conf/"
    assert sorted(classes) == sorted([
        f"{features}1/1.0/conf/core", f"{features}1/1.0/conf/geojson", f"{features}1/1.0/conf/oas30",
        f"{features}2/1.0/conf/crs",
        f"{features}3/1.0/conf/queryables", f"{features}3/1.0/conf/queryables-query-parameters",
        f"{features}3/1.0/conf/filter", f"{features}3/1.0/conf/features-filter",
        f"{cql2}cql2-text", f"{cql2}cql2-json", f"{cql2}basic-cql2", f"{cql2}advanced-comparison-operators",
        f"{cql2}case-insensitive-comparison", f"{cql2}basic-spatial-functions",
        f"{cql2}basic-spatial-functions-plus", f"{cql2}spatial-functions", f"{cql2}property-property",
    ])


def test_village_coverage_counts_from_the_visit_days_when_the_period_ends_before_the_latest_visit(
        client, monkeypatch):
    """When visits exist past the period's end, households visited come from the visit days, as in the report."""
    from datetime import timedelta

    from core.clock import today
    from outreach.coverage import queries as coverage_queries

    village = first_village(COUNTY)
    visit_in(village)
    monkeypatch.setattr(coverage_queries, "latest_completed_day", lambda: today() + timedelta(days=1))
    report = client.get(f"/api/v1/coverage?region={village[:9]}000&by=village").get_json()
    row = next(r for r in report if r["code"] == village)
    assert row["households_visited"] >= 1
    page = items(client, "village-coverage", cql(f"code = '{village}'"))
    assert page["features"][0]["properties"] == {key: row[key] for key in
                                                 ("code", "name", "households", "households_visited", "coverage",
                                                  "band")}
