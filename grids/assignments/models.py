"""Assignments (包联 / 嵌入网格): member ↔ cell with a role and a validity period; and plans."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Identity, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import BigInteger, Boolean, Float, Integer, String

from core.extensions import Created, db
from core.scope import Scoped

ASSIGNMENT_ROLES = ("chief", "worker", "liaison")


class Assignment(Scoped, db.Model):
    """A member embedded in a cell; ending it sets ``valid_to`` (history is never deleted)."""

    __tablename__ = "assignments"

    # The county leads the key so the table can be distributed by county (Citus).
    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"))
    village_code: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(10))
    valid_from: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    source: Mapped[str] = mapped_column(String(10), default="manual", server_default="manual")
    plan_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    ended_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("role in ('chief', 'worker', 'liaison')", name="role"),
        CheckConstraint("source in ('manual', 'plan', 'seed')", name="source"),
        CheckConstraint("valid_to is null or valid_to >= valid_from", name="period"),
        # The database itself refuses a second current chief or a duplicate current assignment.
        Index("uq_assignments_current_chief", "county_code", "grid_code", unique=True,
              postgresql_where=text("role = 'chief' and valid_to is null")),
        Index("uq_assignments_current_member_cell", "county_code", "grid_code", "member_id", unique=True,
              postgresql_where=text("valid_to is null")),
        Index("ix_assignments_member_id", "member_id", "valid_to"),
        Index("ix_assignments_grid_code", "grid_code", "valid_from"),
        Index("ix_assignments_village_code", "village_code", postgresql_ops={"village_code": "varchar_pattern_ops"}),
    )


class AssignmentPlan(Scoped, Created, db.Model):
    """An optimised set of chiefs for a region, computed now and applied later."""

    __tablename__ = "assignment_plans"
    __scope_column__ = "region_code"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))
    keep_existing: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10), default="draft", server_default="draft")
    cells: Mapped[int] = mapped_column(Integer)
    covered: Mapped[int] = mapped_column(Integer)
    uncovered: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    total_distance_km: Mapped[float] = mapped_column(Float)
    greedy_total_distance_km: Mapped[float] = mapped_column(Float)
    greedy_covered: Mapped[int] = mapped_column(Integer)
    changes: Mapped[int] = mapped_column(Integer)
    solve_seconds: Mapped[float] = mapped_column(Float)
    # Digest of the region's current chiefs when planned: applying after they changed is refused.
    fingerprint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(64))
    applied_by: Mapped[str | None] = mapped_column(String(64))
    applied_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (CheckConstraint("status in ('draft', 'applied')", name="status"),)


class AssignmentPlanItem(db.Model):
    """The chief a plan gives one cell (``member_id`` None: uncovered)."""

    __tablename__ = "assignment_plan_items"

    plan_id: Mapped[int] = mapped_column(ForeignKey("assignment_plans.id", ondelete="CASCADE"), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(Integer)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    is_change: Mapped[bool] = mapped_column(Boolean)
