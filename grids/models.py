"""Territory models: administrative regions, tiered grid cells and households."""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db

REGION_LEVELS = ("city", "county", "township", "village")
# Significant digits of a 12-digit statistical code at each level: the code of a
# region is a prefix of the codes of everything inside it.
LEVEL_PREFIX_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}
HOUSEHOLD_TAGS = ("elderly_alone", "elderly", "student", "left_behind", "disabled", "previous_victim")


class Region(db.Model):
    """An administrative region (行政区划): city, county, township or village."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    # Rollups kept by the seed and by imports, so lists never count on the fly.
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    grids: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("level in ('city', 'county', 'township', 'village')", name="level"),
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_format"),
        Index("ix_regions_level_code", "level", "code"),
        Index("ix_regions_boundary", "boundary", postgresql_using="gist"),
    )

    @property
    def prefix(self) -> str:
        """The code prefix shared by everything inside this region."""
        return self.code[: LEVEL_PREFIX_LENGTH[self.level]]


class Grid(db.Model):
    """A grid cell (网格) of tier 1 (village), 2 (group/block) or 3 (micro-grid)."""

    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(String(18), primary_key=True)
    tier: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("grids.code"), index=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    # Denormalised for scope filters and, past one machine, Citus distribution.
    county_code: Mapped[str] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    __table_args__ = (
        CheckConstraint("tier between 1 and 3", name="tier"),
        CheckConstraint(r"code ~ '^[0-9]{12}-[0-9]{2}-[0-9]{2}$'", name="code_format"),
        Index("ix_grids_village_code", "village_code", postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_grids_tier_code", "tier", "code"),
        Index("ix_grids_boundary", "boundary", postgresql_using="gist"),
    )


class Household(db.Model):
    """A household (户): an address point inside exactly one tier-3 cell."""

    __tablename__ = "households"

    # The county code leads the key so the table can be distributed by county.
    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"))
    village_code: Mapped[str] = mapped_column(String(12))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    residents: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    __table_args__ = (
        CheckConstraint("residents between 0 and 100", name="residents"),
        Index("ix_households_id", "id"),
        Index("ix_households_grid_code", "grid_code"),
        Index("ix_households_village_code", "village_code",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_households_location", "location", postgresql_using="gist"),
    )
