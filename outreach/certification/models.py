"""Fraud-free village certification (无诈创建): versioned criteria, applications and decisions."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import today
from core.extensions import Created, db
from core.scope import Scoped

STATUSES = ("submitted", "township_approved", "certified", "rejected", "suspended")
OPEN_STATUSES = ("submitted", "township_approved")


class CertificationCriteria(Created, db.Model):
    """One version of the bar a village must meet; a change adds a version, never edits one."""

    __tablename__ = "certification_criteria"

    version: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    zero_case_months: Mapped[int] = mapped_column(Integer)
    min_coverage: Mapped[float] = mapped_column(Float)
    min_vulnerable_coverage: Mapped[float] = mapped_column(Float)
    min_app_install_rate: Mapped[float] = mapped_column(Float)
    window_days: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Certification(Scoped, db.Model):
    """A village's application and where it stands."""

    __tablename__ = "certifications"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    status: Mapped[str] = mapped_column(String(20))
    criteria_version: Mapped[int] = mapped_column(ForeignKey("certification_criteria.version"))
    # The evaluation the application was accepted on (criteria, values, thresholds).
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    applied_by: Mapped[str | None] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    certified_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    suspended_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    suspended_by_case: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status in ('submitted', 'township_approved', 'certified', 'rejected', 'suspended')",
                        name="status"),
        # At most one open application per village, enforced by the database too.
        Index("uq_certifications_open_per_village", "village_code", unique=True,
              postgresql_where=text("status in ('submitted', 'township_approved')")),
        Index("ix_certifications_village_code", "village_code", postgresql_ops={"village_code": "varchar_pattern_ops"}),
    )


class CertificationDecision(db.Model):
    """A reviewer's decision at the township or county level."""

    __tablename__ = "certification_decisions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("level in ('township', 'county')", name="level"),
        CheckConstraint("decision in ('approve', 'reject', 'reinstate')", name="decision"),
    )


def display_status(certification: Certification, on: date | None = None) -> str:
    """The status as read on a day (default today, Asia/Shanghai): certified past its validity is expired."""
    day = on or today()
    if certification.status == "certified" and certification.valid_until and certification.valid_until < day:
        return "expired"
    return certification.status
