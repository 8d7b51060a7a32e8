"""Case rules: the village is derived from the point; a case suspends a certified village at once."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text

from core.clock import today
from core.errors import Conflict, Invalid, NotFound
from core.extensions import db
from core.geometry import to_db
from core.scope import in_scope
from grids import queries as territory_queries
from grids import services as territory
from grids.accounts import audit
from grids.hierarchy import PREFIX_LENGTH, child_region_level, code_prefix
from outreach.cases import queries
from outreach.cases.models import Case
from outreach.certification import services as certification


def create_case(data: dict[str, Any], actor: str | None) -> tuple[Case, bool]:
    """Record a case in the village containing its location (or the one named); (case, created).

    Idempotent on ``external_ref``: the police system's reference sent again answers the
    case recorded the first time (serialised by an advisory lock on the reference).  The
    reference is looked up in the caller's scope only, so another scope's reference is
    simply unknown here and answers exactly as one nobody used (a reference is unique per
    village, and no scope is smaller than a village).
    """
    if data.get("external_ref"):
        db.session.execute(text("select pg_advisory_xact_lock(hashtext('case:' || :ref))"),
                           {"ref": data["external_ref"]})
        existing = queries.case_by_external_ref(data["external_ref"])
        if existing is not None:
            db.session.commit()  # releases the lock
            return existing, False
    point = data.get("location")
    if point is not None:
        village_code = queries.village_of_point(point.x, point.y)
        # Outside every village and in a village outside the scope answer alike, never naming it.
        if village_code is None or not in_scope(db.session, village_code):
            raise Invalid(errors={"json": {"location": ["The point is outside every village of your scope."]}})
        if data.get("village_code") and data["village_code"] != village_code:
            raise Invalid(errors={"json": {"village_code": ["The location is not in this village."]}})
    else:
        village_code = data["village_code"]
    region = territory_queries.region_by_code(village_code) if in_scope(db.session, village_code) else None
    if region is None or region.level != "village":
        raise Invalid(errors={"json": {"village_code": ["Unknown village, or outside your scope."]}})
    if data["occurred_on"] > today():
        raise Invalid(errors={"json": {"occurred_on": ["In the future."]}})
    case = Case(county_code=village_code[:6], village_code=village_code, occurred_on=data["occurred_on"],
                type=data["type"], loss_yuan=Decimal(str(data["loss_yuan"])).quantize(Decimal("0.01")),
                location=to_db(point),
                external_ref=data.get("external_ref"), reported_by=actor)
    db.session.add(case)
    db.session.flush()
    audit.record("case.create", "case", case.id, village_code, {"type": case.type, "loss_yuan": str(case.loss_yuan)})
    # In the same transaction: a case ends a village's fraud-free status.
    suspended = certification.suspend_for_case(village_code, case.id)
    case.suspended_certification_id = suspended
    db.session.commit()
    return case, True


def get_case(case_id: int) -> Case:
    """A case in scope, or 404."""
    case = db.session.scalar(select(Case).where(Case.id == case_id))
    if case is None:
        raise NotFound(_l("Case %(id)s was not found.", id=case_id))
    return case


def void_case(case_id: int, reason: str, actor: str | None) -> Case:
    """Void a wrongly recorded case: it stays listed, stops counting, and is audited.

    A certification it suspended stays suspended until the county reviewer reinstates it.
    """
    case = get_case(case_id)
    db.session.refresh(case, with_for_update=True)
    if case.voided_at is not None:
        raise Conflict(_l("The case is already voided."), rule="already_voided")
    case.voided_at = func.now()
    case.voided_by = actor
    case.void_reason = reason
    audit.record("case.void", "case", case.id, case.village_code, {"type": case.type}, comment=reason)
    db.session.commit()
    db.session.refresh(case)
    return case


def summary(region_code: str, start: date | None, end: date | None) -> dict[str, Any]:
    """Cases, losses and zero-case villages of a region's children in a period (default: 12 months)."""
    region = territory.get_region(region_code)
    end = end or today()
    start = start or end - timedelta(days=364)
    if start > end:
        raise Invalid(errors={"query": {"from": ["Must not be after 'to'."]}})
    prefix = code_prefix(region.code)
    child_level = child_region_level(region.level)
    children = []
    if child_level:
        length = PREFIX_LENGTH[child_level]
        for code, name, cases, loss, villages, zero in queries.summary(prefix, length, child_level, start, end):
            children.append({"code": code, "name": name, "cases": int(cases), "loss_yuan": float(loss),
                             "zero_cases": int(cases) == 0, "villages": int(villages),
                             "villages_with_zero_cases": int(zero)})
    own = queries.summary(prefix, PREFIX_LENGTH["village"], "village", start, end)
    return {
        "code": region.code, "from": start, "to": end,
        "cases": sum(int(r[2]) for r in own), "loss_yuan": float(sum(r[3] for r in own)),
        "by_type": queries.cases_by_type(prefix, start, end),
        "villages": len(own), "villages_with_zero_cases": sum(1 for r in own if int(r[2]) == 0),
        "children": children,
    }
