"""The synthetic Ankang reference data set: counts, names, validity, nesting, rollups, determinism."""
from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from core.extensions import db
from grids import seed as seeding
from grids.seed_names import COUNTIES

TEST_SCALE, TEST_SEED = 0.01, 7  # as seeded by tests/conftest.py
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
    assert COUNTS == {"counties": 12, "townships": 12, "villages": 19, "tier1": 19, "tier2": 88,
                      "tier3": 353, "households": 8500}


def test_scaled_counts_at_full_scale_match_the_design():
    counts = seeding.scaled_counts(1.0)
    assert counts["townships"] == 138 and counts["villages"] == 1925
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
    expected = {code + "000000": name for code, name, _, _ in COUNTIES}
    assert stored == expected
    assert stored["610902000000"] == "汉滨区"
    assert all(item["parent_code"] == seeding.CITY_CODE for item in response.get_json())


@pytest.mark.parametrize("table, column", [("regions", "boundary"), ("grids", "boundary")])
def test_every_polygon_is_valid(table, column):
    invalid = rows(f"select code, ST_IsValidReason({column}) from {table} "
                   f"where {column} is null or not ST_IsValid({column}) or ST_IsEmpty({column})")
    assert invalid == []
    assert scalar(f"select count(*) from {table} where ST_SRID({column}) <> 4326") == 0


def test_city_boundary_is_the_bounding_box():
    bounds = rows("select ST_XMin(boundary), ST_YMin(boundary), ST_XMax(boundary), ST_YMax(boundary) "
                  "from regions where level = 'city'")
    assert tuple(bounds[0]) == pytest.approx(seeding.CITY_BBOX, abs=1e-9)


# Each check groups children by their parent and compares the union to the parent.
TILING_SQL = {
    "regions": """
        with parent as (select code, boundary from regions),
             children as (select parent_code, ST_Union(boundary) as geom, sum(ST_Area(boundary)) as area,
                                 count(*) as n
                          from regions where parent_code is not null group by parent_code)
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
        # Every region except villages is a parent: the city, counties and townships.
        assert len(results) == 1 + COUNTS["counties"] + COUNTS["townships"]
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
    for code, level, households, grids in regions:
        prefix = code[: prefix_length[level]] + "%"
        direct = scalar("select count(*) from households where village_code like :p", p=prefix)
        assert households == direct, code
        assert grids == scalar("select count(*) from grids where village_code like :p", p=prefix), code
    city = next(r for r in regions if r.level == "city")
    assert city.households == COUNTS["households"]
    assert city.grids == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]


def test_region_rollups_through_the_api(client):
    counties = client.get("/api/v1/regions?level=county&page_size=100").get_json()
    assert sum(c["households"] for c in counties) == COUNTS["households"]
    assert sum(c["grids"] for c in counties) == COUNTS["tier1"] + COUNTS["tier2"] + COUNTS["tier3"]


def geometry_keys(territory: seeding.Territory) -> tuple[list, list]:
    """(code, WKB) pairs of a territory's regions and grids, for exact comparison."""
    regions = [(code, shapely.to_wkb(geometry)) for code, _, _, _, geometry in territory.regions]
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
    assert [r[:4] for r in first.regions] == [r[:4] for r in second.regions]
    assert [g[:5] for g in first.grids] == [g[:5] for g in second.grids]
    assert [(c, v, n) for c, v, _, n, _ in first.household_cells] == \
        [(c, v, n) for c, v, _, n, _ in second.household_cells]


def test_different_seed_gives_different_geometry(territory_twice):
    first, _, other = territory_twice
    first_regions, first_grids = geometry_keys(first)
    other_regions, other_grids = geometry_keys(other)
    # Counties are Voronoi cells of the fixed real seats (and, at this scale, one township each),
    # so they do not depend on the seed; villages and cells do (except where a township has one village).
    county_codes = {code for code, level, *_ in first.regions if level in ("city", "county", "township")}
    assert [r for r in first_regions if r[0] in county_codes] == \
        [r for r in other_regions if r[0] in county_codes]
    first_villages = {wkb for code, wkb in first_regions if code not in county_codes}
    other_villages = {wkb for code, wkb in other_regions if code not in county_codes}
    assert len(first_villages) == len(other_villages) == COUNTS["villages"]
    assert first_villages != other_villages
    assert {wkb for _, wkb in first_grids} != {wkb for _, wkb in other_grids}


def test_stored_territory_is_the_built_one(territory_twice):
    built = {code: geometry for code, _, _, _, geometry in territory_twice[0].regions}
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
