"""The outbox: notifications, one delivery row per (notification, channel), and push subscriptions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Identity, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import BigInteger, Boolean, Integer, SmallInteger, String, Text

from core.extensions import db

KINDS = ("warning_assigned", "warning_escalated", "warning_reassigned", "assignment_changed",
         "certification_decided", "certification_expiring", "lagging_alert")
CHANNELS = ("in_app", "push", "sms")
DELIVERY_STATUSES = ("pending", "sent", "skipped", "failed")


class Notification(db.Model):
    """A message for one recipient about one cause (an account, or a member without one: text only)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    # What caused it ("warning:12:escalated:2"): one notification per recipient per cause.
    cause: Mapped[str] = mapped_column(String(120))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    # The facts the title and body are made of (rendered in the reader's language; no personal data).
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # Order in which in-app deliveries were made visible (the live stream follows it).
    delivered_seq: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("user_id is not null or member_id is not null", name="recipient"),
        Index("uq_notifications_user_cause", "user_id", "cause", unique=True,
              postgresql_where=text("user_id is not null")),
        Index("uq_notifications_member_cause", "member_id", "cause", unique=True,
              postgresql_where=text("user_id is null")),
        Index("ix_notifications_user_id", "user_id", "id"),
        Index("ix_notifications_user_seq", "user_id", "delivered_seq",
              postgresql_where=text("delivered_seq is not null")),
    )


class Delivery(db.Model):
    """One channel's delivery of a notification: pending until sent (or skipped, or given up), recorded once."""

    __tablename__ = "notification_deliveries"

    notification_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    # Quiet hours and retry back-off: not tried before this time.
    not_before: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    failures: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("channel in ('in_app', 'push', 'sms')", name="channel"),
        CheckConstraint("status in ('pending', 'sent', 'skipped', 'failed')", name="status"),
        Index("ix_notification_deliveries_pending", "not_before", "channel",
              postgresql_where=text("status = 'pending'")),
    )


class PushSubscription(db.Model):
    """A browser's Web Push subscription for an account."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    last_success_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (Index("ix_push_subscriptions_user_id", "user_id"),)
