"""Fund warnings (资金预警): a resident probably being defrauded now, answered face to face.

A warning is routed to a member embedded in the household's cell and carries a
deadline; past it, a scheduled pass escalates it to the township, then the county,
then the city task force, each with a new deadline.  Everything that happens is an
event; events from phones carry client ids and are idempotent like visits.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, ForeignKey, Identity, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import BigInteger, Boolean, Integer, LargeBinary, Numeric, SmallInteger, String, Text, Uuid

from core.extensions import Created, db
from core.scope import Scoped

LEVELS = ("urgent", "high", "medium", "low")
STATUSES = ("open", "acknowledged", "met", "revisit", "closed")
EVENT_TYPES = ("acknowledged", "called", "met", "outcome")
OUTCOMES = ("dissuaded", "transferred", "refused", "not_found", "false_alarm")
# Outcomes a member may record after a call without having met the resident.
OUTCOMES_WITHOUT_MEETING = ("refused", "not_found", "false_alarm")
# Every event type: the member's (EVENT_TYPES), then the system's and supervisors'.
ALL_EVENT_TYPES = (*EVENT_TYPES, "escalated", "notified", "routed", "reassigned")
ESCALATION = ("member", "township", "county", "city")  # index = escalation level
CHECKLIST_ITEMS = ("screen_sharing", "verification_codes_given", "transfers_made", "unknown_apps_installed",
                   "links_clicked")


class FundWarning(Scoped, Created, db.Model):
    """A fund warning and where it stands."""

    __tablename__ = "warnings"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    grid_code: Mapped[str] = mapped_column(String(18))
    village_code: Mapped[str] = mapped_column(String(12))
    phone_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    assigned_member_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="open")
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    # The next thing due: acknowledgement (urgent, until acknowledged) or the meeting.
    deadline: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    ack_deadline: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    meet_deadline: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    met_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(12))
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    stop_payment_requested: Mapped[bool | None] = mapped_column(Boolean)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("level in ('urgent', 'high', 'medium', 'low')", name="level"),
        CheckConstraint("status in ('open', 'acknowledged', 'met', 'revisit', 'closed')", name="status"),
        CheckConstraint("escalation_level between 0 and 3", name="escalation_level"),
        Index("uq_warnings_village_external_ref", "village_code", "external_ref", unique=True),
        Index("ix_warnings_external_ref", "external_ref"),
        Index("ix_warnings_id", "id"),
        # Open warnings found by status, not by deadline: the escalation pass then changes
        # no indexed column, so its updates stay HOT (in place) and 100,000 take well under 2 s.
        Index("ix_warnings_open", "status", postgresql_where=text("status <> 'closed'")),
        Index("ix_warnings_member", "assigned_member_id", "status"),
        Index("ix_warnings_village_code", "village_code", "created_at",
              postgresql_ops={"village_code": "varchar_pattern_ops"}),
    )


class WarningEvent(db.Model):
    """Something that happened to a warning: a phone's event, an escalation, a notification."""

    __tablename__ = "warning_events"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    # A phone's event id is unique per warning (the key of its retries), so an id recorded on
    # another warning, in scope or not, is simply unknown on this one.
    warning_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(12))
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    stop_payment_requested: Mapped[bool | None] = mapped_column(Boolean)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    escalated_to: Mapped[str | None] = mapped_column(String(8))
    deadline: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    by: Mapped[str | None] = mapped_column(String(64))
    # routed / reassigned: the member the warning went to.
    member_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("type in ('acknowledged', 'called', 'met', 'outcome', 'escalated', 'notified', 'routed', "
                        "'reassigned')", name="type"),
        Index("ix_warning_events_warning", "warning_id", "at"),
    )


TASK_FORCE_LEVELS = ("city", "county", "township", "village")
# What people do on a task force (the seed's four levels draw from these).
TASK_FORCE_ROLES = ("official", "village_secretary", "village_cadre", "grid_worker", "township_cadre", "police",
                    "bank", "telecom", "court", "procuratorate", "finance", "media", "education", "health")


class TaskForce(Scoped, db.Model):
    """A warning task force (预警处置专班) of one region: where unanswered warnings escalate."""

    __tablename__ = "task_forces"
    __scope_column__ = "region_code"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    people: Mapped[list[TaskForcePerson]] = relationship(order_by="TaskForcePerson.id", lazy="selectin")

    __table_args__ = (
        CheckConstraint("level in ('city', 'county', 'township', 'village')", name="level"),
        Index("ix_task_forces_level_region", "level", "region_code",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
    )


class TaskForcePerson(db.Model):
    """Someone on a task force; ``member_id`` when they are also an embedded member, ``user_id`` when they
    sign in with an account (escalations reach them through both)."""

    __tablename__ = "task_force_people"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    task_force_id: Mapped[int] = mapped_column(ForeignKey("task_forces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("uq_task_force_people_member", "task_force_id", "member_id", unique=True,
              postgresql_where=text("member_id is not null")),
        Index("uq_task_force_people_user", "task_force_id", "user_id", unique=True,
              postgresql_where=text("user_id is not null")),
        Index("ix_task_force_people_member_id", "member_id", postgresql_where=text("member_id is not null")),
        Index("ix_task_force_people_user_id", "user_id", postgresql_where=text("user_id is not null")),
    )
