"""Visits (走访) and their idempotency keys.

``visits`` is range-partitioned by month on ``visited_at`` (declarative
partitioning, created in the migration and extended ahead by
:func:`outreach.visits.queries.ensure_partitions`).  A partitioned table's unique
keys must contain the partition key, so the client UUID's uniqueness lives in
``visit_keys``: inserting there first makes a retry unable to insert twice, even
under concurrent requests.  The coverage rollups kept with every visit are in
:mod:`outreach.coverage.models`.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Identity, Index, func
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import BigInteger, Boolean, Float, Integer, SmallInteger, String, Text, Uuid

from core.extensions import db
from core.scope import Scoped

OUTCOMES = ("completed", "nobody_home", "refused")
FLAGS = ("outside_grid", "impossible_travel", "future_time", "clock_skew", "mocked_location", "low_accuracy",
         "implausible_pace",
         "not_assigned", "repeat_visit")
TOPICS = ("investment", "order_brushing", "impersonating_police", "impersonating_customer_service", "romance",
          "loan", "gaming", "fake_refund", "app_install", "vulnerable_care", "other")


class Visit(Scoped, db.Model):
    """One door-to-door visit, created on a phone with a client UUID (partitioned by month)."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_member_id_visited_at", "member_id", "visited_at"),
        Index("ix_visits_household_id_visited_at", "household_id", "visited_at"),
        Index("ix_visits_grid_code_visited_at", "grid_code", "visited_at"),
        Index("ix_visits_village_code", "village_code", "visited_at",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
        {"postgresql_partition_by": "RANGE (visited_at)"},
    )

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    visited_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger)
    grid_code: Mapped[str] = mapped_column(String(18))
    village_code: Mapped[str] = mapped_column(String(12))
    member_id: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(12))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    raw_lon: Mapped[float | None] = mapped_column(Float)
    raw_lat: Mapped[float | None] = mapped_column(Float)
    crs: Mapped[str | None] = mapped_column(String(10))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    mocked: Mapped[bool] = mapped_column(Boolean, default=False)
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    app_installed: Mapped[bool | None] = mapped_column(Boolean)
    residents_reached: Mapped[int | None] = mapped_column(SmallInteger)
    vulnerable_reached: Mapped[int | None] = mapped_column(SmallInteger)
    notes: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    new_household: Mapped[bool] = mapped_column(Boolean, default=False)
    # A supervisor's latest review (confirmed / voided; history in visit_reviews). A voided
    # visit stays here and no longer counts in any coverage rollup.
    review: Mapped[str | None] = mapped_column(String(10))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())


class VisitKey(db.Model):
    """The idempotency key of a visit: its client UUID and a digest of its content."""

    __tablename__ = "visit_keys"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(32))
    visited_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    household_id: Mapped[int] = mapped_column(BigInteger)
    flags: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)


class VisitReview(db.Model):
    """A supervisor's decision on a visit: confirmed or voided, with the reason."""

    __tablename__ = "visit_reviews"
    __table_args__ = (
        CheckConstraint("decision in ('confirmed', 'voided')", name="decision"),
        Index("ix_visit_reviews_visit_id", "visit_id"),
    )

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    visited_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    village_code: Mapped[str] = mapped_column(String(12))
    decision: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
