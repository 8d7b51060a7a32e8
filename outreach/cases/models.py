"""Fraud cases (电诈案件) recorded by the police; they decide the zero-case criterion."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, Date, Identity, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Created, db
from core.scope import Scoped

CASE_TYPES = ("investment", "order_brushing", "impersonating_police", "impersonating_customer_service", "romance",
              "loan", "gaming", "other")


class Case(Scoped, Created, db.Model):
    """A reported fraud case, located in a village."""

    __tablename__ = "cases"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12))
    occurred_on: Mapped[date] = mapped_column(Date)
    type: Mapped[str] = mapped_column(String(40))
    loss_yuan: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(64))
    reported_by: Mapped[str | None] = mapped_column(String(64))
    # A wrongly recorded case is voided, never deleted: it stays listed and stops counting.
    voided_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    voided_by: Mapped[str | None] = mapped_column(String(64))
    void_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("loss_yuan >= 0", name="loss"),
        CheckConstraint("type in ('investment', 'order_brushing', 'impersonating_police', "
                        "'impersonating_customer_service', 'romance', 'loan', 'gaming', 'other')", name="type"),
        Index("ix_cases_village_code_occurred_on", "village_code", "occurred_on",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_cases_id", "id"),
        # Unique per village (county first: the distribution column of the Citus layout), so a
        # reference another scope used can be used again here: looked up in scope, it is unknown.
        Index("uq_cases_village_external_ref", "county_code", "village_code", "external_ref", unique=True,
              postgresql_where=text("external_ref is not null")),
        Index("ix_cases_external_ref", "external_ref", postgresql_where=text("external_ref is not null")),
    )
