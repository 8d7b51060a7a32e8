"""Fraud-free certification: criteria versions, evaluation, the two-level review, suspension, expiry."""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from core.clock import LOCAL, today
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from grids import services as territory
from grids.accounts import audit
from grids.hierarchy import PREFIX_LENGTH, child_region_level, code_prefix, level_of_code
from outreach.cases import queries as case_queries
from outreach.certification import queries
from outreach.certification.models import (
    OPEN_STATUSES,
    Certification,
    CertificationCriteria,
    CertificationDecision,
    display_status,
)
from outreach.coverage.services import village_figures
from outreach.notifications import outbox

REVIEW_LEVELS = ("township", "county")


def current_criteria() -> CertificationCriteria:
    """The latest criteria version."""
    criteria = queries.latest_criteria()
    if criteria is None:
        raise NotFound(_l("No certification criteria are defined."))
    return criteria


def set_criteria(data: dict[str, Any], actor: str | None) -> CertificationCriteria:
    """Add a criteria version (earlier decisions keep theirs)."""
    criteria = CertificationCriteria(**data, created_by=actor)
    db.session.add(criteria)
    db.session.flush()
    audit.record("certification.criteria", "criteria", criteria.version, current_app.config["GRIDS_CITY_CODE"], data)
    db.session.commit()
    return criteria


def _months_ago(day: date, months: int) -> date:
    """The same day ``months`` months earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def evaluate(village_code: str) -> dict[str, Any]:
    """Every criterion's value, threshold and pass/fail for a village, now."""
    region = territory.get_region(village_code)
    if region.level != "village":
        raise NotFound(_l("Village %(code)s was not found.", code=village_code))
    criteria = current_criteria()
    end = today()
    figures = village_figures(region.code, end - timedelta(days=criteria.window_days - 1), end)
    cases = case_queries.cases_in_village_since(region.code, _months_ago(end, criteria.zero_case_months))

    def share(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 1.0

    checks = [
        ("zero_cases", cases, 0, cases == 0),
        ("coverage", share(figures["households_visited"], figures["households"]), criteria.min_coverage, None),
        ("vulnerable_coverage", share(figures["vulnerable_visited"], figures["vulnerable"]),
         criteria.min_vulnerable_coverage, None),
        ("app_install_rate", share(figures["app_installed"], figures["households"]), criteria.min_app_install_rate,
         None),
    ]
    rows = [{"name": name, "value": value, "threshold": threshold,
             "passed": passed if passed is not None else value >= threshold}
            for name, value, threshold, passed in checks]
    return {"village_code": region.code, "eligible": all(r["passed"] for r in rows),
            "criteria_version": criteria.version, "window_days": criteria.window_days,
            "zero_case_months": criteria.zero_case_months, "criteria": rows,
            "current": queries.latest_certification(region.code)}


def get_certification(certification_id: int) -> Certification:
    """A certification in scope, or 404."""
    certification = db.session.get(Certification, certification_id)
    if certification is None:
        raise NotFound(_l("Certification %(id)s was not found.", id=certification_id))
    return certification


def apply(village_code: str, actor: str | None) -> Certification:
    """A village applies; 409 with the failing criteria when it is not eligible."""
    evaluation = evaluate(village_code)
    current = evaluation["current"]
    if current is not None and current.status in OPEN_STATUSES:
        raise Conflict(_l("The village already has an open application."), rule="open_application")
    if current is not None and display_status(current) == "certified":
        raise Conflict(_l("The village is already certified."), rule="already_certified")
    if not evaluation["eligible"]:
        raise Conflict(_l("The village does not meet the criteria."), rule="not_eligible",
                       criteria=[c for c in evaluation["criteria"] if not c["passed"]])
    certification = Certification(village_code=evaluation["village_code"], status="submitted",
                                  criteria_version=evaluation["criteria_version"], applied_by=actor,
                                  evaluation={"criteria": evaluation["criteria"], "on": today().isoformat()})
    db.session.add(certification)
    db.session.flush()
    audit.record("certification.apply", "certification", certification.id, certification.village_code,
                 {"criteria_version": certification.criteria_version})
    db.session.commit()
    return certification


def _check_duties(certification: Certification, user) -> None:
    """Separated duties: whoever applied does not decide, and the two decisions are two accounts
    (a reviewer moved from the township to the county does not decide the same application twice)."""
    if certification.applied_by is not None and certification.applied_by == user.username:
        raise Forbidden(_l("You applied for this certification; another reviewer decides."), rule="own_application")
    if queries.has_decided(certification.id, user.username):
        raise Forbidden(_l("You have already decided on this application; another reviewer decides next."),
                        rule="second_reviewer")


def decide(certification_id: int, decision: str, comment: str | None, user) -> Certification:
    """A township reviewer decides first, then a county reviewer; each once."""
    certification = get_certification(certification_id)
    db.session.refresh(certification, with_for_update=True)
    level = level_of_code(user.scope)
    if level not in REVIEW_LEVELS:
        raise Forbidden(_l("Only township and county reviewers decide."))
    if certification.status == "submitted":
        if level != "township":
            raise Conflict(_l("The township reviewer decides first."), rule="township_first")
        _check_duties(certification, user)
        certification.status = "township_approved" if decision == "approve" else "rejected"
    elif certification.status == "township_approved":
        if level != "county":
            raise Conflict(_l("The township has already decided; the county decides next."), rule="already_decided")
        _check_duties(certification, user)
        if decision == "approve":
            certification.status = "certified"
            certification.certified_on = today()
            certification.valid_until = today() + timedelta(days=current_app.config["GRIDS_CERTIFICATION_VALID_DAYS"])
        else:
            certification.status = "rejected"
    else:
        raise Conflict(_l("This application is closed (%(status)s).", status=display_status(certification)),
                       rule="closed")
    db.session.add(CertificationDecision(certification_id=certification.id, level=level, decision=decision,
                                         comment=comment, decided_by=user.username))
    audit.record("certification.decision", "certification", certification.id, certification.village_code,
                 {"level": level, "decision": decision, "status": certification.status}, comment=comment)
    db.session.flush()
    outbox.certification_decided(certification.id, certification.status, level)
    db.session.commit()
    return certification


def reinstate(certification_id: int, comment: str | None, user) -> Certification:
    """The county reviewer lifts a suspension caused only by cases since voided (a "reinstate" decision).

    Every case recorded in the village since it was certified must be voided; the
    certification keeps its validity dates, and the decision joins its history.
    """
    certification = get_certification(certification_id)
    db.session.refresh(certification, with_for_update=True)
    if level_of_code(user.scope) != "county":
        raise Forbidden(_l("Only the county reviewer reinstates a certification."))
    if certification.status != "suspended":
        raise Conflict(_l("Only a suspended certification can be reinstated."), rule="not_suspended")
    since = datetime.combine(certification.certified_on or certification.applied_at.date(), datetime.min.time(),
                             LOCAL)
    standing = case_queries.unvoided_cases_since(certification.village_code, since)
    if standing:
        raise Conflict(_l("Cases recorded in the village since certification still stand (%(n)s).", n=standing),
                       rule="cases_stand")
    # What the suspension was stays in the audit log; the row reads as a valid certification again.
    details = {"status": "certified", "suspended_by_case": certification.suspended_by_case,
               "suspended_at": certification.suspended_at.isoformat() if certification.suspended_at else None}
    certification.status = "certified"
    certification.suspended_at = None
    certification.suspended_by_case = None
    db.session.add(CertificationDecision(certification_id=certification.id, level="county", decision="reinstate",
                                         comment=comment, decided_by=user.username))
    audit.record("certification.reinstate", "certification", certification.id, certification.village_code,
                 details, comment=comment)
    db.session.commit()
    return certification


def suspend_for_case(village_code: str, case_id: int) -> int | None:
    """Suspend the village's valid certification because of a new case (caller commits)."""
    certification = queries.valid_certification_locked(village_code, today())
    if certification is None:
        return None
    certification.status = "suspended"
    certification.suspended_at = func.now()
    certification.suspended_by_case = case_id
    audit.record("certification.suspend", "certification", certification.id, village_code, {"case_id": case_id})
    return certification.id


def certifications_select(prefix: str | None, status: str | None):
    """Certifications by region and status as displayed today, newest first."""
    return queries.certifications_select(prefix, status, today())


def fraud_free_share(region_code: str) -> dict[str, Any]:
    """The share of villages certified (valid, not suspended) per child region, and in all."""
    region = territory.get_region(region_code)
    prefix = code_prefix(region.code)
    level = child_region_level(region.level) or "village"  # a village reports on itself
    length = PREFIX_LENGTH[level]
    rows = queries.fraud_free_rows(prefix, length, level, today())
    children = [{"code": code, "name": name, "villages": int(total), "certified": int(certified),
                 "share": round(certified / total, 4) if total else None} for code, name, total, certified in rows]
    total = sum(c["villages"] for c in children)
    certified = sum(c["certified"] for c in children)
    return {"code": region.code, "villages": total, "certified": certified,
            "share": round(certified / total, 4) if total else None, "children": children}


def import_certified(village_code: str, certified_on: date, actor: str = "seed") -> Certification:
    """Record a certification granted before this system (the seeder's ledger import)."""
    certification = Certification(
        village_code=village_code, status="certified", criteria_version=current_criteria().version,
        evaluation={"imported": True}, applied_by=actor, certified_on=certified_on,
        valid_until=certified_on + timedelta(days=current_app.config["GRIDS_CERTIFICATION_VALID_DAYS"]),
        note="imported from the pre-system ledger")
    db.session.add(certification)
    return certification


def check_criteria_values(data: dict[str, Any]) -> None:
    """Shares must be within 0..1."""
    for name in ("min_coverage", "min_vulnerable_coverage", "min_app_install_rate"):
        if not 0 <= data[name] <= 1:
            raise Invalid(errors={"json": {name: ["Must be between 0 and 1."]}})
