"""Members (党员干部 / 网格员): people embedded in grid cells."""
from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Identity, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import Timestamped, db
from core.scope import Scoped

MEMBER_KINDS = ("village_secretary", "village_cadre", "township_cadre", "party_member", "grid_worker")


class Member(Scoped, Timestamped, db.Model):
    """A member with a home village and home point; the phone is stored encrypted."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(24))
    # Fernet ciphertext (key from the environment), a keyed hash for look-ups
    # and the masked form shown in responses; the plain number is never stored.
    phone_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    home = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")

    __table_args__ = (
        CheckConstraint("kind in ('village_secretary', 'village_cadre', 'township_cadre', 'party_member', "
                        "'grid_worker')", name="kind"),
        Index("ix_members_village_code", "village_code", postgresql_ops={"village_code": "varchar_pattern_ops"}),
        Index("ix_members_phone_hash", "phone_hash"),
        Index("ix_members_home", "home", postgresql_using="gist"),
    )
