"""Select builders of users and the audit log (scope is applied by ``core.scope``)."""
from __future__ import annotations

from sqlalchemy import Select, select

from core.extensions import db
from grids.accounts.models import AuditEntry, User


def user_by_username(username: str) -> User | None:
    """One user (within the session's scope), or None."""
    return db.session.scalar(select(User).where(User.username == username))


def users_select(role: str | None = None, active: bool | None = None) -> Select:
    """Users filtered by role and active flag, by username."""
    statement = select(User).order_by(User.username)
    if role:
        statement = statement.where(User.role == role)
    if active is not None:
        statement = statement.where(User.active == active)
    return statement


def audit_select(object_type: str | None = None, object_id: str | None = None,
                 actor: str | None = None) -> Select:
    """Audit entries, newest first."""
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if object_type:
        statement = statement.where(AuditEntry.object_type == object_type)
    if object_id:
        statement = statement.where(AuditEntry.object_id == object_id)
    if actor:
        statement = statement.where(AuditEntry.actor == actor)
    return statement
