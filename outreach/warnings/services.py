"""Fund-warning rules: routing, deadlines, escalation, the member's events and the figures."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from core.clock import LOCAL, today
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.personal_data import decrypt_phone, encrypt_phone, mask_phone, normalise_phone
from core.scope import scope_prefix
from grids import services as territory
from grids.accounts import audit
from grids.hierarchy import PREFIX_LENGTH, child_region_level, code_prefix
from grids.households import queries as household_queries
from grids.members.models import Member
from outreach.notifications import outbox
from outreach.visits.services import store_visits
from outreach.warnings import queries
from outreach.warnings.models import OUTCOMES_WITHOUT_MEETING, FundWarning, WarningEvent

ALLOWED_FROM = {
    "acknowledged": ("open",),
    "called": ("open", "acknowledged", "revisit"),
    "met": ("open", "acknowledged", "revisit"),
    # Only a meeting allows every outcome; after an acknowledgement or a call (and no meeting) the member
    # records refused, not_found or false_alarm (OUTCOMES_WITHOUT_MEETING).
    "outcome": ("met", "acknowledged", "revisit"),
}


def _windows() -> dict[str, dict[str, int]]:
    return current_app.config["GRIDS_WARNING_DEADLINES"]


def _escalation_windows() -> dict[str, int]:
    return {level: minutes["meet"] for level, minutes in _windows().items()}


def create_warnings(items: list[dict[str, Any]], actor: str | None,
                    now: datetime | None = None) -> list[tuple[FundWarning, bool]]:
    """Create warnings (idempotent on external_ref), routed set-wise; (warning, created) per item."""
    now = now or datetime.now(UTC)
    existing = queries.existing_by_refs([item["external_ref"] for item in items])
    prefix = scope_prefix(db.session)
    known_before = set(existing)
    households = queries.households_for_warnings(
        [item["household_id"] for item in items if item.get("household_id")])
    fresh = [item for item in items if item["external_ref"] not in existing]
    points = [item for item in fresh if not item.get("household_id")]
    placed = dict(zip((id(p) for p in points), household_queries.place_points(
        [p["location"].x for p in points], [p["location"].y for p in points]), strict=True)) if points else {}
    rows, seen = [], set()
    for item in fresh:
        if item["external_ref"] in seen:
            continue
        seen.add(item["external_ref"])
        if item.get("household_id"):
            household = households.get(item["household_id"])
            if household is None or (prefix and not household[1].startswith(prefix)):
                raise Invalid(errors={"json": {"household_id": ["Unknown household, or outside your scope."]}})
            grid_code, village_code, lon, lat = household
        else:
            placement = placed.get(id(item))
            if placement is None:
                raise Invalid(errors={"json": {"location": ["The point is outside every grid cell."]}})
            if prefix and not placement[1].startswith(prefix):
                raise Invalid(errors={"json": {"location": ["The point is outside your scope."]}})
            grid_code, village_code = placement
            lon, lat = item["location"].x, item["location"].y
        window = _windows()[item["level"]]
        meet_deadline = now + timedelta(minutes=window["meet"])
        ack_deadline = now + timedelta(minutes=window["ack"]) if "ack" in window else None
        phone = normalise_phone(item["phone"]) if item.get("phone") else None
        rows.append({
            "county_code": village_code[:6], "external_ref": item["external_ref"], "level": item["level"],
            "reason": item["reason"], "household_id": item.get("household_id"), "lon": lon, "lat": lat,
            "grid_code": grid_code, "village_code": village_code,
            "phone_encrypted": encrypt_phone(phone) if phone else None,
            "phone_masked": mask_phone(phone) if phone else None, "assigned_member_id": None,
            "escalation_level": 0, "deadline": ack_deadline or meet_deadline, "ack_deadline": ack_deadline,
            "meet_deadline": meet_deadline, "created_by": actor, "created_at": now,
        })
    if rows:
        for row, member in zip(rows, queries.route([r["grid_code"] for r in rows]), strict=True):
            row["assigned_member_id"] = member
            if member is None:  # nobody embedded there: the township task force takes it at once
                row["escalation_level"] = 1
        ids = queries.insert_warnings(rows)
        # The outbox, in this transaction: the member (or the township task force) is told.
        outbox.warnings_assigned(ids)
        outbox.warnings_escalated(ids)
        db.session.commit()
        existing.update(queries.existing_by_refs([row["external_ref"] for row in rows]))
    return [(existing[item["external_ref"]], item["external_ref"] not in known_before) for item in items]


def escalate(now: datetime | None = None) -> int:
    """Escalate every warning past its deadline; returns how many moved up."""
    moved = queries.escalate(now or datetime.now(UTC), _escalation_windows())
    outbox.warnings_escalated(moved)
    db.session.commit()
    return len(moved)


def get_warning(warning_id: int, user, lock: bool = False) -> FundWarning:
    """A warning in scope; a grid worker sees exactly the ones routed to them (wherever the cell is)."""
    worker = user.role == "grid_worker"
    warning = queries.warning_by_id(warning_id, lock=lock, unscoped=worker)
    if warning is None or (worker and warning.assigned_member_id != user.member_id):
        raise NotFound(_l("FundWarning %(id)s was not found.", id=warning_id))
    return warning


def _event_hash(data: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def record_event(warning_id: int, data: dict[str, Any], user) -> tuple[WarningEvent, bool]:
    """Apply a phone's event (idempotent on its client id); (event, created)."""
    warning = get_warning(warning_id, user, lock=True)
    digest = _event_hash({k: v for k, v in data.items() if k != "id"} | {"warning": warning_id})
    stored = queries.event_by_id(warning.county_code, warning.id, data["id"])
    if stored is not None:
        if stored.content_hash != digest:
            raise Conflict(_l("An event with this id but other content was recorded."), rule="event_conflict")
        return stored, False
    kind = data["type"]
    if warning.status not in ALLOWED_FROM[kind]:
        raise Conflict(_l("A %(event)s event is not possible while the warning is %(status)s.", event=kind,
                          status=warning.status), rule="illegal_transition")
    at = data["at"]
    if kind in ("acknowledged", "called") and warning.status == "open":
        warning.status = "acknowledged"
        warning.acknowledged_at = at
        if warning.escalation_level == 0:
            warning.ack_deadline = None
            warning.deadline = warning.meet_deadline
    elif kind == "met":
        warning.status = "met"
        warning.met_at = at
        _count_as_visit(warning, at, user, data["id"])
    elif kind == "outcome":
        outcome = data.get("outcome")
        if outcome is None:
            raise Invalid(errors={"json": {"outcome": ["Required with an outcome event."]}})
        if warning.status != "met":
            # Without a meeting: only what a call (or a door nobody opens) can settle, and after a
            # refusal only once the member has tried again.
            if outcome not in OUTCOMES_WITHOUT_MEETING or (
                    warning.status == "revisit" and queries.last_member_event(warning.id) != "called"):
                raise Conflict(_l("Without a meeting since, the outcome can only be refused, not_found or "
                                  "false_alarm, after an acknowledgement or a call."), rule="illegal_transition")
        if outcome == "transferred" and data.get("amount_yuan") is None:
            raise Invalid(errors={"json": {"amount_yuan": ["Required when money was transferred."]}})
        warning.outcome = outcome
        warning.amount_yuan = Decimal(str(data["amount_yuan"])) if data.get("amount_yuan") is not None else None
        warning.stop_payment_requested = data.get("stop_payment_requested")
        warning.checklist = data.get("checklist")
        if outcome == "refused":
            warning.status = "revisit"  # the resident needs another visit
        else:
            warning.status = "closed"
            warning.closed_at = at
    event = WarningEvent(county_code=warning.county_code, id=data["id"], warning_id=warning.id, type=kind, at=at,
                         outcome=data.get("outcome"),
                         amount_yuan=Decimal(str(data["amount_yuan"])) if data.get("amount_yuan") is not None
                         else None,
                         stop_payment_requested=data.get("stop_payment_requested"), checklist=data.get("checklist"),
                         by=user.username, content_hash=digest)
    db.session.add(event)
    db.session.commit()
    return event, True


def read_phone(warning_id: int, user) -> dict[str, Any]:
    """The resident's full phone number, for the member the warning is assigned to only; every reading
    is audited.  Nobody else reads it (supervisors and the police see the masked number)."""
    warning = get_warning(warning_id, user)
    if user.member_id is None or warning.assigned_member_id != user.member_id:
        raise Forbidden(_l("Only the member the warning is assigned to reads the full number."))
    if warning.status == "closed":
        raise Conflict(_l("The warning is closed."), rule="closed")
    phone = decrypt_phone(bytes(warning.phone_encrypted)) if warning.phone_encrypted is not None else None
    if phone is not None:
        audit.record("warning.phone_read", "warning", warning.id, warning.village_code,
                     {"member_id": user.member_id})
        db.session.commit()
    return {"id": warning.id, "phone": phone}


def reassign(warning_id: int, data: dict[str, Any], user, now: datetime | None = None) -> FundWarning:
    """Hand a warning to another member (the assigned one is away), recorded among its events.

    The member must be active and in the supervisor's scope; the warning keeps its deadlines and
    escalation.  Handing it to the member who has it already changes nothing.
    """
    warning = get_warning(warning_id, user, lock=True)
    if warning.status == "closed":
        raise Conflict(_l("The warning is closed."), rule="closed")
    member = db.session.get(Member, data["member_id"])  # scoped: outside the scope is unknown
    if member is None:
        raise Invalid(errors={"json": {"member_id": ["Unknown member, or outside your scope."]}})
    if not member.active:
        raise Conflict(_l("The member is inactive."), rule="member_inactive")
    if member.id == warning.assigned_member_id:
        return warning
    previous = warning.assigned_member_id
    warning.assigned_member_id = member.id
    db.session.add(WarningEvent(county_code=warning.county_code, id=uuid.uuid4(), warning_id=warning.id,
                                type="reassigned", at=now or datetime.now(UTC), member_id=member.id,
                                by=user.username, note=data.get("reason")))
    audit.record("warning.reassign", "warning", warning.id, warning.village_code,
                 {"from_member_id": previous, "member_id": member.id})
    db.session.flush()
    outbox.warnings_assigned([warning.id], kind="warning_reassigned")  # the new member is told (outbox)
    db.session.commit()
    return warning


def _count_as_visit(warning: FundWarning, at: datetime, user, event_id: uuid.UUID) -> None:
    """A meeting at the door is a completed visit of the household (through the visit service)."""
    if warning.household_id is None or user.member_id is None:
        return
    member = queries.member_county(user.member_id)
    point = queries.household_point(warning.household_id)
    topic = warning.reason if warning.reason in ("investment", "order_brushing", "loan", "gaming", "romance") \
        else "other"
    # One visit per meeting (a revisit meets again), stable for retries of the same event.
    item = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"warning:{warning.id}:met:{event_id}")),
            "household_id": warning.household_id, "grid_code": warning.grid_code, "visited_at": at.isoformat(),
            "outcome": "completed", "location": {"lon": point[0], "lat": point[1], "crs": "wgs84"},
            "topics": [topic], "notes": "fund warning"}
    store_visits([item], [(user.member_id, member, user.username)], None)


def summary(region_code: str, start_day, end_day) -> dict[str, Any]:
    """The anchors' measures per child region: met, met on time, dissuaded, transferred, amounts, median."""
    region = territory.get_region(region_code)
    end_day = end_day or today()
    start_day = start_day or end_day - timedelta(days=29)
    if start_day > end_day:
        raise Invalid(errors={"query": {"from": ["Must not be after 'to'."]}})
    child = child_region_level(region.level) or "village"  # a village reports on itself
    length = PREFIX_LENGTH[child]
    start = datetime.combine(start_day, datetime.min.time(), LOCAL)
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), LOCAL)
    rows = queries.summary(code_prefix(region.code), length, child, start, end)
    children = [{"code": r[0], "name": r[1], "warnings": r[2], "met": r[3], "met_on_time": r[4], "dissuaded": r[5],
                 "transferred": r[6], "amount_transferred_yuan": float(r[7]),
                 "median_minutes_to_meet": round(float(r[8]), 1) if r[8] is not None else None} for r in rows]
    return {"code": region.code, "from": start_day, "to": end_day, "children": children}

