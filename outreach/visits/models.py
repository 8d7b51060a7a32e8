"""Visits (走访) and the rollups kept with them in the same transaction.

``visits`` is range-partitioned by month on ``visited_at`` (declarative
partitioning, created in the migration and extended ahead by
:func:`outreach.visits.queries.ensure_partitions`).  A partitioned table's unique
keys must contain the partition key, so the client UUID's uniqueness lives in
``visit_keys``: inserting there first makes a retry unable to insert twice, even
under concurrent requests.

Rollups (read by coverage reports, never the visit history):
- ``household_coverage``: per household, the latest visit and completed day;
- ``household_visit_days``: one row per household per local day with a completed
  visit, with the previous such day, so "households visited in [from, to]" is the
  count of rows in the period whose previous day is before ``from`` — exact for any
  period without touching visits;
- ``grid_coverage``: per cell, the latest visit and completed day;
- ``grid_day_counts`` / ``village_day_counts``: visits, completed and flagged per
  cell (and per village) per local day;
- ``last_completed_counts``: per village and day, households whose *latest*
  completed visit is that day (and how many vulnerable), so a period ending today
  sums at most villages × days small rows.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, Date, Float, Index, Integer, SmallInteger, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.scope import Scoped

OUTCOMES = ("completed", "nobody_home", "refused")
FLAGS = ("outside_grid", "impossible_travel", "future_time", "clock_skew", "mocked_location", "low_accuracy",
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


class HouseholdCoverage(db.Model):
    """Per household: the latest visit, the latest completed day and the app status."""

    __tablename__ = "household_coverage"
    __table_args__ = (Index("ix_household_coverage_grid_code", "grid_code",
                            postgresql_ops={"grid_code": "varchar_pattern_ops"}),)

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(18))
    vulnerable: Mapped[bool] = mapped_column(Boolean)
    last_visit_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_completed_on: Mapped[date | None] = mapped_column(Date)
    app_installed: Mapped[bool] = mapped_column(Boolean, default=False)
    app_recorded_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # When this row last changed (worklist deltas), not when the visit happened.
    changed_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())


class HouseholdVisitDay(db.Model):
    """A local day on which a household had a completed visit, and its previous such day."""

    __tablename__ = "household_visit_days"
    __table_args__ = (Index("ix_household_visit_days_day", "day", "grid_code",
                            postgresql_include=["previous_day", "vulnerable"]),)

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    previous_day: Mapped[date | None] = mapped_column(Date)
    grid_code: Mapped[str] = mapped_column(String(18))
    vulnerable: Mapped[bool] = mapped_column(Boolean)


class GridCoverage(db.Model):
    """Per cell: the latest visit and the latest completed day (46,000 rows: scanned directly)."""

    __tablename__ = "grid_coverage"
    __table_args__ = (Index("ix_grid_coverage_village_code", "village_code",
                            postgresql_ops={"village_code": "varchar_pattern_ops"}),)

    grid_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12))
    last_visit_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_completed_on: Mapped[date | None] = mapped_column(Date)
    # Households of the cell whose latest recorded app status is "installed".
    app_installed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class GridDayCount(db.Model):
    """Visits, completed visits and flagged visits of a cell on a local day."""

    __tablename__ = "grid_day_counts"
    __table_args__ = (Index("ix_grid_day_counts_day", "day", "grid_code"),)

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)


class VillageDayCount(db.Model):
    """The same counters per village and day (what city-wide reports sum)."""

    __tablename__ = "village_day_counts"
    __table_args__ = (Index("ix_village_day_counts_day", "day", "village_code",
                            postgresql_include=["visits", "flagged"]),)

    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)


class LastCompletedCount(db.Model):
    """Households of a village whose latest completed visit fell on ``day`` (and how many vulnerable)."""

    __tablename__ = "last_completed_counts"
    __table_args__ = (Index("ix_last_completed_counts_day", "day", "village_code",
                            postgresql_include=["households", "vulnerable"]),)

    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    vulnerable: Mapped[int] = mapped_column(Integer, default=0)
