"""Optimal assignment of chiefs to cells: min-cost flow over k-nearest candidate edges.

Every cell needs one chief.  Members have a capacity (how many cells they may lead)
and eligibility (their kind, the cell's tier, their county or village).  The cost of
an edge is the distance from the member's home to the cell in metres, plus a penalty
when it changes the cell's current chief (keep-existing mode).  Only the ``k``
nearest eligible members of each cell become edges (KD-trees per county and tier),
so the graph stays sparse: ~``k`` × cells arcs, never a dense matrix.  OR-Tools'
network-simplex min-cost flow solves it exactly on that graph; every cell also has
an expensive "uncovered" arc, so the flow is always feasible and cells that cannot
be covered are reported with the reason.

A greedy nearest-available baseline is computed on the same candidates.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy.spatial import cKDTree

# Kinds of member that may lead a cell of each tier.
CHIEF_KINDS = {
    1: ("village_secretary", "village_cadre"),
    2: ("village_secretary", "village_cadre", "party_member", "township_cadre"),
    3: ("party_member", "grid_worker", "village_cadre", "township_cadre"),
}
UNCOVERED_COST = 10**9  # far above any real distance (metres) plus penalty
EARTH_KM_PER_DEGREE_LAT = 110.574
EARTH_KM_PER_DEGREE_LON_EQUATOR = 111.320


def project_km(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular projection around ``lat0`` in km (error ≪ 1 % across a city)."""
    x = np.asarray(lon) * EARTH_KM_PER_DEGREE_LON_EQUATOR * np.cos(np.radians(lat0))
    y = np.asarray(lat) * EARTH_KM_PER_DEGREE_LAT
    return np.column_stack([x, y])


@dataclass
class Problem:
    """Cells to cover and members who may cover them (arrays aligned by index)."""

    cell_codes: list[str]
    cell_tier: np.ndarray          # int
    cell_village: list[str]
    cell_xy: np.ndarray            # (n, 2) km
    member_ids: np.ndarray         # int
    member_kind: list[str]
    member_village: list[str]
    member_xy: np.ndarray          # (m, 2) km
    member_capacity: np.ndarray    # int, remaining chief slots
    current_chief: np.ndarray      # member index per cell, -1 when none
    change_penalty_m: int = 0
    k: int = 12


@dataclass
class Solution:
    """Chief per cell (member index, -1 uncovered) and the figures of the plan."""

    chief: np.ndarray
    distance_m: np.ndarray
    uncovered_reason: dict[int, str]
    total_distance_m: float
    greedy_total_distance_m: float
    greedy_covered: int
    changes: int
    arcs: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def _candidates(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cell index, member index, distance m) of every candidate edge, and per cell whether any
    eligible member exists at all (capacity left or not)."""
    cells, members = [], []
    eligible_exists = np.zeros(len(problem.cell_codes), dtype=bool)
    kinds = np.array(problem.member_kind)
    member_county = np.array([v[:6] for v in problem.member_village])
    member_village = np.array(problem.member_village)
    cell_county = np.array([v[:6] for v in problem.cell_village])
    cell_village = np.array(problem.cell_village)
    eligible_capacity = problem.member_capacity > 0
    for tier, allowed in CHIEF_KINDS.items():
        kind_any = np.isin(kinds, allowed)
        kind_ok = kind_any & eligible_capacity
        tier_cells = np.flatnonzero(problem.cell_tier == tier)
        if tier == 1:
            # A tier-1 chief comes from the village itself: group by village.
            by_village: dict[str, list[int]] = {}
            for member in np.flatnonzero(kind_ok):
                by_village.setdefault(member_village[member], []).append(member)
            villages_with_any = set(member_village[kind_any].tolist())
            for cell in tier_cells:
                eligible_exists[cell] = cell_village[cell] in villages_with_any
                for member in by_village.get(cell_village[cell], []):
                    cells.append(cell)
                    members.append(member)
            continue
        for county in np.unique(cell_county[tier_cells]):
            county_cells = tier_cells[cell_county[tier_cells] == county]
            eligible_exists[county_cells] = bool(np.any(kind_any & (member_county == county)))
            pool = np.flatnonzero(kind_ok & (member_county == county))
            if len(pool) == 0:
                continue
            k = min(problem.k, len(pool))
            _, nearest = cKDTree(problem.member_xy[pool]).query(problem.cell_xy[county_cells], k=k)
            nearest = np.asarray(nearest).reshape(len(county_cells), k)
            cells.append(np.repeat(county_cells, k))
            members.append(pool[nearest.ravel()])
    cell_index = np.concatenate([np.atleast_1d(np.asarray(c, dtype=np.int64)) for c in cells]) if cells \
        else np.zeros(0, dtype=np.int64)
    member_index = np.concatenate([np.atleast_1d(np.asarray(m, dtype=np.int64)) for m in members]) if members \
        else np.zeros(0, dtype=np.int64)
    # The current chief always stays a candidate, however far.
    current = np.flatnonzero(problem.current_chief >= 0)
    cell_index = np.concatenate([cell_index, current])
    member_index = np.concatenate([member_index, problem.current_chief[current]])
    pairs = np.unique(np.column_stack([cell_index, member_index]), axis=0)
    cell_index, member_index = pairs[:, 0], pairs[:, 1]
    distance = np.linalg.norm(problem.cell_xy[cell_index] - problem.member_xy[member_index], axis=1) * 1000.0
    eligible_exists[cell_index] = True
    return cell_index, member_index, distance, eligible_exists


def greedy(problem: Problem, cell_index: np.ndarray, member_index: np.ndarray,
           distance: np.ndarray) -> tuple[float, int]:
    """Nearest-available baseline: cells in code order take their nearest candidate with capacity."""
    order = np.lexsort((distance, cell_index))
    capacity = problem.member_capacity.copy()
    total, covered = 0.0, 0
    starts = np.searchsorted(cell_index[order], np.arange(len(problem.cell_codes) + 1))
    for cell in np.argsort(problem.cell_codes, kind="stable"):
        for position in range(starts[cell], starts[cell + 1]):
            edge = order[position]
            member = member_index[edge]
            if capacity[member] > 0:
                capacity[member] -= 1
                total += distance[edge]
                covered += 1
                break
    return total, covered


def solve(problem: Problem, progress: Callable[[str], None] = lambda _: None) -> Solution:
    """Solve the assignment exactly on the candidate graph."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    n_cells, n_members = len(problem.cell_codes), len(problem.member_ids)
    cell_index, member_index, distance, eligible_exists = _candidates(problem)
    timings["candidates"] = time.perf_counter() - started
    progress("candidates")

    cost = np.rint(distance).astype(np.int64)
    if problem.change_penalty_m:
        is_current = problem.current_chief[cell_index] == member_index
        cost = cost + np.where(is_current, 0, problem.change_penalty_m)

    # Nodes: source, members, cells, sink.
    source, sink = 0, 1 + n_members + n_cells
    member_node = 1 + np.arange(n_members)
    cell_node = 1 + n_members + np.arange(n_cells)
    flow = min_cost_flow.SimpleMinCostFlow()
    capacity = np.minimum(problem.member_capacity, n_cells).astype(np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(np.full(n_members, source), member_node, capacity,
                                              np.zeros(n_members, dtype=np.int64))
    edge_arcs = flow.add_arcs_with_capacity_and_unit_cost(member_node[member_index], cell_node[cell_index],
                                                          np.ones(len(cell_index), dtype=np.int64), cost)
    flow.add_arcs_with_capacity_and_unit_cost(np.full(n_cells, source), cell_node,
                                              np.ones(n_cells, dtype=np.int64),
                                              np.full(n_cells, UNCOVERED_COST, dtype=np.int64))
    flow.add_arcs_with_capacity_and_unit_cost(cell_node, np.full(n_cells, sink),
                                              np.ones(n_cells, dtype=np.int64), np.zeros(n_cells, dtype=np.int64))
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n_cells, -n_cells]))
    timings["graph"] = time.perf_counter() - started - timings["candidates"]
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    timings["solve"] = time.perf_counter() - started - timings["candidates"] - timings["graph"]
    progress("solve")

    used = flow.flows(edge_arcs) > 0
    chief = np.full(n_cells, -1, dtype=np.int64)
    chief[cell_index[used]] = member_index[used]
    distance_m = np.full(n_cells, np.nan)
    distance_m[cell_index[used]] = distance[used]
    uncovered_reason = {
        int(cell): ("no eligible member in the county (or village, for tier 1)" if not eligible_exists[cell]
                    else "every eligible member nearby is at capacity")
        for cell in np.flatnonzero(chief < 0)
    }
    greedy_total, greedy_covered = greedy(problem, cell_index, member_index, distance)
    changes = int(np.sum((chief >= 0) & (chief != problem.current_chief)))
    timings["greedy"] = time.perf_counter() - started - sum(timings.values())
    return Solution(chief=chief, distance_m=distance_m, uncovered_reason=uncovered_reason,
                    total_distance_m=float(np.nansum(distance_m)), greedy_total_distance_m=greedy_total,
                    greedy_covered=greedy_covered, changes=changes, arcs=int(len(cell_index)), timings=timings)
