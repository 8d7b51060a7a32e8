"""Coverage rollups, kept with every visit in the visit's transaction (:mod:`outreach.coverage.rollups`).

Read by coverage reports, never the visit history:
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
  sums at most villages × days small rows;
- ``household_visit_months``: one row per household per local month with a completed
  visit (its insert is what tells a household new to the month, even under concurrent syncs);
- ``village_month_counts``: per village and month, households with a completed visit
  in it (and how many vulnerable), visits and flagged visits, so a month's figures for
  the whole city (rankings, bulletins) are one small row per village;
- ``village_app_counts``: per village, households whose latest recorded answer is "app
  installed" (the cells' ``app_installed`` summed, kept with them).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db


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


class HouseholdVisitMonth(db.Model):
    """A household had a completed visit in a local month (``month``: its first day)."""

    __tablename__ = "household_visit_months"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12))
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)


class VillageMonthCount(db.Model):
    """A village's month: households with a completed visit in it, how many vulnerable, visits, flagged visits."""

    __tablename__ = "village_month_counts"
    __table_args__ = (Index("ix_village_month_counts_month", "month", "village_code",
                            postgresql_include=["households", "vulnerable", "visits", "flagged"]),)

    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    vulnerable: Mapped[int] = mapped_column(Integer, default=0)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)


class VillageAppCount(db.Model):
    """Households of a village whose latest recorded answer is "app installed" (a state, not a period)."""

    __tablename__ = "village_app_counts"

    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    app_installed: Mapped[int] = mapped_column(Integer, default=0)
