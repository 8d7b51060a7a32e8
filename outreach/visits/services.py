"""Visit sync from phones: validation, idempotency, flags and storage, in a fixed number of statements.

Each visit of a batch ends as ``created``, ``duplicate`` (same id, same content:
a retry), ``conflict`` (same id, other content: nothing changes) or ``rejected``
(field errors; the others go on).  Flags never drop a visit.  The rules are the
phases of :mod:`outreach.visits.sync` (no database); :func:`store_visits` feeds
them what the database answers and stores what they accept.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from core.clock import LOCAL
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.extensions import db
from core.messages import translate_errors
from core.scope import scope_prefix
from grids.accounts import audit
from grids.hierarchy import code_prefix
from grids.households import queries as households
from grids.members.models import Member
from outreach.coverage import rollups
from outreach.visits import queries, sync
from outreach.visits.models import Visit, VisitReview
from outreach.visits.schemas import MAX_BATCH
from outreach.visits.sync import IncomingVisit, Placement, SyncSettings


class BatchTooLarge(DomainError):
    """More visits in one request than allowed."""

    status = 413


def sync_visits(user, items: list[Any], sent_at: datetime | None = None) -> list[dict[str, Any]]:
    """Validate, flag and store a phone's batch of visits; one result per item, in order."""
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(_l("At most %(n)s visits per request.", n=MAX_BATCH))
    if user.member_id is None:
        raise Forbidden(_l("Only a member's account can sync visits."))
    member = db.session.get(Member, user.member_id)
    if member is None:
        raise NotFound(_l("Member %(id)s was not found.", id=user.member_id))
    prefix = scope_prefix(db.session) or code_prefix(user.scope)
    workers = [(member.id, member.county_code, user.username)] * len(items)
    results = store_visits(items, workers, prefix, sent_at=sent_at)
    for result in results:  # in the phone's language (Accept-Language)
        if result["errors"]:
            result["errors"] = translate_errors(result["errors"])
    return results


def store_visits(items: list[Any], workers: list[tuple[int, str, str]], prefix: str | None,
                 sent_at: datetime | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """The sync itself, for items each with its worker (member id, county, username).

    A fixed number of statements whatever the number of items.  ``now`` is the
    server clock (a parameter so the history seeder can replay the past); ``prefix``
    limits households to a scope (None: anywhere) beside the cells each member is
    assigned to.  The rules are the phases of :mod:`outreach.visits.sync`; this feeds
    them what the database answers and stores what they accept.  Commits.
    """
    settings = SyncSettings.from_config(current_app.config)
    now = now or datetime.now(UTC)
    batch = sync.read_items(items, workers)
    if batch.pending:
        waiting = batch.accepted()
        sync.settle_retries(batch, queries.existing_keys([v.worker.county_code for v in waiting],
                                                         [v.id for v in waiting]))
    sync.reject_out_of_window(batch, now, settings)
    _place(batch, prefix)
    accepted = batch.accepted()
    if accepted:
        sync.locate(accepted)
        stored = queries.members_visits_between(
            sorted({v.worker.member_id for v in accepted}),
            min(v.item.visited_at for v in accepted) - timedelta(days=1),
            max(v.item.visited_at for v in accepted) + timedelta(days=1))
        sync.flag(accepted, stored, settings, now, sent_at)
        _store(accepted, settings)
        claimed = queries.claim_staged()
        queries.store_staged()
        rollups.add_staged_visits()
        late = [v for v in accepted if v.id not in claimed]  # a concurrent retry stored them first
        late_keys = queries.existing_keys([v.worker.county_code for v in late], [v.id for v in late]) \
            if late else {}
        sync.settle_stored(batch, accepted, claimed, late_keys)
    db.session.commit()
    return sync.answer_repeats(batch)


def _place(batch: sync.SyncBatch, prefix: str | None) -> None:
    """Households: known ones, or found in the field (placed in one spatial join); each in the account's
    scope or in a cell its member is assigned to, now or at the visit's time (read only when needed)."""
    known = queries.households_for_visits(
        sorted({v.household_id for v in batch.accepted() if v.household_id is not None}))
    found = sync.found_in_field(batch)
    points = households.place_points([v.item.new_household.location.x for v in found],
                                     [v.item.new_household.location.y for v in found]) if found else []
    placements = {v.position: Placement(*p) if p else None for v, p in zip(found, points, strict=True)}
    outside = sync.outside_scope(batch, known, placements, prefix)
    held = queries.assignments_since(sorted({v.worker.member_id for v in outside}),
                                     min(v.item.visited_at for v in outside)) if outside else []
    sync.place(batch, known, placements, sync.CellAccess(prefix, held))


def _store(visits: list[IncomingVisit], settings: SyncSettings) -> None:
    """Partitions for the batch's months, the households found in the field (idempotently, with their cells'
    counts), then the batch staged and flagged where the database is needed (outside_grid, not_assigned)."""
    queries.ensure_partitions([v.item.visited_at.astimezone(UTC).date().replace(day=1) for v in visits])
    found = [v for v in visits if v.item.new_household is not None]
    created, new_rows = queries.insert_new_households([v.new_household_row() for v in found])
    for visit in found:
        visit.household_id = created[visit.id]
    if new_rows:
        per_cell: dict[str, list[int]] = {}
        for grid_code, vulnerable in new_rows:
            counts = per_cell.setdefault(grid_code, [0, 0])
            counts[0] += 1
            counts[1] += int(vulnerable)
        codes = sorted(per_cell)
        households.increment_household_rollups(codes, [per_cell[c][0] for c in codes], [per_cell[c][1] for c in codes])
    queries.stage_batch([v.staged_row() for v in visits])
    queries.flag_staged(settings.tolerance_m)


def get_visit(visit_id, user) -> Any:
    """A visit in scope, or 404; a grid worker sees exactly their own, wherever they are."""
    worker = user.role == "grid_worker"
    visit = queries.visit_by_id(visit_id, member_id=(user.member_id or -1) if worker else None)
    if visit is None:
        raise NotFound(_l("Visit %(id)s was not found.", id=visit_id))
    return visit


def local_period(start_day, end_day) -> tuple[datetime | None, datetime | None]:
    """Local (Asia/Shanghai) inclusive dates as a half-open UTC interval."""
    start = datetime.combine(start_day, datetime.min.time(), LOCAL) if start_day else None
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), LOCAL) if end_day else None
    return start, end


def review_visit(visit_id, decision: str, reason: str, user) -> Visit:
    """A supervisor confirms or voids a visit in scope; a voided one leaves coverage in this transaction.

    Confirmed may later be voided (new evidence); a voided visit stays voided.  Every
    decision is kept (``visit_reviews``) and audited; the visit itself is never deleted.
    """
    visit = queries.visit_for_update(visit_id)
    if visit is None:
        raise NotFound(_l("Visit %(id)s was not found.", id=visit_id))
    if visit.review == "voided":
        raise Conflict(_l("The visit is already voided."), rule="already_voided")
    if visit.review == decision:
        raise Conflict(_l("The visit is already confirmed."), rule="already_confirmed")
    visit.review, visit.reviewed_by, visit.reviewed_at = decision, user.username, func.now()
    db.session.add(VisitReview(county_code=visit.county_code, visit_id=visit.id, visited_at=visit.visited_at,
                               village_code=visit.village_code, decision=decision, reason=reason,
                               reviewed_by=user.username))
    db.session.flush()
    if decision == "voided":
        rollups.remove_visit(visit.county_code, str(visit.id), visit.visited_at, visit.household_id, visit.grid_code)
    audit.record("visit.review", "visit", visit.id, visit.village_code,
                 {"decision": decision, "flags": list(visit.flags or [])}, comment=reason)
    db.session.commit()
    db.session.refresh(visit)
    return visit


def reviews_of(visit: Visit) -> list[VisitReview]:
    """The review decisions on a visit, oldest first."""
    return queries.reviews_of(visit.county_code, visit.id)
