"""Warning task forces (预警处置专班): where an escalated warning sits, the lists, and their people.

A person on a task force is a name and a role; they may also be an embedded member
(``member_id``) and may sign in (an account, ``user_id``).  Escalation notifications
(``outreach.notifications.outbox.warnings_escalated``) reach a force's people through
those: an account is told in the app and by push, a member with a phone and no account
by text.  So an account may only sit on a force whose warnings it can read: its scope
must cover the force's whole territory (for a management zone, every township it runs).
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.errors import Invalid, NotFound
from core.extensions import db
from grids import services as territory
from grids.accounts import audit
from grids.accounts import queries as accounts
from grids.hierarchy import code_prefix
from grids.members.services import get_member
from outreach.warnings import queries
from outreach.warnings.models import FundWarning, TaskForce, TaskForcePerson


def escalated_task_force(warning: FundWarning) -> TaskForce | None:
    """The task force an escalated warning now sits with: the township's, the county-level unit's (a
    management zone's for the townships it runs), or the city's; None while a member holds it."""
    return queries.escalated_task_force(warning.id) if warning.escalation_level else None


def task_forces(region_code: str | None, level: str | None, user):
    """The select of task forces under a region (default: the caller's scope)."""
    prefix = territory.region_code_prefix(region_code or user.scope)
    return queries.task_forces_select(prefix, level)


def get_task_force(force_id: int) -> TaskForce:
    """A task force in the caller's scope, or 404."""
    force = queries.task_force(force_id)
    if force is None:
        raise NotFound(_l("Task force %(id)s was not found.", id=force_id))
    return force


def territory_prefixes(force: TaskForce) -> list[str]:
    """The code prefixes of what a task force answers for (a zone: the townships it runs)."""
    townships = territory.managed_townships().get(force.region_code)
    return [code_prefix(t) for t in townships] if townships else [code_prefix(force.region_code)]


def add_person(force_id: int, data: dict[str, Any]) -> TaskForcePerson:
    """Seat someone on a task force: a name and role, optionally an embedded member of its territory and an
    account that can read its warnings; commits and audits."""
    force = get_task_force(force_id)
    prefixes = territory_prefixes(force)
    errors: dict[str, list[str]] = {}
    member = None
    if data.get("member_id") is not None:
        try:
            member = get_member(data["member_id"])
        except NotFound:
            member = None
        if member is None or not member.village_code.startswith(tuple(prefixes)):
            errors["member_id"] = [str(_l("Unknown member, or not of this task force's region."))]
    user = None
    if data.get("username"):
        user = accounts.user_by_username(data["username"])
        if user is None or not user.active:
            errors["username"] = [str(_l("Unknown or inactive account."))]
        elif not all(prefix.startswith(code_prefix(user.scope)) for prefix in prefixes):
            errors["username"] = [str(_l("This account cannot read the warnings of this task force's region."))]
    name = data.get("name") or (member.name if member is not None else None)
    if not name and "member_id" not in errors:
        errors["name"] = [str(_l("A name is needed when the person is not an embedded member."))]
    if errors:
        raise Invalid(errors={"json": errors})
    person = TaskForcePerson(task_force_id=force.id, name=name, role=data["role"],
                             member_id=member.id if member else None, user_id=user.id if user else None)
    db.session.add(person)
    db.session.flush()  # a second seat for the same member or account: 409 from the unique indexes
    audit.record("task_force.person_add", "task_force", force.id, force.region_code,
                 {"person_id": person.id, "role": person.role, "member_id": person.member_id,
                  "user_id": person.user_id})
    db.session.commit()
    return person


def remove_person(force_id: int, person_id: int) -> None:
    """Take someone off a task force; commits and audits."""
    force = get_task_force(force_id)
    person = queries.task_force_person(force.id, person_id)
    if person is None:
        raise NotFound(_l("Person %(id)s is not on this task force.", id=person_id))
    audit.record("task_force.person_remove", "task_force", force.id, force.region_code,
                 {"person_id": person.id, "role": person.role, "member_id": person.member_id,
                  "user_id": person.user_id})
    db.session.delete(person)
    db.session.commit()
