"""Visit sync from phones: validation, idempotency, flags and storage, in a fixed number of statements.

Each visit of a batch ends as ``created``, ``duplicate`` (same id, same content:
a retry), ``conflict`` (same id, other content: nothing changes) or ``rejected``
(field errors; the others go on).  Flags never drop a visit.
"""
from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from sqlalchemy import func

from core.clock import LOCAL
from core.coords import to_wgs84_mixed
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.extensions import db
from core.messages import translate_errors
from core.scope import scope_prefix
from grids.accounts import audit
from grids.hierarchy import code_prefix
from grids.households import queries as households
from grids.members.models import Member
from outreach.coverage import rollups
from outreach.visits import queries
from outreach.visits.models import Visit, VisitReview
from outreach.visits.schemas import MAX_BATCH
from outreach.visits.validation import field_errors, parse_visit

EARTH_RADIUS_M = 6_371_008.8


class BatchTooLarge(DomainError):
    """More visits in one request than allowed."""

    status = 413


def _settings() -> dict[str, Any]:
    config = current_app.config
    return {
        "window": timedelta(days=config["GRIDS_VISIT_WINDOW_DAYS"]),
        "future_rejected": timedelta(hours=config["GRIDS_VISIT_MAX_FUTURE_HOURS"]),
        "skew": timedelta(minutes=config["GRIDS_CLOCK_SKEW_MINUTES"]),
        "tolerance_m": config["GRIDS_OUTSIDE_GRID_TOLERANCE_M"],
        "speed_kmh": config["GRIDS_MAX_TRAVEL_KMH"],
        "min_jump_m": config["GRIDS_TRAVEL_MIN_DISTANCE_M"],
        "accuracy_m": config["GRIDS_LOW_ACCURACY_M"],
        "night": config["GRIDS_PACE_NIGHT_HOURS"],
        "max_per_day": config["GRIDS_PACE_MAX_VISITS_PER_DAY"],
    }


def content_hash(item: dict[str, Any]) -> str:
    """A digest of a visit as sent (key order does not matter)."""
    return hashlib.md5(json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  default=str).encode()).hexdigest()


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _result(visit_id, status, flags=None, errors=None, household_id=None) -> dict[str, Any]:
    return {"id": str(visit_id) if visit_id is not None else None, "status": status, "flags": flags or [],
            "errors": errors or {}, "household_id": household_id}


def _travel_flags(batch: list[dict], stored: list[tuple], speed_kmh: float, min_jump_m: float) -> set[int]:
    """Positions of batch visits reached faster than plausible from the member's visit before or after."""
    events: dict[int, list[tuple]] = {}
    for member, at, lon, lat, *_ in stored:
        if lon is not None:
            events.setdefault(member, []).append((at, lon, lat, None))
    for position, visit in enumerate(batch):
        events.setdefault(visit["member_id"], []).append((visit["visited_at"], visit["lon"], visit["lat"], position))
    flagged: set[int] = set()
    for timeline in events.values():
        timeline.sort(key=lambda e: (e[0], -1 if e[3] is None else e[3]))
        for before, after in zip(timeline, timeline[1:], strict=False):
            distance = haversine_m(before[1], before[2], after[1], after[2])
            if distance < min_jump_m:
                continue
            hours = (after[0] - before[0]).total_seconds() / 3600
            if hours <= 0 or distance / 1000 / hours > speed_kmh:
                # Blame the newcomer: the later visit if it is in the batch, else the earlier one.
                if after[3] is not None:
                    flagged.add(after[3])
                elif before[3] is not None:
                    flagged.add(before[3])
    return flagged


class CellAccess:
    """Where a batch's households may be: the account's scope, and the cells each visit's member is
    assigned to now or was assigned to at the visit's time (whatever village or township they lie in)."""

    def __init__(self, prefix: str | None, outside: list[dict[str, Any]]):
        """``outside``: the visits whose household lies outside ``prefix`` (their members' assignments are
        looked up once, only when there are any)."""
        self.prefix = prefix
        self.cells: dict[int, list[tuple[str, datetime, datetime | None]]] = {}
        if prefix and outside:
            earliest = min(d["visited_at"] for d in outside)
            for member, cell, start, end in queries.assignments_since(sorted({d["member_id"] for d in outside}),
                                                                      earliest):
                self.cells.setdefault(member, []).append((cell, start, end))

    def allows(self, visit: dict[str, Any], grid_code: str, village_code: str) -> bool:
        """Whether the visit's member may record a visit to a household of this tier-3 cell."""
        if not self.prefix or village_code.startswith(self.prefix):
            return True
        holding = (grid_code, grid_code[:15] + "-00", grid_code[:12] + "-00-00")  # the cell and the cells above
        at = visit["visited_at"]
        return any(cell in holding and (end is None or start <= at < end)
                   for cell, start, end in self.cells.get(visit["member_id"], ()))


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
    limits households to a scope (None: anywhere).  Commits.
    """
    settings = _settings()
    now = now or datetime.now(UTC)
    results: list[dict[str, Any] | None] = [None] * len(items)

    # 1. Validate each item on its own.
    parsed: dict[int, dict[str, Any]] = {}
    first_of_id: dict[str, int] = {}
    canonical: dict[int, str] = {}
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            results[index] = _result(None, "rejected", errors={"_schema": ["A visit must be an object."]})
            continue
        try:
            data = parse_visit(raw)
        except ValidationError as error:
            visit_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            results[index] = _result(visit_id, "rejected", errors=field_errors(error))
            continue
        visit_id = str(data["id"])  # canonical text, whatever spelling the phone used
        canonical[index] = visit_id
        data["hash"] = content_hash(raw)
        data["member_id"], data["county"], data["username"] = workers[index]
        if visit_id in first_of_id:  # the same id twice in one batch: settled after the first
            continue
        first_of_id[visit_id] = index
        parsed[index] = data

    # 2. Retries of stored visits (a retry stays a duplicate however old it has become).
    if parsed:
        stored_keys = queries.existing_keys([d["county"] for d in parsed.values()],
                                            [str(d["id"]) for d in parsed.values()])
        for index in list(parsed):
            data = parsed[index]
            key = stored_keys.get(str(data["id"]))
            if key is not None:
                results[index] = _retry_result(data, key)
                del parsed[index]
    for index in list(parsed):
        data = parsed[index]
        if data["visited_at"] < now - settings["window"]:
            results[index] = _result(data["id"], "rejected", errors={"visited_at": [
                f"Older than {settings['window'].days} days."]})
            del parsed[index]
        elif data["visited_at"] > now + settings["future_rejected"]:
            results[index] = _result(data["id"], "rejected", errors={"visited_at": ["Too far in the future."]})
            del parsed[index]

    # 3. Households: known ones, or found in the field (placed in one spatial join); each must be in
    # the account's scope or in a cell its member is assigned to, now or at the visit's time.
    known = queries.households_for_visits(
        sorted({d["household_id"] for d in parsed.values() if d["household_id"] is not None}))
    new_items = [i for i, d in parsed.items() if d["new_household"] is not None]
    placements = households.place_points([parsed[i]["new_household"]["location"].x for i in new_items],
                                      [parsed[i]["new_household"]["location"].y for i in new_items]) \
        if new_items else []
    placed = dict(zip(new_items, placements, strict=True))
    where = {i: known.get(d["household_id"]) if d["household_id"] is not None else placed.get(i)
             for i, d in parsed.items()}
    access = CellAccess(prefix, [parsed[i] for i, cell in where.items()
                                 if cell is not None and not cell[1].startswith(prefix or "")])
    for index in list(parsed):
        data = parsed[index]
        problem = None
        if data["household_id"] is not None:
            household = known.get(data["household_id"])
            if household is None or not access.allows(data, household[0], household[1]):
                problem = {"household_id": ["Unknown household, or outside your scope."]}
            elif household[0] != data["grid_code"]:
                problem = {"grid_code": [f"The household is in cell {household[0]}."]}
            else:
                data["grid_code"], data["village_code"], data["vulnerable"] = household
        else:
            placement = placed.get(index)
            if placement is None:
                problem = {"new_household": {"location": ["The point is outside every grid cell."]}}
            elif not access.allows(data, placement[0], placement[1]):
                problem = {"new_household": {"location": ["The point is outside your scope."]}}
            else:
                data["grid_code"], data["village_code"] = placement
                data["vulnerable"] = bool(data["new_household"]["tags"])
        if problem:
            results[index] = _result(data["id"], "rejected", errors=problem)
            del parsed[index]

    order = sorted(parsed)
    batch = [parsed[i] for i in order]
    if batch:
        _locate_and_flag(batch, settings, now, sent_at)
        _create_found_households(batch)
        queries.stage_batch([_row(d) for d in batch])
        queries.flag_staged(settings["tolerance_m"])
        claimed = queries.claim_staged()
        queries.store_staged()
        rollups.add_staged_visits()
        late = [d for d in batch if str(d["id"]) not in claimed]  # a concurrent retry stored them first
        late_keys = queries.existing_keys([d["county"] for d in late], [str(d["id"]) for d in late]) \
            if late else {}
        for index, data in zip(order, batch, strict=True):
            visit_id = str(data["id"])
            if visit_id in claimed:
                results[index] = _result(data["id"], "created", claimed[visit_id], household_id=data["household_id"])
            else:
                results[index] = _retry_result(data, late_keys[visit_id])
    db.session.commit()

    # An id repeated within the batch: the first occurrence decided; the others compare with it.
    for index, raw in enumerate(items):
        if results[index] is None:
            first = first_of_id[canonical[index]]
            decided = results[first]
            same = content_hash(raw) == content_hash(items[first])
            if same and decided["status"] == "rejected":
                results[index] = dict(decided)  # the same bad visit again: the same answer
                continue
            same = same and decided["status"] in ("created", "duplicate")
            results[index] = _result(raw.get("id"), "duplicate" if same else "conflict",
                                     decided["flags"] if same else [], household_id=decided["household_id"])
    return results


def _retry_result(data: dict[str, Any], key: tuple[str, int, list[str], int | None]) -> dict[str, Any]:
    if key[3] != data["member_id"]:
        # Another member's visit id (copied, or a colliding phone): nothing of that visit is told,
        # neither its household nor its flags, wherever it is.
        return _result(data["id"], "conflict")
    if key[0] == data["hash"]:
        return _result(data["id"], "duplicate", key[2], household_id=key[1])
    return _result(data["id"], "conflict", household_id=key[1])


def _locate_and_flag(batch: list[dict[str, Any]], settings: dict[str, Any], now: datetime,
                     sent_at: datetime | None) -> None:
    """Convert the locations to WGS84 (keeping the raw ones) and compute the flags that need no
    database lookup of cells or assignments (those follow in SQL on the staged batch)."""
    lons, lats = to_wgs84_mixed([d["location"]["lon"] for d in batch], [d["location"]["lat"] for d in batch],
                                [d["location"]["crs"] for d in batch])
    for data, lon, lat in zip(batch, lons.tolist(), lats.tolist(), strict=True):
        data["lon"], data["lat"] = lon, lat
        data["flags"] = []
        data["local_day"] = data["visited_at"].astimezone(LOCAL).date()
    skewed = sent_at is not None and abs(sent_at - now) > settings["skew"]
    earliest = min(d["visited_at"] for d in batch)
    latest = max(d["visited_at"] for d in batch)
    stored = queries.members_visits_between(sorted({d["member_id"] for d in batch}),
                                            earliest - timedelta(days=1), latest + timedelta(days=1))
    travel = _travel_flags(batch, stored, settings["speed_kmh"], settings["min_jump_m"])
    for position, data in enumerate(batch):
        flags = data["flags"]
        if position in travel:
            flags.append("impossible_travel")
        if data["visited_at"] > now + settings["skew"]:
            flags.append("future_time")
        if skewed:
            flags.append("clock_skew")
        if data["location"]["mocked"]:
            flags.append("mocked_location")
        accuracy = data["location"]["accuracy_m"]
        if accuracy is not None and accuracy > settings["accuracy_m"]:
            flags.append("low_accuracy")
    _pace_flags(batch, stored, settings)
    seen_days = {(row[0], row[4], row[5]) for row in stored}
    for data in sorted(batch, key=lambda d: (d["visited_at"], str(d["id"]))):
        if data["household_id"] is None:
            continue
        key = (data["member_id"], data["household_id"], data["local_day"])
        if key in seen_days:
            data["flags"].append("repeat_visit")
        seen_days.add(key)


def _at_night(hour: int, night: tuple[int, int] | None) -> bool:
    """Whether a local hour falls in the night window [start, end) (which may wrap past midnight)."""
    if not night:
        return False
    start, end = night
    return start <= hour < end if start < end else hour >= start or hour < end


def _pace_flags(batch: list[dict[str, Any]], stored: list[tuple], settings: dict[str, Any]) -> None:
    """``implausible_pace``: a member's visit in the night window, or past the day's plausible number.

    The day's count includes the member's visits already stored that local day; the
    newcomers past the limit are the ones flagged (like impossible travel).
    """
    per_day: dict[tuple[int, Any], int] = {}
    for member, *_, day in stored:
        per_day[(member, day)] = per_day.get((member, day), 0) + 1
    for data in sorted(batch, key=lambda d: (d["visited_at"], str(d["id"]))):
        local = data["visited_at"].astimezone(LOCAL)
        key = (data["member_id"], local.date())
        per_day[key] = per_day.get(key, 0) + 1
        if _at_night(local.hour, settings["night"]) or per_day[key] > settings["max_per_day"]:
            data["flags"].append("implausible_pace")


def _create_found_households(batch: list[dict[str, Any]]) -> None:
    """Partitions for the batch's months, and the households found in the field (idempotently)."""
    queries.ensure_partitions([d["visited_at"].astimezone(UTC).date().replace(day=1) for d in batch])
    created, new_rows = queries.insert_new_households([{
        "visit_id": str(d["id"]), "county": d["village_code"][:6], "grid": d["grid_code"],
        "village": d["village_code"], "lon": d["new_household"]["location"].x,
        "lat": d["new_household"]["location"].y, "address": d["new_household"]["address"],
        "residents": d["new_household"]["residents"], "tags": sorted(set(d["new_household"]["tags"])),
    } for d in batch if d["new_household"] is not None])
    for data in batch:
        if data["new_household"] is not None:
            data["household_id"] = created[str(data["id"])]
    if new_rows:
        per_cell: dict[str, list[int]] = {}
        for grid_code, vulnerable in new_rows:
            counts = per_cell.setdefault(grid_code, [0, 0])
            counts[0] += 1
            counts[1] += int(vulnerable)
        codes = sorted(per_cell)
        households.increment_household_rollups(codes, [per_cell[c][0] for c in codes], [per_cell[c][1] for c in codes])


def _row(data: dict[str, Any]) -> dict[str, Any]:
    """A visit as a row of the sync batch table."""
    location = data["location"]
    return {
        "id": str(data["id"]), "county_code": data["village_code"][:6], "visited_at": data["visited_at"],
        "household_id": data["household_id"], "grid_code": data["grid_code"], "village_code": data["village_code"],
        "member_id": data["member_id"], "username": data["username"], "outcome": data["outcome"],
        "lon": data["lon"], "lat": data["lat"], "raw_lon": location["lon"], "raw_lat": location["lat"],
        "crs": location["crs"], "accuracy_m": location["accuracy_m"], "mocked": location["mocked"],
        "topics": sorted(set(data["topics"])), "app_installed": data["app_installed"],
        "residents_reached": data["residents_reached"], "vulnerable_reached": data["vulnerable_reached"],
        "notes": data["notes"], "flags": data["flags"], "new_household": data["new_household"] is not None,
        "vulnerable": data["vulnerable"], "key_county": data["county"], "hash": data["hash"],
    }


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
