"""Territory models: administrative regions and tiered grid cells."""
from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Timestamped, db
from core.scope import Scoped
from grids.hierarchy import code_prefix


class Region(Scoped, db.Model):
    """An administrative region (行政区划): city, county, township or village."""

    __tablename__ = "regions"
    __scope_column__ = "code"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    # Rollups kept by the seed and by imports, so lists never count on the fly.
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    vulnerable_households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    grids: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Tier-3 cells (where households live), the denominator of "cells visited".
    tier3_grids: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("level in ('city', 'county', 'township', 'village')", name="level"),
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_format"),
        Index("ix_regions_level_code", "level", "code"),
        Index("ix_regions_boundary", "boundary", postgresql_using="gist"),
    )

    @property
    def prefix(self) -> str:
        """The code prefix shared by everything inside this region."""
        return code_prefix(self.code)


class Grid(Scoped, Timestamped, db.Model):
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
    vulnerable_households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("tier between 1 and 3", name="tier"),
        CheckConstraint(r"code ~ '^[0-9]{12}-[0-9]{2}-[0-9]{2}$'", name="code_format"),
        Index("ix_grids_village_code", "village_code", postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_grids_tier_code", "tier", "code"),
        Index("ix_grids_boundary", "boundary", postgresql_using="gist"),
    )
