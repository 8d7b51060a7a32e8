"""Accounts: users with a role and a territorial scope, and the audit log."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import LargeBinary

from core.extensions import Timestamped, db
from core.scope import Scoped


class User(Scoped, Timestamped, db.Model):
    """A person who signs in: role and scope (a region code) decide what they see and do."""

    __tablename__ = "users"
    __scope_column__ = "scope"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    scope: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # Bumped on deactivation and password reset: tokens carrying an older value stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # After a password change, the one session (of the previous token version) that stays signed in.
    kept_session: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str | None] = mapped_column(String(64))
    # Where the account's text messages go (task forces are told of escalations by text): stored like a
    # member's phone, encrypted, with a keyed hash and a masked form.
    phone_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("role in ('city_admin', 'county_admin', 'township_supervisor', 'village_admin', "
                        "'grid_worker', 'police', 'reviewer')", name="role"),
        Index("ix_users_scope", "scope", postgresql_ops={"scope": "varchar_pattern_ops"}),
    )


class RevokedSession(db.Model):
    """A signed-out session: its refresh token and the access tokens issued from it stop working.

    Kept until the session's refresh token would have expired anyway."""

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), index=True)


class AuditEntry(Scoped, db.Model):
    """Who did what to which object, when: never updated or deleted."""

    __tablename__ = "audit_log"
    __scope_column__ = "region_code"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    # Where the object lives, so admins read the entries of their own territory.
    region_code: Mapped[str] = mapped_column(String(12))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_log_region_code_at", "region_code", "at",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        Index("ix_audit_log_object", "object_type", "object_id"),
    )
