"""Households (户): address points placed in tier-3 cells."""
from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, SmallInteger, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Timestamped, db
from core.scope import Scoped

HOUSEHOLD_TAGS = ("elderly_alone", "elderly", "student", "left_behind", "disabled", "previous_victim")


class Household(Scoped, Timestamped, db.Model):
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
    # Set when a household found in the field arrives with a visit: a retry finds it again.
    source_visit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Households are never deleted (visits reference them); removal is recorded for worklists.
    removed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("residents between 0 and 100", name="residents"),
        Index("ix_households_id", "id"),
        Index("ix_households_grid_code", "grid_code"),
        Index("ix_households_village_code", "village_code",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_households_location", "location", postgresql_using="gist"),
        Index("uq_households_source_visit", "county_code", "source_visit_id", unique=True,
              postgresql_where=text("source_visit_id is not null")),
    )
