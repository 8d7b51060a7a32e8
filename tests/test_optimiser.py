"""The chief optimiser: exactness against brute force and a dense assignment, greedy baseline, capacity,
uncovered reasons, keep-existing penalty, k-nearest candidates; plans over the API (create, apply, stale,
applied twice, scope, roles, infeasible regions) and the ``flask assign`` commands."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from config import DEFAULT_LEAD_CAPACITY
from core.extensions import db
from grids.assignments.optimiser import CHIEF_KINDS, Problem, solve
from grids.hierarchy import code_prefix
from tests.helpers import assert_error, auth, make_user, sql

API = "/api/v1"
VILLAGE = "610902001003"
SAME_COUNTY_VILLAGE = "610902001004"
OTHER_COUNTY_VILLAGE = "610921100001"
NO_ELIGIBLE = "no eligible member"
AT_CAPACITY = "at capacity"
PLAN_FIELDS = {"id", "region", "keep_existing", "status", "cells", "covered", "uncovered", "total_distance_km",
               "greedy_total_distance_km", "greedy_covered", "changes", "solve_seconds", "created_by", "created_at",
               "applied_by", "applied_at"}
TOWNSHIP_A = "610902001000"  # 老城街道: two villages at the test scale
COUNTY_B = "610921"
TWO_VILLAGE_TOWNSHIP = "610925100000"


# --- unit: hand-made problems ---

def make_problem(cells, members, current=None, penalty: int = 0, k: int = 12) -> Problem:
    """``cells``: (tier, village, x km, y km); ``members``: (kind, village, x km, y km, capacity)."""
    codes = [f"{village}-{index // 100 + 1:02d}-{index % 100:02d}" for index, (_, village, _, _) in enumerate(cells)]
    current = [-1] * len(cells) if current is None else current
    return Problem(
        cell_codes=codes,
        cell_tier=np.array([c[0] for c in cells], dtype=np.int64),
        cell_village=[c[1] for c in cells],
        cell_xy=np.array([[c[2], c[3]] for c in cells], dtype=float).reshape(-1, 2),
        member_ids=np.arange(100, 100 + len(members), dtype=np.int64),
        member_kind=[m[0] for m in members],
        member_village=[m[1] for m in members],
        member_xy=np.array([[m[2], m[3]] for m in members], dtype=float).reshape(-1, 2),
        member_capacity=np.array([m[4] for m in members], dtype=np.int64),
        current_chief=np.array(current, dtype=np.int64),
        change_penalty_m=penalty,
        k=k,
    )


def eligible(problem: Problem, cell: int, member: int) -> bool:
    """The rules, written independently of the optimiser's candidate builder."""
    tier, village = int(problem.cell_tier[cell]), problem.cell_village[cell]
    if problem.member_kind[member] not in CHIEF_KINDS[tier] or problem.member_capacity[member] <= 0:
        return False
    if tier == 1:
        return problem.member_village[member] == village
    return problem.member_village[member][:6] == village[:6]


def cost_m(problem: Problem, cell: int, member: int) -> int:
    return int(np.rint(np.linalg.norm(problem.cell_xy[cell] - problem.member_xy[member]) * 1000.0))


def brute_force(problem: Problem) -> tuple[int, int]:
    """(most cells covered, least total metres among those) over every assignment."""
    n_cells, n_members = len(problem.cell_codes), len(problem.member_ids)
    options = [[None] + [m for m in range(n_members) if eligible(problem, c, m)] for c in range(n_cells)]
    best = (-1, 0)
    for choice in itertools.product(*options):
        used = [m for m in choice if m is not None]
        if any(used.count(m) > problem.member_capacity[m] for m in set(used)):
            continue
        total = sum(cost_m(problem, c, m) for c, m in enumerate(choice) if m is not None)
        if (len(used), -total) > (best[0], -best[1]):
            best = (len(used), total)
    return best


def dense_optimum(problem: Problem) -> tuple[int, int]:
    """(covered, metres) from scipy's linear_sum_assignment on a dense matrix: one column per member slot
    (members replicated by capacity), plus one 'uncovered' column per cell."""
    n_cells = len(problem.cell_codes)
    slots = [m for m in range(len(problem.member_ids)) for _ in range(int(problem.member_capacity[m]))]
    uncovered, forbidden = 10**7, 10**9
    matrix = np.full((n_cells, len(slots) + n_cells), uncovered, dtype=np.int64)
    for cell in range(n_cells):
        for column, member in enumerate(slots):
            matrix[cell, column] = cost_m(problem, cell, member) if eligible(problem, cell, member) else forbidden
    rows, columns = linear_sum_assignment(matrix)
    covered = int(np.sum(columns < len(slots)))
    total = int(matrix[rows, columns].sum()) - (n_cells - covered) * uncovered
    assert total < forbidden
    return covered, total


def solved(solution) -> tuple[int, int]:
    covered = solution.chief >= 0
    return int(covered.sum()), int(np.rint(solution.distance_m[covered]).sum())


def assert_valid(problem: Problem, solution) -> None:
    """Every chosen chief is eligible, within capacity, and the reported distances are the real ones."""
    for cell, member in enumerate(solution.chief):
        if member >= 0:
            assert eligible(problem, cell, int(member)), (cell, member)
            assert solution.distance_m[cell] == pytest.approx(cost_m(problem, cell, int(member)), abs=0.5)
        else:
            assert np.isnan(solution.distance_m[cell]) and cell in solution.uncovered_reason
    used = np.bincount(solution.chief[solution.chief >= 0], minlength=len(problem.member_ids))
    assert np.all(used <= problem.member_capacity)
    assert set(solution.uncovered_reason) == set(np.flatnonzero(solution.chief < 0).tolist())
    assert solution.total_distance_m == pytest.approx(np.nansum(solution.distance_m))


def random_problem(seed: int, n_cells: int, n_members: int, max_capacity: int) -> Problem:
    rng = np.random.default_rng(seed)
    villages = [VILLAGE, SAME_COUNTY_VILLAGE]
    cells = [(int(rng.choice([1, 2, 3, 3, 3])), villages[int(rng.integers(2))], *rng.uniform(0, 10, 2))
             for _ in range(n_cells)]
    kinds = sorted(DEFAULT_LEAD_CAPACITY)
    members = [(kinds[int(rng.integers(len(kinds)))], villages[int(rng.integers(2))], *rng.uniform(0, 10, 2),
                int(rng.integers(0, max_capacity + 1))) for _ in range(n_members)]
    return make_problem(cells, members, k=n_members)


@pytest.mark.parametrize("seed", range(12))
def test_solve_matches_brute_force_on_tiny_problems(seed):
    problem = random_problem(seed, n_cells=5, n_members=4, max_capacity=2)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert solved(solution) == brute_force(problem)


@pytest.mark.parametrize("seed", range(6))
def test_solve_matches_dense_linear_sum_assignment(seed):
    problem = random_problem(100 + seed, n_cells=40, n_members=25, max_capacity=3)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert solved(solution) == dense_optimum(problem)
    assert solution.total_distance_m <= solution.greedy_total_distance_m + 1e-6 \
        or solution.greedy_covered < int((solution.chief >= 0).sum())


def test_solve_matches_dense_when_capacity_is_scarce():
    problem = random_problem(7, n_cells=30, n_members=10, max_capacity=2)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert solved(solution) == dense_optimum(problem)
    assert int((solution.chief < 0).sum()) > 0


def test_greedy_is_worse_than_optimal():
    # Cell A (first in code order) grabs M1, its nearest; cell B is then left with the far M2.
    cells = [(3, VILLAGE, 1.0, 0.0), (3, VILLAGE, -1.0, 0.0)]
    members = [("party_member", VILLAGE, 0.0, 0.0, 1), ("party_member", VILLAGE, 3.0, 0.0, 1)]
    solution = solve(make_problem(cells, members))
    assert solution.greedy_total_distance_m == pytest.approx(1000 + 4000)
    assert solution.greedy_covered == 2
    assert solution.chief.tolist() == [1, 0]
    assert solution.total_distance_m == pytest.approx(2000 + 1000)
    assert solution.total_distance_m < solution.greedy_total_distance_m
    assert solution.uncovered_reason == {}


def test_capacity_respected_and_shared_out():
    # Five cells next to one member with capacity 2, others farther away with capacity 1 or 2.
    cells = [(3, VILLAGE, x, 0.0) for x in (0.0, 0.1, 0.2, 0.3, 0.4)]
    members = [("party_member", VILLAGE, 0.2, 0.0, 2), ("grid_worker", VILLAGE, 5.0, 0.0, 1),
               ("township_cadre", VILLAGE, -5.0, 0.0, 2)]
    problem = make_problem(cells, members)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert np.bincount(solution.chief, minlength=3).tolist() == [2, 1, 2]
    assert solved(solution) == brute_force(problem)


def test_a_member_may_lead_several_cells():
    cells = [(3, VILLAGE, x, 0.0) for x in (0.0, 1.0, 2.0)]
    solution = solve(make_problem(cells, [("grid_worker", VILLAGE, 1.0, 0.0, 6)]))
    assert solution.chief.tolist() == [0, 0, 0]
    assert solution.total_distance_m == pytest.approx(2000)


def test_uncovered_when_no_eligible_member():
    cells = [
        (3, OTHER_COUNTY_VILLAGE, 30.0, 0.0),  # a member of another county sits right there: not eligible
        (1, "610902004001", 0.0, 0.0),         # tier 1: no secretary or cadre of that village
        (1, VILLAGE, 0.0, 0.0),                # tier 1: only a party member lives in the village
        (3, SAME_COUNTY_VILLAGE, 0.0, 0.0),    # coverable by anyone suitable of the county
    ]
    members = [("party_member", VILLAGE, 0.0, 0.0, 3),
               ("village_cadre", SAME_COUNTY_VILLAGE, 9.0, 9.0, 3),
               ("party_member", VILLAGE, 30.0, 0.0, 3)]
    problem = make_problem(cells, members)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert solution.chief.tolist()[:3] == [-1, -1, -1] and solution.chief[3] in (0, 1)
    assert set(solution.uncovered_reason) == {0, 1, 2}
    assert all(NO_ELIGIBLE in reason for reason in solution.uncovered_reason.values())


def test_uncovered_when_the_kind_may_not_lead_the_tier():
    cells = [(3, VILLAGE, 0.0, 0.0), (1, VILLAGE, 0.0, 0.0)]
    members = [("village_secretary", VILLAGE, 0.0, 0.0, 2)]  # may lead tiers 1 and 2, not 3
    problem = make_problem(cells, members)
    solution = solve(problem)
    assert solution.chief.tolist() == [-1, 0]
    assert NO_ELIGIBLE in solution.uncovered_reason[0]


def test_tier1_needs_a_secretary_or_cadre_of_the_village():
    cells = [(1, VILLAGE, 0.0, 0.0)]
    near_but_foreign = ("village_secretary", SAME_COUNTY_VILLAGE, 0.0, 0.0, 2)
    wrong_kind = ("party_member", VILLAGE, 0.0, 0.0, 3)
    local = ("village_cadre", VILLAGE, 8.0, 0.0, 3)
    solution = solve(make_problem(cells, [near_but_foreign, wrong_kind, local], k=1))
    assert solution.chief.tolist() == [2]
    assert solution.distance_m[0] == pytest.approx(8000)


def test_members_of_another_county_are_never_candidates():
    cells = [(3, VILLAGE, 0.0, 0.0)]
    members = [("party_member", OTHER_COUNTY_VILLAGE, 0.0, 0.0, 3), ("party_member", VILLAGE, 20.0, 0.0, 3)]
    solution = solve(make_problem(cells, members))
    assert solution.chief.tolist() == [1]


def test_uncovered_when_every_eligible_member_is_at_capacity():
    cells = [(3, VILLAGE, 0.0, 0.0), (3, VILLAGE, 5.0, 0.0)]
    members = [("party_member", VILLAGE, 0.0, 0.0, 1), ("village_secretary", VILLAGE, 5.0, 0.0, 2)]
    problem = make_problem(cells, members)
    solution = solve(problem)
    assert_valid(problem, solution)
    assert solution.chief.tolist() == [0, -1]
    assert list(solution.uncovered_reason) == [1]
    assert AT_CAPACITY in solution.uncovered_reason[1]
    # The greedy baseline also covers only one.
    assert solution.greedy_covered == 1


def test_uncovered_prefers_leaving_the_farther_cell():
    cells = [(3, VILLAGE, 10.0, 0.0), (3, VILLAGE, 1.0, 0.0)]
    solution = solve(make_problem(cells, [("party_member", VILLAGE, 0.0, 0.0, 1)]))
    assert solution.chief.tolist() == [-1, 0]
    assert AT_CAPACITY in solution.uncovered_reason[0]


def test_reason_is_capacity_when_the_eligible_member_has_no_slot_left():
    """An eligible member with no slot left (leading their most elsewhere) means 'at capacity'."""
    cells = [(3, VILLAGE, 0.0, 0.0)]
    solution = solve(make_problem(cells, [("party_member", VILLAGE, 0.0, 0.0, 0)]))
    assert solution.chief.tolist() == [-1]
    assert AT_CAPACITY in solution.uncovered_reason[0]


def test_coverage_comes_before_distance():
    # One near member could take the near cell, but then the far cell would stay uncovered.
    cells = [(3, VILLAGE, 0.0, 0.0), (2, VILLAGE, 0.0, 50.0)]
    members = [("township_cadre", VILLAGE, 0.0, 0.0, 1), ("grid_worker", VILLAGE, 0.0, 0.1, 1)]
    solution = solve(make_problem(cells, members))
    # The grid worker cannot lead tier 2: the cadre must go far, the worker takes the near cell.
    assert solution.chief.tolist() == [1, 0]
    assert solution.uncovered_reason == {}


KEEP_CELLS = [(3, VILLAGE, 0.0, 0.0)]
KEEP_MEMBERS = [("party_member", VILLAGE, 2.0, 0.0, 3),   # the current chief, 2 km away
                ("party_member", VILLAGE, 0.5, 0.0, 3)]   # 0.5 km away: moving saves 1,500 m


def test_keep_existing_keeps_the_chief_when_moving_saves_less_than_the_penalty():
    solution = solve(make_problem(KEEP_CELLS, KEEP_MEMBERS, current=[0], penalty=3000))
    assert solution.chief.tolist() == [0]
    assert solution.changes == 0
    assert solution.total_distance_m == pytest.approx(2000)  # reported without the penalty


def test_keep_existing_moves_the_chief_when_moving_saves_more_than_the_penalty():
    solution = solve(make_problem(KEEP_CELLS, KEEP_MEMBERS, current=[0], penalty=1000))
    assert solution.chief.tolist() == [1]
    assert solution.changes == 1
    assert solution.total_distance_m == pytest.approx(500)


def test_without_penalty_the_nearest_wins_and_changes_are_counted():
    solution = solve(make_problem(KEEP_CELLS, KEEP_MEMBERS, current=[0], penalty=0))
    assert solution.chief.tolist() == [1] and solution.changes == 1
    # A cell without a current chief that gets one is a change too.
    solution = solve(make_problem(KEEP_CELLS, KEEP_MEMBERS, current=[-1], penalty=3000))
    assert solution.chief.tolist() == [1] and solution.changes == 1


def test_keep_existing_on_many_cells_trades_penalty_against_distance():
    # Two cells, two members; the current pairing is crossed (each 3 km) vs. uncrossed (each 0 km).
    cells = [(3, VILLAGE, 0.0, 0.0), (3, VILLAGE, 3.0, 0.0)]
    members = [("party_member", VILLAGE, 0.0, 0.0, 1), ("party_member", VILLAGE, 3.0, 0.0, 1)]
    kept = solve(make_problem(cells, members, current=[1, 0], penalty=3500))
    assert kept.chief.tolist() == [1, 0] and kept.changes == 0
    moved = solve(make_problem(cells, members, current=[1, 0], penalty=2500))
    assert moved.chief.tolist() == [0, 1] and moved.changes == 2


LINE_MEMBERS = [("party_member", VILLAGE, float(x), 0.0, 1) for x in range(1, 11)]  # 1 km … 10 km


def test_k_limits_the_candidates():
    problem = make_problem([(3, VILLAGE, 0.0, 0.0)], LINE_MEMBERS, k=2)
    solution = solve(problem)
    assert solution.arcs == 2
    assert solution.chief.tolist() == [0]
    assert solve(make_problem([(3, VILLAGE, 0.0, 0.0)], LINE_MEMBERS, k=5)).arcs == 5
    assert solve(make_problem([(3, VILLAGE, 0.0, 0.0)], LINE_MEMBERS, k=50)).arcs == len(LINE_MEMBERS)


def test_the_current_chief_is_always_a_candidate():
    far = len(LINE_MEMBERS) - 1  # 10 km away, far outside the k = 2 nearest
    kept = solve(make_problem([(3, VILLAGE, 0.0, 0.0)], LINE_MEMBERS, current=[far], penalty=50_000, k=2))
    assert kept.arcs == 3
    assert kept.chief.tolist() == [far] and kept.changes == 0
    assert kept.distance_m[0] == pytest.approx(10_000)
    moved = solve(make_problem([(3, VILLAGE, 0.0, 0.0)], LINE_MEMBERS, current=[far], penalty=0, k=2))
    assert moved.arcs == 3
    assert moved.chief.tolist() == [0] and moved.changes == 1


def test_k_does_not_limit_tier1_candidates():
    cadres = [("village_cadre", VILLAGE, float(x), 0.0, 1) for x in (1, 2, 3)]
    problem = make_problem([(1, VILLAGE, 0.0, 0.0), (1, VILLAGE, 0.0, 0.0)], cadres, k=1)
    solution = solve(problem)
    assert solution.arcs == 6
    assert sorted(solution.chief.tolist()) == [0, 1]


def test_sparse_candidates_with_enough_k_reach_the_dense_optimum():
    problem = random_problem(42, n_cells=40, n_members=25, max_capacity=3)
    problem.k = 12
    sparse = solve(problem)
    assert_valid(problem, sparse)
    dense_covered, dense_total = dense_optimum(problem)
    covered, total = solved(sparse)
    # Fewer candidates can only do as well or worse than the dense optimum, never better.
    assert (covered, -total) <= (dense_covered, -dense_total)


def test_progress_steps_reported():
    steps = []
    solve(make_problem(KEEP_CELLS, KEEP_MEMBERS), progress=steps.append)
    assert steps == ["candidates", "solve"]


# --- API helpers ---

def plan(client, region: str, keep_existing: bool = True, headers: dict | None = None) -> dict:
    response = client.post(f"{API}/assignment-plans", json={"region": region, "keep_existing": keep_existing},
                           headers=headers or {})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def apply(client, plan_id: int, headers: dict | None = None):
    return client.post(f"{API}/assignment-plans/{plan_id}/apply", headers=headers or {})


def cells_under(prefix: str) -> list[str]:
    return list(sql("select code from grids where village_code like :p order by code", p=prefix + "%").scalars())


def township_cells() -> int:
    """Cells of TOWNSHIP_A (36 at the test scale)."""
    return len(cells_under(TOWNSHIP_A[:9]))


def chiefs_under(prefix: str) -> dict[str, int]:
    return dict(sql("""select grid_code, member_id from assignments
                       where role = 'chief' and valid_to is null and village_code like :p""", p=prefix + "%").all())


def items(plan_id: int) -> list:
    return sql("""select grid_code, member_id, distance_m, is_change from assignment_plan_items
                  where plan_id = :p order by grid_code""", p=plan_id).all()


def current_chief(grid_code: str):
    return sql("select id, member_id from assignments where grid_code = :g and role = 'chief' and valid_to is null",
               g=grid_code).first()


def end_chief(client, grid_code: str) -> int:
    chief = current_chief(grid_code)
    response = client.delete(f"{API}/assignments/{chief.id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return chief.id


def assign(client, member_id: int, grid_code: str, role: str = "chief") -> dict:
    response = client.post(f"{API}/assignments", json={"member_id": member_id, "grid_code": grid_code, "role": role})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def farthest_free_member(grid_code: str, kinds=("party_member",)) -> int:
    """The eligible member of the cell's county living farthest from it, with a chief slot free."""
    return sql("""
        select m.id from members m, grids g
        where g.code = :g and m.county_code = g.county_code and m.active and m.kind = any(:k)
          and (select count(*) from assignments a where a.member_id = m.id and a.role = 'chief'
               and a.valid_to is null) < 3
        order by ST_Distance(coalesce(m.home, ST_PointOnSurface(g.boundary))::geography,
                             ST_PointOnSurface(g.boundary)::geography) desc, m.id
        limit 1
    """, g=grid_code, k=list(kinds)).scalar()


def tier_cells(prefix: str, tier: int) -> list[str]:
    return list(sql("select code from grids where village_code like :p and tier = :t order by code",
                    p=prefix + "%", t=tier).scalars())


def move_some_chiefs(client, prefix: str) -> list[str]:
    """Leave two tier-3 cells without a chief and give a third a far-away chief; returns the three cells."""
    first, second, third = tier_cells(prefix, 3)[:3]
    end_chief(client, first)
    end_chief(client, second)
    end_chief(client, third)
    assign(client, farthest_free_member(third), third)
    return [first, second, third]


# --- API: plans ---

def test_plan_for_a_township(client):
    cells = cells_under(TOWNSHIP_A[:9])
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert set(body) == PLAN_FIELDS
    assert body["region"] == TOWNSHIP_A and body["keep_existing"] is False and body["status"] == "draft"
    assert body["cells"] == len(cells) == township_cells()
    assert body["covered"] == body["cells"] and body["uncovered"] == []
    assert body["greedy_covered"] <= body["cells"]
    assert 0 < body["total_distance_km"] <= body["greedy_total_distance_km"]
    assert body["changes"] >= 0 and body["solve_seconds"] >= 0
    assert body["created_by"] == "admin" and body["created_at"]
    assert body["applied_by"] is None and body["applied_at"] is None
    stored = items(body["id"])
    assert [i.grid_code for i in stored] == cells
    assert all(i.member_id is not None and i.distance_m is not None for i in stored)
    assert sum(i.is_change for i in stored) == body["changes"]
    assert sum(i.distance_m for i in stored) / 1000 == pytest.approx(body["total_distance_km"], abs=0.02)
    # Planning changes nothing yet, and is audited.
    assert sql("select count(*) from assignments where plan_id = :p", p=body["id"]).scalar() == 0
    entry = sql("""select actor, region_code, details from audit_log
                   where action = 'assignment_plan.create' and object_id = :id""", id=str(body["id"])).one()
    assert entry.actor == "admin" and entry.region_code == TOWNSHIP_A
    assert entry.details == {"cells": len(cells), "covered": len(cells), "changes": body["changes"]}
    # It can be read back.
    response = client.get(f"{API}/assignment-plans/{body['id']}")
    assert response.status_code == 200 and response.get_json() == body


def test_plan_items_respect_the_rules(client):
    body = plan(client, TWO_VILLAGE_TOWNSHIP, keep_existing=False)
    rows = sql("""
        select i.grid_code, g.tier, g.village_code, g.county_code, m.kind, m.village_code as home, m.county_code
               as member_county, m.active
        from assignment_plan_items i join grids g on g.code = i.grid_code join members m on m.id = i.member_id
        where i.plan_id = :p
    """, p=body["id"]).all()
    assert len(rows) == body["covered"] == body["cells"]
    for row in rows:
        assert row.kind in CHIEF_KINDS[row.tier] and row.active and row.member_county == row.county_code
        if row.tier == 1:
            assert row.home == row.village_code
    loads = sql("""select m.kind, count(*) from assignment_plan_items i join members m on m.id = i.member_id
                   where i.plan_id = :p group by m.id, m.kind""", p=body["id"]).all()
    assert all(n <= DEFAULT_LEAD_CAPACITY[kind] for kind, n in loads)


@pytest.mark.parametrize("region", [TOWNSHIP_A, "610925000000", "610925100001", "610900000000"])
def test_keep_existing_plan_after_the_seed_changes_nothing(client, region):
    # The seed applied an optimal plan without keep-existing: keeping it is optimal.
    prefix = code_prefix(region)
    body = plan(client, region, keep_existing=True)
    assert body["keep_existing"] is True
    assert body["changes"] == 0
    assert body["covered"] == body["cells"] == len(cells_under(prefix))
    assert {i.grid_code: i.member_id for i in items(body["id"])} == chiefs_under(prefix)
    assert not any(i.is_change for i in items(body["id"]))


def test_no_keep_plan_after_manual_moves_and_apply(client):
    prefix = TOWNSHIP_A[:9]
    moved = move_some_chiefs(client, prefix)
    manual_third = current_chief(moved[2])
    before = chiefs_under(prefix)
    ended_before = sql("select count(*) from assignments where valid_to is not null and village_code like :p",
                       p=prefix + "%").scalar()
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert body["changes"] >= 2
    assert body["covered"] == body["cells"]
    assert body["total_distance_km"] <= body["greedy_total_distance_km"]
    planned = {i.grid_code: i for i in items(body["id"])}
    changed = {code for code, i in planned.items() if i.is_change}
    assert {moved[0], moved[1]} <= changed
    assert changed == {code for code, i in planned.items() if before.get(code) != i.member_id}

    response = apply(client, body["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    applied = response.get_json()
    assert applied["status"] == "applied" and applied["applied_by"] == "admin" and applied["applied_at"]
    assert applied["id"] == body["id"] and applied["changes"] == body["changes"]
    # The cells' current chiefs are the plan's.
    assert chiefs_under(prefix) == {code: i.member_id for code, i in planned.items()}
    new = sql("""select grid_code, member_id, source, created_by, village_code from assignments
                 where plan_id = :p and valid_to is null order by grid_code""", p=body["id"]).all()
    assert [(a.grid_code, a.member_id) for a in new] == sorted((c, planned[c].member_id) for c in changed)
    assert all(a.source == "plan" and a.created_by == "admin" and a.village_code == a.grid_code[:12] for a in new)
    # Replaced chiefs are ended, never deleted.
    replaced = [code for code in changed if code in before]
    ended_now = sql("select count(*) from assignments where valid_to is not null and village_code like :p",
                    p=prefix + "%").scalar()
    assert ended_now == ended_before + len(replaced)
    if moved[2] in changed:
        row = sql("select valid_to, ended_by from assignments where id = :id", id=manual_third.id).one()
        assert row.valid_to is not None and row.ended_by == "admin"
        history = client.get(f"{API}/grids/{moved[2]}/assignments?history=true").get_json()
        assert manual_third.id in {a["id"] for a in history}
    # One audit entry per started chief, and one for the plan.
    entries = sql("""select object_type, object_id, actor, details from audit_log
                     where action = 'assignment.plan' and (details->>'plan_id')::int = :p""", p=body["id"]).all()
    assert sorted(e.object_id for e in entries) == sorted(changed)
    assert all(e.object_type == "grid" and e.actor == "admin" and e.details["role"] == "chief" for e in entries)
    assert {e.object_id: e.details["member_id"] for e in entries} == {c: planned[c].member_id for c in changed}
    assert sql("select count(*) from audit_log where action = 'assignment_plan.apply' and object_id = :id",
               id=str(body["id"])).scalar() == 1
    # Now a keep-existing plan has nothing to change.
    assert plan(client, TOWNSHIP_A, keep_existing=True)["changes"] == 0


def test_apply_promotes_a_worker_of_the_cell(client):
    prefix = TOWNSHIP_A[:9]
    body = plan(client, TOWNSHIP_A, keep_existing=False)  # the seed's chiefs: typically no change
    cell = tier_cells(prefix, 3)[0]
    chief = current_chief(cell)
    end_chief(client, cell)
    assign(client, chief.member_id, cell, "worker")  # the planned chief now only works there
    fresh = plan(client, TOWNSHIP_A, keep_existing=True)
    planned = {i.grid_code: i for i in items(fresh["id"])}
    assert planned[cell].member_id == chief.member_id and planned[cell].is_change
    assert apply(client, fresh["id"]).status_code == 200
    current = sql("select member_id, role from assignments where grid_code = :g and valid_to is null", g=cell).all()
    assert current == [(chief.member_id, "chief")]
    assert body["status"] == "draft"


def test_apply_twice_is_refused(client):
    move_some_chiefs(client, TOWNSHIP_A[:9])
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert apply(client, body["id"]).status_code == 200
    after = chiefs_under(TOWNSHIP_A[:9])
    assert_error(apply(client, body["id"]), 409, rule="plan_applied")
    assert chiefs_under(TOWNSHIP_A[:9]) == after
    assert sql("select count(*) from audit_log where action = 'assignment_plan.apply' and object_id = :id",
               id=str(body["id"])).scalar() == 1


def test_apply_after_a_manual_change_is_refused(client):
    prefix = TOWNSHIP_A[:9]
    move_some_chiefs(client, prefix)
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert body["changes"] > 0
    end_chief(client, tier_cells(prefix, 3)[5])
    before = chiefs_under(prefix)
    assert_error(apply(client, body["id"]), 409, rule="plan_stale")
    assert chiefs_under(prefix) == before
    assert sql("select count(*) from assignments where plan_id = :p", p=body["id"]).scalar() == 0
    assert sql("select status from assignment_plans where id = :p", p=body["id"]).scalar() == "draft"
    assert sql("select count(*) from audit_log where action = 'assignment.plan' and (details->>'plan_id')::int = :p",
               p=body["id"]).scalar() == 0


def test_apply_after_a_chief_is_replaced_is_refused(client):
    prefix = TOWNSHIP_A[:9]
    cell = tier_cells(prefix, 3)[0]
    end_chief(client, cell)
    body = plan(client, TOWNSHIP_A, keep_existing=True)
    assign(client, farthest_free_member(cell), cell)
    assert_error(apply(client, body["id"]), 409, rule="plan_stale")


def test_a_change_outside_the_region_does_not_make_the_plan_stale(client):
    end_chief(client, tier_cells(TOWNSHIP_A[:9], 3)[0])
    body = plan(client, TOWNSHIP_A, keep_existing=True)
    end_chief(client, tier_cells(COUNTY_B, 3)[0])
    response = apply(client, body["id"])
    assert response.status_code == 200 and response.get_json()["status"] == "applied"


def test_plan_unknown_region(client):
    assert_error(client.post(f"{API}/assignment-plans", json={"region": "610999000000"}), 404)
    assert_error(client.post(f"{API}/assignment-plans", json={"region": "610902009000"}), 404)
    assert_error(client.get(f"{API}/assignment-plans/99999999"), 404)
    assert_error(apply(client, 99999999), 404)


@pytest.mark.parametrize("body", [{}, {"region": "6109"}, {"region": "61090200100A"},
                                  {"region": TOWNSHIP_A, "keep_existing": "maybe"}])
def test_plan_validation(client, body):
    assert_error(client.post(f"{API}/assignment-plans", json=body), 422)


def test_keep_existing_defaults_to_true(client):
    response = client.post(f"{API}/assignment-plans", json={"region": TOWNSHIP_A})
    assert response.status_code == 201 and response.get_json()["keep_existing"] is True


def test_plan_outside_the_callers_scope(client):
    make_user("plan_county_b", "county_admin", COUNTY_B + "000000")
    headers = auth("plan_county_b")
    assert_error(client.post(f"{API}/assignment-plans", json={"region": TOWNSHIP_A}, headers=headers), 404)
    assert_error(client.post(f"{API}/assignment-plans", json={"region": "610900000000"}, headers=headers), 404)
    other = plan(client, TOWNSHIP_A, keep_existing=False)
    assert_error(client.get(f"{API}/assignment-plans/{other['id']}", headers=headers), 404)
    assert_error(apply(client, other["id"], headers), 404)
    assert sql("select status from assignment_plans where id = :p", p=other["id"]).scalar() == "draft"
    # Its own county works.
    own = plan(client, COUNTY_B + "100000", keep_existing=True, headers=headers)
    assert own["created_by"] == "plan_county_b" and own["covered"] == own["cells"]
    assert apply(client, own["id"], headers).status_code == 200


@pytest.mark.parametrize("role, scope", [("reviewer", "610902000000"), ("village_admin", VILLAGE),
                                         ("police", "610900000000")])
def test_plan_roles(client, role, scope):
    username = f"plan_{role}"
    make_user(username, role, scope)
    headers = auth(username)
    assert_error(client.post(f"{API}/assignment-plans", json={"region": TOWNSHIP_A}, headers=headers), 403)
    body = plan(client, TOWNSHIP_A)
    assert_error(apply(client, body["id"], headers), 403)
    assert_error(client.get(f"{API}/assignment-plans/{body['id']}", headers=headers), 403)


def test_township_supervisor_may_plan_and_apply(client):
    make_user("plan_supervisor", "township_supervisor", TOWNSHIP_A)
    headers = auth("plan_supervisor")
    end_chief(client, tier_cells(TOWNSHIP_A[:9], 3)[0])
    body = plan(client, TOWNSHIP_A, headers=headers)
    assert body["changes"] == 1
    assert apply(client, body["id"], headers).get_json()["applied_by"] == "plan_supervisor"


def test_infeasible_village_reports_uncovered_cells(client):
    village, other_village = TWO_VILLAGE_TOWNSHIP[:9] + "001", TWO_VILLAGE_TOWNSHIP[:9] + "002"
    sql("update members set active = false where village_code = :v", v=village)
    db.session.commit()
    body = plan(client, TWO_VILLAGE_TOWNSHIP, keep_existing=False)
    tier1 = tier_cells(village, 1)
    assert body["cells"] == len(cells_under(TWO_VILLAGE_TOWNSHIP[:9]))
    assert body["covered"] == body["cells"] - 1 < body["cells"]
    assert [u["grid_code"] for u in body["uncovered"]] == tier1
    assert NO_ELIGIBLE in body["uncovered"][0]["reason"]
    planned = {i.grid_code: i for i in items(body["id"])}
    assert planned[tier1[0]].member_id is None and planned[tier1[0]].distance_m is None
    # The other cells of the village are led from the other village of the county.
    homes = set(sql("""select m.village_code from assignment_plan_items i join members m on m.id = i.member_id
                       where i.plan_id = :p""", p=body["id"]).scalars())
    assert homes == {other_village}


def test_region_without_any_active_member(client):
    sql("update members set active = false where county_code = '610902'")
    db.session.commit()
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert body["covered"] == 0 and body["cells"] == township_cells() and body["changes"] == 0
    assert len(body["uncovered"]) == township_cells()
    assert all(NO_ELIGIBLE in u["reason"] for u in body["uncovered"])
    assert body["total_distance_km"] == 0 and body["greedy_covered"] == 0


def test_region_short_of_capacity_reports_capacity(client, app, monkeypatch):
    # The township's cells; only the county's village secretaries may lead, one cell each: too few of them.
    for kind in DEFAULT_LEAD_CAPACITY:
        monkeypatch.setitem(app.config["GRIDS_LEAD_CAPACITY"], kind, 0)
    monkeypatch.setitem(app.config["GRIDS_LEAD_CAPACITY"], "village_secretary", 1)
    slots = sql("""select count(*) from members where county_code = '610902' and active
                   and kind = 'village_secretary'""").scalar()
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert slots == 14 < township_cells()
    assert 0 < body["covered"] <= slots < body["cells"]
    assert len(body["uncovered"]) == body["cells"] - body["covered"]
    assert all(AT_CAPACITY in u["reason"] for u in body["uncovered"])
    loads = sql("""select member_id, count(*) from assignment_plan_items where plan_id = :p and member_id is not null
                   group by member_id""", p=body["id"]).all()
    assert all(n == 1 for _, n in loads)


def test_capacity_used_outside_the_region_is_respected(client, app, monkeypatch):
    """Planning one village of a county: chiefs the members hold in the other village count."""
    village, other_village = TWO_VILLAGE_TOWNSHIP[:9] + "001", TWO_VILLAGE_TOWNSHIP[:9] + "002"
    body = plan(client, village, keep_existing=False)
    held_outside = dict(sql("""select member_id, count(*) from assignments where role = 'chief' and valid_to is null
                               and village_code = :v group by member_id""", v=other_village).all())
    loads = sql("""select i.member_id, m.kind, count(*) from assignment_plan_items i
                   join members m on m.id = i.member_id where i.plan_id = :p group by i.member_id, m.kind""",
                p=body["id"]).all()
    for member_id, kind, n in loads:
        assert n + held_outside.get(member_id, 0) <= DEFAULT_LEAD_CAPACITY[kind]


def test_apply_refused_when_a_planned_member_filled_their_capacity_elsewhere(client):
    """Chiefs a planned member took outside the region since planning make the plan stale."""
    village, other_village = TWO_VILLAGE_TOWNSHIP[:9] + "001", TWO_VILLAGE_TOWNSHIP[:9] + "002"
    tier1 = tier_cells(village, 1)[0]
    end_chief(client, tier1)
    body = plan(client, village, keep_existing=True)
    planned = {i.grid_code: i for i in items(body["id"])}
    member = planned[tier1].member_id
    kind = sql("select kind from members where id = :m", m=member).scalar()
    capacity = DEFAULT_LEAD_CAPACITY[kind]
    in_plan = sum(1 for i in planned.values() if i.member_id == member)
    held = sql("select count(*) from assignments where member_id = :m and role = 'chief' and valid_to is null",
               m=member).scalar()
    assert held == 0 and in_plan >= 1
    for cell in tier_cells(other_village, 2)[:capacity]:
        end_chief(client, cell)
        assign(client, member, cell)  # allowed: the plan is not applied yet
    assert_error(apply(client, body["id"]), 409, rule="plan_stale")
    assert sql("select count(*) from assignments where member_id = :m and role = 'chief' and valid_to is null",
               m=member).scalar() <= capacity


def test_apply_refused_when_a_planned_member_was_deactivated(client):
    """A member deactivated after planning must not become chief on apply."""
    cell = tier_cells(TOWNSHIP_A[:9], 3)[0]
    end_chief(client, cell)
    body = plan(client, TOWNSHIP_A, keep_existing=True)
    member = {i.grid_code: i.member_id for i in items(body["id"])}[cell]
    response = client.patch(f"{API}/members/{member}", json={"active": False})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_error(apply(client, body["id"]), 409, rule="plan_stale")
    assert current_chief(cell) is None


def test_plan_respects_max_assignments(client, app, monkeypatch):
    """The plan's capacity also keeps every member within GRIDS_MAX_ASSIGNMENTS (all roles)."""
    monkeypatch.setitem(app.config, "GRIDS_MAX_ASSIGNMENTS", 1)
    body = plan(client, TOWNSHIP_A, keep_existing=False)
    assert apply(client, body["id"]).status_code == 200
    over = sql("""select a.member_id, count(*) from assignments a
                  where a.valid_to is null and a.member_id in
                        (select member_id from assignment_plan_items where plan_id = :p)
                  group by a.member_id having count(*) > 1""", p=body["id"]).all()
    assert over == []


# --- CLI ---

def test_cli_plan_prints_the_figures(app, client):
    move_some_chiefs(client, TOWNSHIP_A[:9])
    result = app.test_cli_runner().invoke(args=["assign", "plan", "--region", TOWNSHIP_A, "--no-keep-existing"])
    assert result.exit_code == 0, result.output
    stored = sql("""select id, cells, covered, changes, total_distance_km, greedy_total_distance_km, status,
                           keep_existing, created_by from assignment_plans order by id desc limit 1""").one()
    assert stored.keep_existing is False and stored.created_by == "cli" and stored.status == "draft"
    assert stored.changes >= 2
    output = " ".join(result.output.split())
    assert f"plan {stored.id} for {TOWNSHIP_A}" in output
    assert f"{stored.covered}/{stored.cells} cells covered" in output
    assert f"total {stored.total_distance_km:,.1f} km" in output
    assert f"greedy {stored.greedy_total_distance_km:,.1f} km" in output
    assert f"{stored.changes} changes" in output and "status draft" in output
    before = chiefs_under(TOWNSHIP_A[:9])
    assert len(before) == township_cells() - 2  # not applied: two cells still have no chief

    applied = app.test_cli_runner().invoke(args=["assign", "apply", str(stored.id)])
    assert applied.exit_code == 0, applied.output
    assert "status applied" in " ".join(applied.output.split())
    assert chiefs_under(TOWNSHIP_A[:9]) == {i.grid_code: i.member_id for i in items(stored.id)}
    assert sql("select applied_by from assignment_plans where id = :p", p=stored.id).scalar() == "cli"

    again = app.test_cli_runner().invoke(args=["assign", "apply", str(stored.id)])
    assert again.exit_code != 0
    assert "already been applied" in again.output


def test_cli_plan_and_apply_at_once(app, client):
    move_some_chiefs(client, TOWNSHIP_A[:9])
    result = app.test_cli_runner().invoke(args=["assign", "plan", "--region", TOWNSHIP_A, "--apply"])
    assert result.exit_code == 0, result.output
    assert "status applied" in " ".join(result.output.split())
    plan_id = sql("select max(id) from assignment_plans").scalar()
    assert sql("select keep_existing from assignment_plans where id = :p", p=plan_id).scalar() is True
    assert len(chiefs_under(TOWNSHIP_A[:9])) == township_cells()


def test_cli_reports_uncovered_cells(app, client):
    sql("update members set active = false where county_code = '610902'")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["assign", "plan", "--region", TOWNSHIP_A])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"0/{township_cells()} cells covered" in output
    assert output.count("uncovered ") == min(township_cells(), 20) and NO_ELIGIBLE in output  # the first 20


def test_cli_errors(app):
    unknown = app.test_cli_runner().invoke(args=["assign", "plan", "--region", "610999000000"])
    assert unknown.exit_code != 0 and "610999000000" in unknown.output
    missing = app.test_cli_runner().invoke(args=["assign", "apply", "99999999"])
    assert missing.exit_code != 0 and "99999999" in missing.output
