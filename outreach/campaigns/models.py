"""A publicity campaign event, located in the village its point falls in.

The ten kinds (十进, "into ten places") are the city's fixed vocabulary:

| code | 十进 | where |
|---|---|---|
| ``community`` | 进社区 | urban communities and residential compounds |
| ``village`` | 进农村 | villages (village squares, markets, group meetings) |
| ``household`` | 进家庭 | homes (family talks, door-to-door leaflets beyond a visit) |
| ``school`` | 进校园 | schools and colleges |
| ``enterprise`` | 进企业 | enterprises and factories |
| ``institution`` | 进机关 | government offices and public institutions |
| ``shop`` | 进商铺 | shops, markets and businesses on the street |
| ``hospital`` | 进医院 | hospitals and clinics |
| ``place_of_worship`` | 进宗教场所 | temples, churches, mosques |
| ``internet_cafe`` | 进网吧 | internet cafés |
"""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, Float, Identity, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Created, db
from core.scope import Scoped

CAMPAIGN_KINDS = ("community", "village", "household", "school", "enterprise", "institution", "shop", "hospital",
                  "place_of_worship", "internet_cafe")


class Campaign(Scoped, Created, db.Model):
    """One publicity event: kind, title, time, place, audience reached, materials handed out."""

    __tablename__ = "campaigns"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    # The point as sent (before conversion to WGS84), for audit.
    raw_lon: Mapped[float | None] = mapped_column(Float)
    raw_lat: Mapped[float | None] = mapped_column(Float)
    crs: Mapped[str | None] = mapped_column(String(10))
    audience: Mapped[int] = mapped_column(Integer)
    materials: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("kind in ('community', 'village', 'household', 'school', 'enterprise', 'institution', "
                        "'shop', 'hospital', 'place_of_worship', 'internet_cafe')", name="kind"),
        CheckConstraint("audience >= 0 and materials >= 0", name="counts"),
        Index("ix_campaigns_id", "id"),
        Index("ix_campaigns_village_code_held_at", "village_code", "held_at",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
    )
