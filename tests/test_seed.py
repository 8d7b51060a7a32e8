"""The Ankang reference data set: real codes and outlines, counts, validity, nesting, rollups, determinism."""
from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from core.extensions import db
from grids import seed as seeding
from grids import territory_data as public

TEST_SCALE, TEST_SEED = 0.02, 7  # as seeded by tests/conftest.py
COUNTS = seeding.scaled_counts(TEST_SCALE)
RELATIVE_TOLERANCE = 1e-6


def total(response) -> int:
    """The total item count from a list response's X-Pagination header."""
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])["total"]


def rows(sql: str, **params) -> list:
    """All rows of a SQL query on the test session."""
    return db.session.execute(text(sql), params).all()


def scalar(sql: str, **params):
    """The single value of a SQL query on the test session."""
    return db.session.execute(text(sql), params).scalar()


def test_scaled_counts_at_test_scale_are_the_documented_ones():
    assert COUNTS == {"counties": 12, "townships": 12, "villages": 38, "tier1": 38, "tier2": 176,
                      "tier3": 705, "households": 17000}


def test_scaled_counts_at_full_scale_match_the_design():
    counts = seeding.scaled_counts(1.0)
    # The 2023 statistical codes (the article's 138 and 1,925 are a year older).
    assert counts["townships"] == 139 and counts["villages"] == 1924
    assert counts["tier1"] + counts["tier2"] + counts["tier3"] == 46_000
    assert counts["households"] == 850_000


@pytest.mark.parametrize("level, key", [("county", "counties"), ("township", "townships"),
                                        ("village", "villages")])
def test_region_counts_per_level(client, level, key):
    assert total(client.get(f"/api/v1/regions?level={level}&page_size=1")) == COUNTS[key]


def test_one_city(client):
    response = client.get("/api/v1/regions?level=city")
    assert total(response) == 1
    assert response.get_json()[0]["code"] == seeding.CITY_CODE


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_grid_counts_per_tier(client, tier):
    assert total(client.get(f"/api/v1/grids?tier={tier}&page_size=1")) == COUNTS[f"tier{tier}"]


def test_household_count():
    assert scalar("select count(*) from households") == COUNTS["households"]


def test_real_county_codes_and_names_are_present(client):
    response = client.get("/api/v1/regions?level=county&page_size=100")
    stored = {item["code"]: item["name"] for item in response.get_json()}
    expected = dict(public.counties()) | {zone.code + "000000": zone.name for zone in public.ZONES}
    assert stored == expected
    assert len(stored) == 12  # the ten statistical counties and the two management zones
    assert stored["610902000000"] == "汉滨区" and stored["610981000000"] == "旬阳市"
    assert stored["610971000000"] == "安康高新技术产业开发区" and stored["610972000000"] == "恒口示范区"
    assert all(item["parent_code"] == seeding.CITY_CODE for item in response.get_json())


@pytest.mark.parametrize("table, column", [("regions", "boundary"), ("grids", "boundary")])
def test_every_polygon_is_valid(table, column):
    invalid = rows(f"select code, ST_IsValidReason({column}) from {table} "
                   f"where {column} is null or not ST_IsValid({column}) or ST_IsEmpty({column})")
    assert invalid == []
    assert scalar(f"select count(*) from {table} where ST_SRID({column}) <> 4326") == 0


def test_city_boundary_is_the_union_of_the_real_county_outlines(app):
    city = shapely.from_wkb(bytes(scalar("select ST_AsBinary(boundary) from regions where level = 'city'")))
    outlines = shapely.union_all([shape for _, shape in public.county_outlines().values()])
    assert city.symmetric_difference(outlines).area < RELATIVE_TOLERANCE * city.area
    min_x, min_y, max_x, max_y = app.config["GRIDS_CITY_BBOX"]  # points outside it are refused
    assert min_x < city.bounds[0] and min_y < city.bounds[1] and city.bounds[2] < max_x and city.bounds[3] < max_y
    # About 23,500 km² (the city's published area is 23,529 km²).
    assert 23_000 < scalar("select ST_Area(boundary::geography) / 1e6 from regions where level = 'city'") < 24_000


def test_stored_townships_and_villages_carry_real_codes_and_names(client):
    divisions = public.divisions()
    for level in ("township", "village"):
        stored = client.get(f"/api/v1/regions?level={level}&page_size=1000").get_json()
        assert len(stored) == COUNTS[f"{level}s"]
        assert all(divisions[level][item["code"]] == item["name"] for item in stored)
        assert all(divisions["parent"][item["code"]] == item["parent_code"] for item in stored)


def test_at_full_scale_every_township_and_village_is_kept():
    chosen = seeding.select_divisions(seeding.scaled_counts(1.0))
    townships = [code for county in chosen["townships"].values() for code, _ in county]
    villages = [code for township in chosen["villages"].values() for code, _ in township]
    assert sorted(townships) == sorted(public.divisions()["township"])
    assert sorted(villages) == sorted(public.divisions()["village"])
    assert len(townships) == 139 and len(villages) == 1924


def test_zones_manage_their_townships_and_equal_their_union(client):
    for zone in public.ZONES:
        children = client.get(f"/api/v1/regions?parent={zone.code}000000").get_json()
        assert children and {c["code"] for c in children} <= {t.ljust(12, "0") for t in zone.townships}
        assert all(c["parent_code"] == "610902000000" and c["managed_by"] == zone.code + "000000"
                   for c in children)
        difference = scalar("""
            select ST_Area(ST_SymDifference(z.boundary, (select ST_Union(boundary) from regions
                                                         where managed_by = z.code))) / ST_Area(z.boundary)
            from regions z where z.code = :code""", code=zone.code + "000000")
        assert difference < RELATIVE_TOLERANCE


# Each check groups children by their parent and compares the union to the parent.
TILING_SQL = {
    "regions": """
        with parent as (select code, boundary from regions),
             children as (select parent_code, ST_Union(boundary) as geom, sum(ST_Area(boundary)) as area,
                                 count(*) as n
                          from regions where parent_code is not null
                            and code not in (select managed_by from regions where managed_by is not null)
                          group by parent_code)
        select p.code, ST_Area(p.boundary), ST_Area(ST_SymDifference(p.boundary, c.geom)), c.area, c.n
        from parent p join children c on c.parent_code = p.code
    """,
    "grids": """
        with children as (select parent_code, ST_Union(boundary) as geom, sum(ST_Area(boundary)) as area,
                                 count(*) as n
                          from grids where parent_code is not null group by parent_code)
        select g.code, ST_Area(g.boundary), ST_Area(ST_SymDifference(g.boundary, c.geom)), c.area, c.n
        from grids g join children c on c.parent_code = g.code
    """,
}


@pytest.mark.parametrize("table", ["regions", "grids"])
def test_children_tile_their_parent(table):
    results = rows(TILING_SQL[table])
    bad = [(code, difference / area, abs(children_area - area) / area)
           for code, area, difference, children_area, _ in results
           if difference >= RELATIVE_TOLERANCE * area
           or abs(children_area - area) > RELATIVE_TOLERANCE * area]
    assert bad == []
    if table == "regions":
        # Every region except villages is a parent: the city, counties and townships (the zones are
        # the union of townships whose parent stays 汉滨区: test_zones_manage_their_townships...).
        assert len(results) == 1 + COUNTS["counties"] - len(public.ZONES) + COUNTS["townships"]
    else:
        # Every tier-1 and tier-2 cell has children.
        assert len(results) == COUNTS["tier1"] + COUNTS["tier2"]
        assert sum(n for *_, n in results) == COUNTS["tier2"] + COUNTS["tier3"]


def test_region_parents_have_the_level_above():
    mismatched = rows("""
        select c.code, c.level, p.level from regions c join regions p on p.code = c.parent_code
        where (c.level, p.level) not in (('county', 'city'), ('township', 'county'), ('village', 'township'))
    """)
    assert mismatched == []
    assert scalar("select count(*) from regions where parent_code is null") == 1


def test_tier1_cells_equal_their_village():
    results = rows("""
        select g.code, ST_Area(r.boundary), ST_Area(ST_SymDifference(g.boundary, r.boundary))
        from grids g join regions r on r.code = g.village_code
        where g.tier = 1
    """)
    assert len(results) == COUNTS["villages"]
    assert [code for code, area, diff in results if diff >= RELATIVE_TOLERANCE * area] == []
    assert scalar("select count(*) from grids where tier = 1 and code <> village_code || '-00-00'") == 0
    assert scalar("select count(*) from regions r where level = 'village' and not exists "
                  "(select 1 from grids g where g.code = r.code || '-00-00')") == 0


def test_grid_parents_have_the_tier_above_and_the_same_village():
    mismatched = rows("""
        select c.code from grids c join grids p on p.code = c.parent_code
        where p.tier <> c.tier - 1 or p.village_code <> c.village_code
           or left(c.code, 12) <> c.village_code or c.county_code <> left(c.village_code, 6)
    """)
    assert mismatched == []
    assert scalar("select count(*) from grids where (tier = 1) <> (parent_code is null)") == 0


def test_every_household_is_covered_by_its_tier3_cell():
    outside = rows("""
        select h.id, h.grid_code from households h join grids g on g.code = h.grid_code
        where g.tier <> 3 or not ST_Covers(g.boundary, h.location)
           or h.village_code <> g.village_code or h.county_code <> g.county_code
    """)
    assert outside == []
    assert scalar("select count(*) from households h join grids g on g.code = h.grid_code") \
        == COUNTS["households"]


def test_grid_household_rollups_equal_direct_counts():
    wrong = rows("""
        select g.code, g.tier, g.households,
               (select count(*) from households h where
                   case g.tier when 3 then h.grid_code = g.code
                               when 2 then left(h.grid_code, 15) = left(g.code, 15)
                               else h.village_code = g.village_code end) as direct
        from grids g
    """)
    assert len(wrong) == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]
    assert [r for r in wrong if r.households != r.direct] == []


def test_region_rollups_equal_direct_counts():
    prefix_length = {"city": 4, "county": 6, "township": 9, "village": 12}
    regions = rows("select code, level, households, grids from regions")
    zones = {zone.code + "000000": [t + "%" for t in zone.townships] for zone in public.ZONES}
    for code, level, households, grids in regions:
        prefixes = zones.get(code, [code[: prefix_length[level]] + "%"])
        direct = scalar("select count(*) from households where village_code like any(:p)", p=prefixes)
        assert households == direct, code
        assert grids == scalar("select count(*) from grids where village_code like any(:p)", p=prefixes), code
    city = next(r for r in regions if r.level == "city")
    assert city.households == COUNTS["households"]
    assert city.grids == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]


def test_region_rollups_through_the_api(client):
    counties = client.get("/api/v1/regions?level=county&page_size=100").get_json()
    # The zones' households are 汉滨区's too: the ten statistical counties add up to the city.
    counties = [c for c in counties if c["code"][:6] not in {zone.code for zone in public.ZONES}]
    assert len(counties) == 10
    assert sum(c["households"] for c in counties) == COUNTS["households"]
    assert sum(c["grids"] for c in counties) == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]


def geometry_keys(territory: seeding.Territory) -> tuple[list, list]:
    """(code, WKB) pairs of a territory's regions and grids, for exact comparison."""
    regions = [(code, shapely.to_wkb(geometry)) for code, _, _, _, geometry, _ in territory.regions]
    grids = [(code, shapely.to_wkb(geometry)) for code, _, _, _, _, geometry in territory.grids]
    return regions, grids


@pytest.fixture(scope="module")
def territory_twice():
    """The test territory built twice with the same scale and seed, and once with another seed."""
    return (seeding.build_territory(TEST_SCALE, TEST_SEED), seeding.build_territory(TEST_SCALE, TEST_SEED),
            seeding.build_territory(TEST_SCALE, TEST_SEED + 1))


def test_same_seed_gives_identical_territory(territory_twice):
    first, second, _ = territory_twice
    assert geometry_keys(first) == geometry_keys(second)
    assert [r[:4] + r[5:] for r in first.regions] == [r[:4] + r[5:] for r in second.regions]
    assert [g[:5] for g in first.grids] == [g[:5] for g in second.grids]
    assert [(c, v, n) for c, v, _, n, _ in first.household_cells] == \
        [(c, v, n) for c, v, _, n, _ in second.household_cells]


def test_different_seed_gives_different_geometry(territory_twice):
    first, _, other = territory_twice
    first_regions, first_grids = geometry_keys(first)
    other_regions, other_grids = geometry_keys(other)
    # The city and its ten counties are the real outlines, whatever the seed; the townships and
    # villages kept at this scale, their shapes and the cells depend on it.
    county_codes = {code for code, level, *_ in first.regions if level in ("city", "county")} \
        - {zone.code + "000000" for zone in public.ZONES}
    assert [r for r in first_regions if r[0] in county_codes] == \
        [r for r in other_regions if r[0] in county_codes]
    first_villages = {wkb for code, wkb in first_regions if code[9:] != "000"}
    other_villages = {wkb for code, wkb in other_regions if code[9:] != "000"}
    assert len(first_villages) == len(other_villages) == COUNTS["villages"]
    assert first_villages != other_villages
    assert {wkb for _, wkb in first_grids} != {wkb for _, wkb in other_grids}


def test_stored_territory_is_the_built_one(territory_twice):
    built = {code: geometry for code, _, _, _, geometry, _ in territory_twice[0].regions}
    stored = dict(rows("select code, ST_AsBinary(boundary) from regions"))
    assert stored.keys() == built.keys()
    for code, wkb in stored.items():
        assert shapely.from_wkb(bytes(wkb)).equals_exact(built[code], 0), code


@pytest.mark.parametrize("total_count, weights, minimum", [
    (10, [1.0, 1.0, 1.0], 1),
    (100, [0.1, 5.0, 2.5, 2.5, 0.0001], 1),
    (12, [24, 10, 11, 11, 17, 12, 11, 7, 11, 19, 2, 3], 1),
    (7, [1.0, 2.0, 3.0], 0),
    (9, [3.0, 1.0], 4),
    (3, [1.0, 1.0, 1.0], 1),
])
def test_allocate_sums_exactly_and_respects_minimum(total_count, weights, minimum):
    counts = seeding.allocate(total_count, np.array(weights), minimum=minimum)
    assert len(counts) == len(weights)
    assert int(counts.sum()) == total_count
    assert (counts >= minimum).all()
    assert np.issubdtype(counts.dtype, np.integer)


def test_allocate_random_weights_sum_exactly():
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 50))
        weights = rng.gamma(2.0, 1.0, n)
        minimum = int(rng.integers(0, 3))
        total_count = minimum * n + int(rng.integers(0, 1000))
        counts = seeding.allocate(total_count, weights, minimum=minimum)
        assert int(counts.sum()) == total_count
        assert counts.min() >= minimum


def test_allocate_is_proportional():
    counts = seeding.allocate(1000, np.array([1.0, 3.0]), minimum=0)
    assert counts.tolist() == [250, 750]


def test_allocate_rejects_a_total_below_the_minimum():
    with pytest.raises(ValueError):
        seeding.allocate(2, np.array([1.0, 1.0, 1.0]), minimum=1)


def test_reset_empties_the_territory_with_the_tables_outreach_keeps_about_it():
    """``seed --reset`` truncates grids' tables and the ones outreach registered (grids names none of them)."""
    from grids import queries, signals

    dependent = signals.dependent_tables()
    assert set(dependent) == {"visits", "visit_keys", "household_coverage", "household_visit_days", "grid_coverage",
                              "grid_day_counts", "village_day_counts", "last_completed_counts",
                              "household_visit_months", "village_month_counts", "village_app_counts"}
    tables = [*dependent, *queries.TERRITORY_TABLES]
    assert rows("select count(*) from households")[0][0] > 0  # the seeded territory is there to remove
    queries.truncate_territory(dependent)  # rolled back with the test
    assert {table: rows(f"select count(*) from {table}")[0][0] for table in tables} == dict.fromkeys(tables, 0)
    assert rows("select count(*) from cases")[0][0] == 0  # referencing tables go by cascade
