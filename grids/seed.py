"""``flask seed ankang``: the deterministic synthetic Ankang reference data set.

Real county-level units; townships, villages and tier-2/3 cells are Voronoi
partitions of their parent clipped to it on a 1e-7° precision grid, so children
tile their parent exactly and every polygon is valid by construction.  Households
are points drawn inside tier-3 cells.  Same scale and seed give identical data.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, box

from core.extensions import db
from grids import queries, signals
from grids.assignments.services import apply_plan, create_plan
from grids.members.seed import seed_members
from grids.seed_names import CITY_NAME, COUNTIES, URBAN_COUNTIES, NameMaker

CITY_CODE = "610900000000"
CITY_BBOX = (108.0, 31.7, 110.2, 33.8)
GRID_SIZE = 1e-7  # ~1 cm: every polygon is snapped to this precision grid
HISTORY_DAYS = 400  # seeded assignments start this long ago

# Counts at scale 1.0 (DESIGN.md).  Tier-2 and tier-3 counts are this product's
# choice: 8,815 village groups and 35,260 micro-grids of ~24 households each;
# with the 1,925 tier-1 cells they make 46,000 cells.
FULL_COUNTS = {
    "townships": 138,
    "villages": 1925,
    "tier2": 8815,
    "tier3": 35260,
    "households": 850_000,
}
TAG_PROBABILITIES = {
    "elderly": 0.18, "elderly_alone": 0.06, "student": 0.12, "left_behind": 0.08,
    "disabled": 0.03, "previous_victim": 0.01,
}


def scaled_counts(scale: float) -> dict[str, int]:
    """Counts at ``scale``; each level keeps at least one child per parent."""
    townships = max(len(COUNTIES), round(FULL_COUNTS["townships"] * scale))
    villages = max(townships, round(FULL_COUNTS["villages"] * scale))
    tier2 = max(villages, round(FULL_COUNTS["tier2"] * scale))
    tier3 = max(tier2, round(FULL_COUNTS["tier3"] * scale))
    return {"counties": len(COUNTIES), "townships": townships, "villages": villages, "tier1": villages,
            "tier2": tier2, "tier3": tier3, "households": round(FULL_COUNTS["households"] * scale)}


def allocate(total: int, weights: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights``, each ≥ ``minimum`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    remaining = total - minimum * len(weights)
    if remaining < 0:
        raise ValueError("total too small for the minimum")
    share = weights / weights.sum() * remaining
    counts = np.floor(share).astype(np.int64)
    leftover = remaining - int(counts.sum())
    if leftover:
        counts[np.argsort(-(share - counts), kind="stable")[:leftover]] += 1
    return counts + minimum


def sample_points(polygon, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform random points strictly inside ``polygon`` (rejection sampling)."""
    min_x, min_y, max_x, max_y = polygon.bounds
    found: list[np.ndarray] = []
    have = 0
    shapely.prepare(polygon)
    while have < count:
        batch = max(16, int((count - have) * 1.6))
        xs = rng.uniform(min_x, max_x, batch)
        ys = rng.uniform(min_y, max_y, batch)
        inside = shapely.contains_xy(polygon, xs, ys)
        points = np.column_stack([xs[inside], ys[inside]])
        found.append(points)
        have += len(points)
    return np.concatenate(found)[:count]


def _polygonal(geometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        # A GeometryCollection from the overlay: dig polygons out of nested parts.
        parts = [p for p in shapely.get_parts(shapely.get_parts(geometry)) if p.geom_type == "Polygon"]
    return MultiPolygon(parts)


def subdivide(parent, count: int, rng: np.random.Generator, seeds: np.ndarray | None = None) -> list:
    """Split ``parent`` into ``count`` cells tiling it, ordered north-west first."""
    if count == 1:
        return [parent]
    if seeds is None:
        seeds = sample_points(parent, count, rng)
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=parent)
    cells = shapely.intersection(shapely.get_parts(diagram), parent, grid_size=GRID_SIZE)
    pieces = [_polygonal(c) for c in cells]
    centroids = shapely.get_coordinates(shapely.centroid(pieces))
    order = np.lexsort((np.round(centroids[:, 0], 3), -np.round(centroids[:, 1], 2)))
    return [pieces[i] for i in order]


@dataclass
class Territory:
    """The generated territory, ready to be written."""

    regions: list[tuple] = field(default_factory=list)   # code, level, parent, name, geometry
    grids: list[tuple] = field(default_factory=list)     # code, tier, parent, village, name, geometry
    household_cells: list[tuple] = field(default_factory=list)  # grid code, village, geometry, count, group


def build_territory(scale: float, seed: int, step: Callable[[str, int], None] = lambda *_: None) -> Territory:
    """Generate regions and cells (no database access)."""
    rng = np.random.default_rng(seed)
    names = NameMaker(rng)
    counts = scaled_counts(scale)
    territory = Territory()
    city = shapely.set_precision(box(*CITY_BBOX), GRID_SIZE)
    territory.regions.append((CITY_CODE, "city", None, CITY_NAME, MultiPolygon([city])))

    # Counties: Voronoi cells of the real seats.
    seats = np.array([c[3] for c in COUNTIES])
    diagram = shapely.voronoi_polygons(shapely.multipoints(seats), extend_to=city, ordered=True)
    county_shapes = [_polygonal(p) for p in
                     shapely.intersection(shapely.get_parts(diagram), city, grid_size=GRID_SIZE)]
    township_counts = allocate(counts["townships"], np.array([c[2] for c in COUNTIES], dtype=float))
    township_list = []
    for (county_code, county_name, _, _), shape, n_townships in zip(COUNTIES, county_shapes, township_counts,
                                                                   strict=True):
        territory.regions.append((county_code + "000000", "county", CITY_CODE, county_name, shape))
        for index, township_shape in enumerate(subdivide(shape, int(n_townships), rng)):
            code = f"{county_code}{index + 1:03d}000"
            name = names.township(county_code in URBAN_COUNTIES, index)
            territory.regions.append((code, "township", county_code + "000000", name, township_shape))
            township_list.append((code, name, township_shape, name.endswith("街道")))
    step("townships", len(township_list))

    # Villages: more per township where townships are larger, with spread.
    areas = np.array([t[2].area for t in township_list])
    village_counts = allocate(counts["villages"], areas * rng.gamma(4.0, 0.25, len(areas)))
    village_list = []
    for (t_code, _, t_shape, is_street), n_villages in zip(township_list, village_counts, strict=True):
        village_names = names.villages(int(n_villages), 0.85 if is_street else 0.08)
        for index, v_shape in enumerate(subdivide(t_shape, int(n_villages), rng)):
            code = f"{t_code[:9]}{index + 1:03d}"
            territory.regions.append((code, "village", t_code, village_names[index], v_shape))
            village_list.append((code, village_names[index], v_shape))
    step("villages", len(village_list))

    # Tier 1 equals the village; tier 2 subdivides it; tier 3 subdivides tier 2.
    tier2_counts = allocate(counts["tier2"], rng.gamma(6.0, 1.0, len(village_list)))
    tier2_list = []
    for (v_code, v_name, v_shape), n_tier2 in zip(village_list, tier2_counts, strict=True):
        tier1_code = f"{v_code}-00-00"
        territory.grids.append((tier1_code, 1, None, v_code, f"{v_name}网格", v_shape))
        unit = "片区" if v_name.endswith("社区") else "组"
        for index, shape in enumerate(subdivide(v_shape, int(n_tier2), rng)):
            code = f"{v_code}-{index + 1:02d}-00"
            name = f"{v_name}{index + 1}{unit}"
            territory.grids.append((code, 2, tier1_code, v_code, name, shape))
            tier2_list.append((code, v_code, name, shape, f"{index + 1}{unit}"))
    step("tier2", len(tier2_list))

    tier3_counts = allocate(counts["tier3"], rng.gamma(8.0, 1.0, len(tier2_list)))
    household_weights = rng.uniform(10, 40, counts["tier3"])
    household_counts = allocate(counts["households"], household_weights, minimum=0) \
        if counts["households"] else np.zeros(counts["tier3"], dtype=np.int64)
    cursor = 0
    for (t2_code, v_code, t2_name, t2_shape, t2_unit), n_tier3 in zip(tier2_list, tier3_counts, strict=True):
        for index, shape in enumerate(subdivide(t2_shape, int(n_tier3), rng)):
            code = f"{t2_code[:15]}-{index + 1:02d}"
            territory.grids.append((code, 3, t2_code, v_code, f"{t2_name}{index + 1}号微网格", shape))
            territory.household_cells.append((code, v_code, shape, int(household_counts[cursor]), t2_unit))
            cursor += 1
        step("tier3", int(n_tier3))
    return territory


def _ewkb(geometry) -> str | np.ndarray:
    """Hex EWKB (SRID 4326) of a geometry or an array of geometries."""
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def household_rows(territory: Territory, seed: int, region_names: dict[str, str],
                   step: Callable[[str, int], None] = lambda *_: None) -> Iterator[str]:
    """COPY text lines of the households, with ids 1..N in cell order."""
    rng = np.random.default_rng(seed + 1)
    tag_names = list(TAG_PROBABILITIES)
    tag_p = np.array([TAG_PROBABILITIES[t] for t in tag_names])
    household_id = 0
    for grid_code, village_code, shape, count, group_name in territory.household_cells:
        if count:
            points = sample_points(shape, count, rng)
            ewkb = _ewkb(shapely.points(points))
            residents = rng.choice([1, 2, 3, 4, 5, 6], size=count, p=[0.14, 0.26, 0.24, 0.2, 0.1, 0.06])
            tags = rng.random((count, len(tag_names))) < tag_p
            place = region_names[village_code]
            for i in range(count):
                household_id += 1
                tag_list = ",".join(t for t, on in zip(tag_names, tags[i], strict=True) if on)
                address = f"{place}{group_name}{i + 1}号"
                yield (f"{household_id}\t{village_code[:6]}\t{grid_code}\t{village_code}\t{ewkb[i]}\t"
                       f"{address}\t{residents[i]}\t{{{tag_list}}}\n")
        step("households", count)


@contextmanager
def _timed(timings: dict[str, float], phase: str):
    started = time.perf_counter()
    yield
    timings[phase] = time.perf_counter() - started


def _copy(cursor, statement: str, lines, chunk_bytes: int = 4 << 20) -> None:
    with cursor.copy(statement) as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            if buffer.tell() > chunk_bytes:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def seed_ankang(scale: float = 1.0, seed: int = 20241, reset: bool = False,
                step: Callable[[str, int], None] = lambda *_: None) -> dict[str, float]:
    """Generate and store the reference data set; returns seconds per phase."""
    timings: dict[str, float] = {}
    if reset:
        queries.truncate_territory(signals.dependent_tables())
    elif not queries.database_is_empty():
        raise RuntimeError("the database already holds a territory; use --reset to replace it")
    with _timed(timings, "generate territory"):
        territory = build_territory(scale, seed, step)
    region_names = {code: name for code, _, _, name, _ in territory.regions}
    for code, level, parent, name, _ in territory.regions:
        if level == "village":
            region_names[code] = region_names[parent[:6] + "000000"] + region_names[parent] + name
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        with _timed(timings, "write regions and cells"):
            _copy(cursor, "copy regions (code, level, parent_code, name, boundary) from stdin",
                  (f"{c}\t{lv}\t{p or chr(92) + 'N'}\t{n}\t{_ewkb(g)}\n" for c, lv, p, n, g in territory.regions))
            step("write", len(territory.regions))
            _copy(cursor, "copy grids (code, tier, parent_code, village_code, county_code, name, boundary) "
                  "from stdin",
                  (f"{c}\t{t}\t{p or chr(92) + 'N'}\t{v}\t{v[:6]}\t{n}\t{_ewkb(g)}\n"
                   for c, t, p, v, n, g in territory.grids))
            step("write", len(territory.grids))
        with _timed(timings, "generate and write households"):
            _copy(cursor, "copy households (id, county_code, grid_code, village_code, location, address, "
                  "residents, tags) from stdin", household_rows(territory, seed, region_names, step))
            cursor.execute("select setval(pg_get_serial_sequence('households', 'id'), "
                           "greatest((select max(id) from households), 1))")
    with _timed(timings, "members"):
        seed_members(scale, seed, step)
    with _timed(timings, "rollups and statistics"):
        queries.refresh_rollups()
        db.session.commit()
        queries.analyze_territory()
    with _timed(timings, "assign chiefs (optimiser)"):
        plan = create_plan(CITY_CODE, keep_existing=False, actor="seed")
        # Backdated so a seeded visit history finds its workers assigned.
        apply_plan(plan.id, actor="seed", valid_from=datetime.now(UTC) - timedelta(days=HISTORY_DAYS))
        step("assign", 1)
    return timings
