"""Assignment rules (one place), and planning and applying optimised chiefs."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.errors import Conflict, NotFound
from core.extensions import db
from core.scope import UNSCOPED
from grids import services as territory
from grids.accounts import audit
from grids.assignments import queries, signals
from grids.assignments.models import Assignment, AssignmentPlan
from grids.assignments.optimiser import CHIEF_KINDS, Problem, project_km, solve
from grids.hierarchy import code_prefix
from grids.members.models import Member

LIAISON_KINDS = ("party_member", "village_cadre", "village_secretary")


def _broken(rule: str, message) -> Conflict:
    return Conflict(message, rule=rule)


def _locked_member(member_id: int) -> Member:
    member = db.session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise NotFound(_l("Member %(id)s was not found.", id=member_id))
    return member


def check_rules(member: Member, grid, role: str) -> None:
    """Every rule an assignment must satisfy; raises 409 naming the broken rule."""
    if not member.active:
        raise _broken("member_inactive", _l("The member is inactive."))
    if member.county_code != grid.county_code:
        raise _broken("outside_county", _l("A member is only assigned inside their own county."))
    if role == "chief":
        if member.kind not in CHIEF_KINDS[grid.tier]:
            raise _broken("ineligible", _l("A %(kind)s may not lead a tier-%(tier)s cell.", kind=member.kind,
                                           tier=grid.tier))
        if grid.tier == 1 and member.village_code != grid.village_code:
            raise _broken("ineligible", _l("The tier-1 chief must be a secretary or cadre of that village."))
        if queries.current_chief(grid.code) is not None:
            raise _broken("one_chief", _l("The cell already has a current chief."))
        capacity = current_app.config["GRIDS_LEAD_CAPACITY"].get(member.kind, 0)
        if queries.current_chief_count(member.id) >= capacity:
            raise _broken("capacity", _l("The member already leads %(n)s cells, the most a %(kind)s may.",
                                         n=capacity, kind=member.kind))
    if role == "liaison" and member.kind not in LIAISON_KINDS:
        raise _broken("ineligible", _l("A liaison must be a party member or cadre."))
    if queries.current_assignment_count(member.id) >= current_app.config["GRIDS_MAX_ASSIGNMENTS"]:
        raise _broken("capacity", _l("The member has the most assignments allowed."))
    already = db.session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.member_id == member.id, Assignment.grid_code == grid.code, Assignment.valid_to.is_(None))
        .execution_options(**UNSCOPED))
    if already:
        raise _broken("already_assigned", _l("The member is already assigned to this cell."))


def create_assignment(data: dict[str, Any], actor: str | None) -> Assignment:
    """Embed a member in a cell with a role, if every rule allows it."""
    grid = territory.get_grid(data["grid_code"])
    if db.session.get(Member, data["member_id"]) is None:  # scoped: out of scope is unknown
        raise NotFound(_l("Member %(id)s was not found.", id=data["member_id"]))
    member = _locked_member(data["member_id"])  # serialises capacity checks per member
    check_rules(member, grid, data["role"])
    assignment = Assignment(county_code=grid.county_code, member_id=member.id, grid_code=grid.code,
                            village_code=grid.village_code, role=data["role"], source="manual", created_by=actor)
    db.session.add(assignment)
    db.session.flush()
    audit.record("assignment.create", "assignment", assignment.id, grid.village_code,
                 {"member_id": member.id, "grid_code": grid.code, "role": assignment.role})
    signals.assignments_changed.send(None, made=[assignment.id], ended=[])
    db.session.commit()
    return assignment


def end_assignment(assignment_id: int, actor: str | None) -> Assignment:
    """End an assignment now; it stays in the history."""
    assignment = queries.assignment_by_id(assignment_id)
    if assignment is None:
        raise NotFound(_l("Assignment %(id)s was not found.", id=assignment_id))
    if assignment.valid_to is not None:
        raise _broken("already_ended", _l("The assignment has already ended."))
    assignment.valid_to = func.now()
    assignment.ended_by = actor
    audit.record("assignment.end", "assignment", assignment.id, assignment.village_code,
                 {"member_id": assignment.member_id, "grid_code": assignment.grid_code, "role": assignment.role})
    signals.assignments_changed.send(None, made=[], ended=[assignment.id])
    db.session.commit()
    db.session.refresh(assignment)
    return assignment


def get_plan(plan_id: int) -> AssignmentPlan:
    """A plan in scope, or 404."""
    plan = db.session.get(AssignmentPlan, plan_id)
    if plan is None:
        raise NotFound(_l("Assignment plan %(id)s was not found.", id=plan_id))
    return plan


def build_problem(prefix: str, keep_existing: bool) -> tuple[Problem, list[str]]:
    """Optimiser input for every cell under ``prefix`` and the active members of its counties."""
    cells = queries.plan_cells(prefix)
    counties = sorted({row[2][:6] for row in cells})
    members = queries.plan_members(counties, prefix)
    lat0 = float(np.mean([row[4] for row in cells])) if cells else 32.7
    config = current_app.config
    capacity_by_kind = config["GRIDS_LEAD_CAPACITY"]
    member_ids = np.array([row[0] for row in members], dtype=np.int64)
    member_position = {int(member_id): index for index, member_id in enumerate(member_ids)}
    current = queries.current_chiefs(prefix)
    current_chief = np.array([member_position.get(current.get(row[0], -1), -1) for row in cells], dtype=np.int64)
    problem = Problem(
        cell_codes=[row[0] for row in cells],
        cell_tier=np.array([row[1] for row in cells], dtype=np.int64),
        cell_village=[row[2] for row in cells],
        cell_xy=project_km([row[3] for row in cells], [row[4] for row in cells], lat0).reshape(-1, 2),
        member_ids=member_ids,
        member_kind=[row[1] for row in members],
        member_village=[row[2] for row in members],
        member_xy=project_km([row[3] for row in members], [row[4] for row in members], lat0).reshape(-1, 2),
        # Leading capacity left after chiefs held elsewhere, and never past the cap on all assignments.
        member_capacity=np.array([max(0, min(capacity_by_kind.get(row[1], 0) - row[5],
                                             config["GRIDS_MAX_ASSIGNMENTS"] - row[6])) for row in members],
                                 dtype=np.int64),
        current_chief=current_chief,
        change_penalty_m=config["GRIDS_PLAN_CHANGE_PENALTY_M"] if keep_existing else 0,
        k=config["GRIDS_PLAN_CANDIDATES"],
    )
    return problem, counties


def create_plan(region_code: str, keep_existing: bool, actor: str | None,
                progress: Callable[[str], None] = lambda _: None) -> AssignmentPlan:
    """Compute (not apply) the optimal chiefs of a region's cells."""
    region = territory.get_region(region_code)
    prefix = code_prefix(region.code)
    started = time.perf_counter()
    fingerprint = queries.chiefs_fingerprint(prefix)
    problem, _ = build_problem(prefix, keep_existing)
    progress("loaded")
    solution = solve(problem, progress)
    uncovered = [{"grid_code": problem.cell_codes[cell], "reason": reason}
                 for cell, reason in sorted(solution.uncovered_reason.items())]
    plan = AssignmentPlan(
        region_code=region.code, keep_existing=keep_existing, cells=len(problem.cell_codes),
        covered=int(np.sum(solution.chief >= 0)), uncovered=uncovered,
        total_distance_km=round(solution.total_distance_m / 1000.0, 3),
        greedy_total_distance_km=round(solution.greedy_total_distance_m / 1000.0, 3),
        greedy_covered=solution.greedy_covered, changes=solution.changes,
        solve_seconds=round(time.perf_counter() - started, 3), fingerprint=fingerprint, created_by=actor)
    db.session.add(plan)
    db.session.flush()
    rows = []
    for cell, code in enumerate(problem.cell_codes):
        member = int(solution.chief[cell])
        rows.append((code, int(problem.member_ids[member]) if member >= 0 else None,
                     int(round(solution.distance_m[cell])) if member >= 0 else None,
                     bool(member >= 0 and member != problem.current_chief[cell])))
    queries.store_plan_items(plan.id, rows)
    audit.record("assignment_plan.create", "assignment_plan", plan.id, region.code,
                 {"cells": plan.cells, "covered": plan.covered, "changes": plan.changes}, actor=actor)
    db.session.commit()
    progress("stored")
    return plan


def _overloaded(loads: list[tuple]) -> bool:
    """Whether any planned member would now exceed a capacity (they took cells elsewhere since)."""
    config = current_app.config
    return any(planned + outside > config["GRIDS_LEAD_CAPACITY"].get(kind, 0)
               or planned + others > config["GRIDS_MAX_ASSIGNMENTS"]
               for kind, planned, outside, others in loads)


def apply_plan(plan_id: int, actor: str | None, valid_from: datetime | None = None) -> AssignmentPlan:
    """Apply a plan once, and only while the region's chiefs are as they were when planned; the members
    whose assignments begin or end are told in the same transaction.

    ``valid_from`` backdates the new assignments (only the seeder's history uses it: nobody is told of a
    history).
    """
    plan = get_plan(plan_id)
    db.session.refresh(plan, with_for_update=True)
    if plan.status == "applied":
        raise _broken("plan_applied", _l("This plan has already been applied."))
    prefix = code_prefix(plan.region_code)
    if queries.chiefs_fingerprint(prefix) != plan.fingerprint or queries.inactive_planned_members(plan.id) \
            or _overloaded(queries.planned_member_loads(plan.id, prefix)):
        raise _broken("plan_stale", _l("The assignments changed since this plan was made; make a new plan."))
    made, ended = queries.apply_plan(plan.id, actor, valid_from)
    if valid_from is None:
        # A member promoted to chief of a cell they already worked in hears of the new role only.
        promoted = {(member_id, grid_code) for _id, member_id, grid_code in made}
        signals.assignments_changed.send(None, made=[row[0] for row in made],
                                         ended=[row[0] for row in ended if (row[1], row[2]) not in promoted])
    plan.status = "applied"
    plan.applied_by = actor
    plan.applied_at = func.now()
    audit.record("assignment_plan.apply", "assignment_plan", plan.id, plan.region_code,
                 {"changes": plan.changes}, actor=actor)
    db.session.commit()
    db.session.refresh(plan)
    return plan
