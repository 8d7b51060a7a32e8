"""Scorecard versions and monthly targets."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, Float, Identity, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Created, db
from core.scope import Scoped

# Every component a scorecard may weigh.  Each value is scored linearly between the
# version's "worst" (0) and "best" (1), clamped; a component with no value for a region
# (no warnings that month, no visits) drops out and the others' weights are rescaled.
COMPONENTS = ("coverage", "vulnerable_coverage", "app_install_rate", "warnings_met_on_time", "median_minutes_to_meet",
              "cases_per_10k_households", "zero_cases", "flagged_share", "campaigns_per_1k_households")
TARGET_METRICS = ("coverage", "vulnerable_coverage", "app_install_rate", "households_visited", "visits", "campaigns")
SHARE_METRICS = ("coverage", "vulnerable_coverage", "app_install_rate")


class Scorecard(Created, db.Model):
    """One version of the scorecard; a change adds a version, never edits one."""

    __tablename__ = "scorecards"

    version: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    components: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # How many regions the red and black lists of a bulletin name.
    list_size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Target(Scoped, db.Model):
    """A monthly target of a region or a grid cell on one metric (set again: replaced)."""

    __tablename__ = "targets"
    __scope_column__ = "subject_code"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    # A 12-digit region code or an 18-character grid code: both start with the code
    # prefix of every region containing them, so the scope filter applies as it is.
    subject_code: Mapped[str] = mapped_column(String(18))
    period: Mapped[date] = mapped_column(Date)  # the first day of the month
    metric: Mapped[str] = mapped_column(String(30))
    value: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str | None] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("extract(day from period) = 1", name="month"),
        UniqueConstraint("subject_code", "period", "metric"),
        Index("ix_targets_subject_code_period", "subject_code", "period",
              postgresql_ops={"subject_code": "varchar_pattern_ops"}),
    )
