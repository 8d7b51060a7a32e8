"""Select builders of members (scope is applied by ``core.scope``)."""
from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import defer, undefer

from grids.members.models import Member


def members_select(prefix: str | None = None, kind: str | None = None, active: bool | None = None,
                   name_contains: str | None = None, with_home: bool = True) -> Select:
    """Members filtered by region prefix, kind, active flag and name."""
    statement = select(Member).order_by(Member.id)
    statement = statement.options(undefer(Member.home) if with_home else defer(Member.home))
    if prefix:
        statement = statement.where(Member.village_code.startswith(prefix, autoescape=True))
    if kind:
        statement = statement.where(Member.kind == kind)
    if active is not None:
        statement = statement.where(Member.active == active)
    if name_contains:
        statement = statement.where(Member.name.contains(name_contains, autoescape=True))
    return statement
