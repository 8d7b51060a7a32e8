"""Member rules: create and change members inside the caller's scope."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.errors import Invalid, NotFound
from core.extensions import db
from core.geometry import to_db
from core.personal_data import protect_phone
from grids import queries as territory
from grids.accounts import audit
from grids.members.models import Member


def get_member(member_id: int) -> Member:
    """A member in scope, or 404."""
    member = db.session.get(Member, member_id)
    if member is None:
        raise NotFound(_l("Member %(id)s was not found.", id=member_id))
    return member


def _village(code: str):
    region = territory.region_by_code(code)
    if region is None or region.level != "village":
        raise Invalid(errors={"json": {"village_code": ["Unknown village, or outside your scope."]}})
    return region


def _apply(member: Member, data: dict[str, Any]) -> None:
    for name in ("name", "kind", "active"):
        if name in data:
            setattr(member, name, data[name].strip() if name == "name" else data[name])
    if "village_code" in data:
        member.village_code = _village(data["village_code"]).code
        member.county_code = member.village_code[:6]
    if "home" in data:
        member.home = to_db(data["home"])
    if "phone" in data:
        for column, value in protect_phone(data["phone"]).items():
            setattr(member, column, value)


def create_member(data: dict[str, Any]) -> Member:
    """Create a member in a village of the caller's scope."""
    member = Member()
    _apply(member, data)
    db.session.add(member)
    db.session.flush()
    audit.record("member.create", "member", member.id, member.village_code, {"kind": member.kind})
    db.session.commit()
    return member


def update_member(member_id: int, data: dict[str, Any]) -> Member:
    """Change a member (moving them only to villages inside the caller's scope)."""
    member = get_member(member_id)
    _apply(member, data)
    audit.record("member.update", "member", member.id, member.village_code,
                 {"fields": sorted(k for k in data if k != "phone") + (["phone"] if "phone" in data else [])})
    db.session.commit()
    return member
