"""A published bulletin: the figures frozen when it was generated."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.scope import Scoped


class Bulletin(Scoped, db.Model):
    """One edition of a region's bulletin for a month (a later edition supersedes it)."""

    __tablename__ = "bulletins"
    __scope_column__ = "region_code"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    period: Mapped[date] = mapped_column(Date)  # the month's first day
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    generated_by: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_bulletins_region_code_period", "region_code", "period", "generated_at",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
    )
