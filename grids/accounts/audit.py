"""The audit log: one function records an entry in the caller's transaction."""
from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_jwt_extended import current_user

from core.extensions import db
from grids.accounts.models import AuditEntry


def record(action: str, object_type: str, object_id: Any, region_code: str,
           details: dict[str, Any] | None = None, comment: str | None = None, actor: str | None = None) -> None:
    """Add an audit entry; committed with the change it describes."""
    if actor is None and has_request_context():
        user = current_user  # None outside an authenticated request
        actor = getattr(user, "username", None)
    db.session.add(AuditEntry(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                              region_code=region_code, details=details or {}, comment=comment))
