"""The phases of a visit sync, over a typed record and without the database.

:func:`outreach.visits.services.store_visits` runs them in this order around its
fixed set of statements (each phase takes what the database answered as plain
values, so each can be tested on its own):

1. :func:`read_items` — each item validated on its own into an :class:`IncomingVisit`,
   or rejected with field errors; a repeated id is settled after its first occurrence;
2. :func:`settle_retries` — visits whose key is stored already answer duplicate or conflict;
3. :func:`reject_out_of_window` — too old, or too far in the future;
4. :func:`place` — the household: a known one in scope, or one found in the field and
   placed in the tier-3 cell covering it;
5. :func:`locate` and :func:`flag` — WGS84 coordinates and the flags that need no cell or
   assignment lookup (those follow in SQL on the staged batch);
6. :func:`settle_stored` and :func:`answer_repeats` — the answers, in the order sent.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError

from core.clock import LOCAL
from core.coords import to_wgs84_mixed
from outreach.visits.validation import VisitIn, field_errors, parse_visit

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """The configured limits of a sync (``GRIDS_VISIT_*``, ``GRIDS_*`` flag thresholds)."""

    window: timedelta  # older visits are rejected
    future_rejected: timedelta  # visits further ahead are rejected
    skew: timedelta  # the phone's clock this far off: clock_skew; a visit this far ahead: future_time
    tolerance_m: float  # outside_grid beyond this distance from the cell
    speed_kmh: float  # impossible_travel above this speed ...
    min_jump_m: float  # ... between points at least this far apart
    accuracy_m: float  # low_accuracy above this reported accuracy
    night: tuple[int, int] | None  # implausible_pace: local hours [start, end) of the night window ...
    max_per_day: int  # ... or more of a member's visits in one local day

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SyncSettings:
        """The settings of an app's configuration."""
        return cls(window=timedelta(days=config["GRIDS_VISIT_WINDOW_DAYS"]),
                   future_rejected=timedelta(hours=config["GRIDS_VISIT_MAX_FUTURE_HOURS"]),
                   skew=timedelta(minutes=config["GRIDS_CLOCK_SKEW_MINUTES"]),
                   tolerance_m=config["GRIDS_OUTSIDE_GRID_TOLERANCE_M"], speed_kmh=config["GRIDS_MAX_TRAVEL_KMH"],
                   min_jump_m=config["GRIDS_TRAVEL_MIN_DISTANCE_M"], accuracy_m=config["GRIDS_LOW_ACCURACY_M"],
                   night=config["GRIDS_PACE_NIGHT_HOURS"], max_per_day=config["GRIDS_PACE_MAX_VISITS_PER_DAY"])


class Worker(NamedTuple):
    """Who stores a visit: the member, their county (the key's county) and the account."""

    member_id: int
    county_code: str
    username: str


class StoredKey(NamedTuple):
    """A visit key already stored: what a retry is compared with."""

    content_hash: str
    household_id: int
    flags: list[str]
    member_id: int | None  # the member who stored it


class KnownHousehold(NamedTuple):
    """A stored household a visit names."""

    grid_code: str
    village_code: str
    vulnerable: bool


class Placement(NamedTuple):
    """The tier-3 cell covering a point, and its village."""

    grid_code: str
    village_code: str


class StoredVisit(NamedTuple):
    """A stored visit of a member near the batch in time (for travel and repeat flags)."""

    member_id: int
    visited_at: datetime
    lon: float | None
    lat: float | None
    household_id: int
    local_day: date


@dataclass(slots=True)
class IncomingVisit:
    """A visit on its way in: the validated item, who sends it, and what the phases find out."""

    position: int  # in the request
    item: VisitIn
    id: str  # canonical UUID text, whatever spelling the phone used
    content_hash: str
    worker: Worker
    grid_code: str
    household_id: int | None
    village_code: str = ""
    vulnerable: bool = False
    lon: float = math.nan  # WGS84, set by locate()
    lat: float = math.nan
    local_day: date | None = None
    flags: list[str] = field(default_factory=list)

    def staged_row(self) -> dict[str, Any]:
        """The visit as a row of the sync batch table (``queries.BATCH_COLUMNS``)."""
        item, location = self.item, self.item.location
        return {
            "id": self.id, "county_code": self.village_code[:6], "visited_at": item.visited_at,
            "household_id": self.household_id, "grid_code": self.grid_code, "village_code": self.village_code,
            "member_id": self.worker.member_id, "username": self.worker.username, "outcome": item.outcome,
            "lon": self.lon, "lat": self.lat, "raw_lon": location.lon, "raw_lat": location.lat, "crs": location.crs,
            "accuracy_m": location.accuracy_m, "mocked": location.mocked, "topics": sorted(set(item.topics)),
            "app_installed": item.app_installed, "residents_reached": item.residents_reached,
            "vulnerable_reached": item.vulnerable_reached, "notes": item.notes, "flags": self.flags,
            "new_household": item.new_household is not None, "vulnerable": self.vulnerable,
            "key_county": self.worker.county_code, "hash": self.content_hash,
        }

    def new_household_row(self) -> dict[str, Any]:
        """The household found in the field with this visit, as a row to insert."""
        found = self.item.new_household
        return {"visit_id": self.id, "county": self.village_code[:6], "grid": self.grid_code,
                "village": self.village_code, "lon": found.location.x, "lat": found.location.y,
                "address": found.address, "residents": found.residents, "tags": sorted(set(found.tags))}


@dataclass(slots=True)
class SyncBatch:
    """The items of one request, their answers so far, and the visits still on their way in."""

    items: Sequence[Any]
    results: list[dict[str, Any] | None]
    pending: dict[int, IncomingVisit] = field(default_factory=dict)  # by position, in request order
    first_of_id: dict[str, int] = field(default_factory=dict)
    canonical: dict[int, str] = field(default_factory=dict)

    def reject(self, visit: IncomingVisit, errors: dict[str, Any]) -> None:
        """Answer ``rejected`` with field errors; the visit goes no further."""
        self.answer(visit, result(visit.id, "rejected", errors=errors))

    def answer(self, visit: IncomingVisit, answer: dict[str, Any]) -> None:
        """Settle a visit with its answer; it goes no further."""
        self.results[visit.position] = answer
        del self.pending[visit.position]

    def accepted(self) -> list[IncomingVisit]:
        """The visits still on their way in, in request order."""
        return [self.pending[position] for position in sorted(self.pending)]


def result(visit_id: str | None, status: str, flags: list[str] | None = None, errors: dict | None = None,
           household_id: int | None = None) -> dict[str, Any]:
    """One item's answer."""
    return {"id": str(visit_id) if visit_id is not None else None, "status": status, "flags": flags or [],
            "errors": errors or {}, "household_id": household_id}


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


# 1. Validation

def read_items(items: Sequence[Any], workers: Sequence[tuple[int, str, str]]) -> SyncBatch:
    """Validate each item on its own; the first occurrence of an id goes on, later ones wait for its answer."""
    batch = SyncBatch(items, [None] * len(items))
    for position, raw in enumerate(items):
        if not isinstance(raw, dict):
            batch.results[position] = result(None, "rejected", errors={"_schema": ["A visit must be an object."]})
            continue
        try:
            item = parse_visit(raw)
        except ValidationError as error:
            visit_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            batch.results[position] = result(visit_id, "rejected", errors=field_errors(error))
            continue
        visit_id = str(item.id)
        batch.canonical[position] = visit_id
        if visit_id in batch.first_of_id:  # the same id twice in one batch: settled after the first
            continue
        batch.first_of_id[visit_id] = position
        batch.pending[position] = IncomingVisit(position, item, visit_id, content_hash(raw), Worker(*workers[position]),
                                                item.grid_code, item.household_id)
    return batch


# 2-3. Retries and the time window

def retry_result(visit: IncomingVisit, key: StoredKey) -> dict[str, Any]:
    """A stored key met again: duplicate when the content is the same, else conflict.

    Another member's visit id (copied, or a colliding phone) is a conflict that tells nothing of
    that visit, neither its household nor its flags, wherever it is.
    """
    if key.member_id != visit.worker.member_id:
        return result(visit.id, "conflict")
    if key.content_hash == visit.content_hash:
        return result(visit.id, "duplicate", key.flags, household_id=key.household_id)
    return result(visit.id, "conflict", household_id=key.household_id)


def settle_retries(batch: SyncBatch, stored: dict[str, StoredKey]) -> None:
    """Retries of stored visits (a retry stays a duplicate however old it has become)."""
    for visit in batch.accepted():
        key = stored.get(visit.id)
        if key is not None:
            batch.answer(visit, retry_result(visit, key))


def reject_out_of_window(batch: SyncBatch, now: datetime, settings: SyncSettings) -> None:
    """Reject visits older than the window or too far ahead of the server's clock."""
    for visit in batch.accepted():
        if visit.item.visited_at < now - settings.window:
            batch.reject(visit, {"visited_at": [f"Older than {settings.window.days} days."]})
        elif visit.item.visited_at > now + settings.future_rejected:
            batch.reject(visit, {"visited_at": ["Too far in the future."]})


# 4. Placement

def found_in_field(batch: SyncBatch) -> list[IncomingVisit]:
    """The visits bringing a household found in the field (to be placed in a cell)."""
    return [visit for visit in batch.accepted() if visit.item.new_household is not None]


class HeldCell(NamedTuple):
    """A member's assignment to a cell, over its validity (``valid_to`` None: still held)."""

    member_id: int
    grid_code: str
    valid_from: datetime
    valid_to: datetime | None


class CellAccess:
    """Where a batch's households may be: the account's scope, and the cells each visit's member is
    assigned to now or was assigned to at the visit's time (whatever village or township they lie in)."""

    def __init__(self, prefix: str | None, held: Iterable[HeldCell] = ()):
        """``prefix``: the account's scope (None: anywhere); ``held``: the assignments of the members whose
        visits name a household outside it."""
        self.prefix = prefix
        self.cells: dict[int, list[HeldCell]] = {}
        for assignment in held:
            self.cells.setdefault(assignment.member_id, []).append(assignment)

    def in_scope(self, village_code: str) -> bool:
        """Whether a village lies in the account's scope."""
        return not self.prefix or village_code.startswith(self.prefix)

    def allows(self, visit: IncomingVisit, grid_code: str, village_code: str) -> bool:
        """Whether the visit's member may record a visit to a household of this tier-3 cell."""
        if self.in_scope(village_code):
            return True
        holding = (grid_code, grid_code[:15] + "-00", grid_code[:12] + "-00-00")  # the cell and the cells above
        at = visit.item.visited_at
        return any(held.grid_code in holding and (held.valid_to is None or held.valid_from <= at < held.valid_to)
                   for held in self.cells.get(visit.worker.member_id, ()))


def outside_scope(batch: SyncBatch, known: dict[int, KnownHousehold], placements: dict[int, Placement | None],
                  prefix: str | None) -> list[IncomingVisit]:
    """The visits whose household (known or placed) lies outside the account's scope: only their members'
    assignments need reading."""
    scope = CellAccess(prefix)
    outside = []
    for visit in batch.accepted():
        where = known.get(visit.household_id) if visit.household_id is not None else placements.get(visit.position)
        if where is not None and not scope.in_scope(where.village_code):
            outside.append(visit)
    return outside


def place(batch: SyncBatch, known: dict[int, KnownHousehold], placements: dict[int, Placement | None],
          access: CellAccess) -> None:
    """Give each visit its cell, village and vulnerability, or reject it.

    ``known``: the stored households named (wherever they are); ``placements``: by
    position, the cell covering each new household's point; ``access``: where the
    visit's member may record visits.
    """
    for visit in batch.accepted():
        if visit.household_id is not None:
            household = known.get(visit.household_id)
            if household is None or not access.allows(visit, household.grid_code, household.village_code):
                batch.reject(visit, {"household_id": ["Unknown household, or outside your scope."]})
            elif household.grid_code != visit.grid_code:
                batch.reject(visit, {"grid_code": [f"The household is in cell {household.grid_code}."]})
            else:
                visit.village_code, visit.vulnerable = household.village_code, household.vulnerable
            continue
        placement = placements.get(visit.position)
        if placement is None:
            batch.reject(visit, {"new_household": {"location": ["The point is outside every grid cell."]}})
        elif not access.allows(visit, placement.grid_code, placement.village_code):
            batch.reject(visit, {"new_household": {"location": ["The point is outside your scope."]}})
        else:
            visit.grid_code, visit.village_code = placement
            visit.vulnerable = bool(visit.item.new_household.tags)


# 5. Location and flags

def locate(visits: list[IncomingVisit]) -> None:
    """Convert the reported locations to WGS84 (the raw ones stay on the item) and set the local day."""
    lons, lats = to_wgs84_mixed([v.item.location.lon for v in visits], [v.item.location.lat for v in visits],
                                [v.item.location.crs for v in visits])
    for visit, lon, lat in zip(visits, lons.tolist(), lats.tolist(), strict=True):
        visit.lon, visit.lat = lon, lat
        visit.local_day = visit.item.visited_at.astimezone(LOCAL).date()


class _Sighting(NamedTuple):
    # Field order is the sort order: by time, a stored visit (rank -1) before batch visits at the same
    # instant, those in batch order. Tuples compare natively, so no key function runs per sighting
    # (a busy member's week is tens of thousands of stored visits).
    at: datetime
    rank: int
    lon: float
    lat: float
    position: int | None  # in the located batch; None for a stored visit


def travel_flags(visits: list[IncomingVisit], stored: Iterable[StoredVisit], speed_kmh: float,
                 min_jump_m: float) -> set[int]:
    """Positions (in ``visits``) of visits reached faster than plausible from the member's visit before or
    after."""
    timelines: dict[int, list[_Sighting]] = {}
    for row in stored:
        if row.lon is not None:
            timelines.setdefault(row.member_id, []).append(_Sighting(row.visited_at, -1, row.lon, row.lat, None))
    for position, visit in enumerate(visits):
        timelines.setdefault(visit.worker.member_id, []).append(
            _Sighting(visit.item.visited_at, position, visit.lon, visit.lat, position))
    flagged: set[int] = set()
    for timeline in timelines.values():
        timeline.sort()
        for before, after in zip(timeline, timeline[1:], strict=False):
            distance = haversine_m(before.lon, before.lat, after.lon, after.lat)
            if distance < min_jump_m:
                continue
            hours = (after.at - before.at).total_seconds() / 3600
            if hours <= 0 or distance / 1000 / hours > speed_kmh:
                # Blame the newcomer: the later visit if it is in the batch, else the earlier one.
                if after.position is not None:
                    flagged.add(after.position)
                elif before.position is not None:
                    flagged.add(before.position)
    return flagged


def flag(visits: list[IncomingVisit], stored: list[StoredVisit], settings: SyncSettings, now: datetime,
         sent_at: datetime | None) -> None:
    """The flags needing no cell or assignment lookup; ``stored``: the members' visits around the batch's
    times (a day either side).  Located visits only (:func:`locate`)."""
    travel = travel_flags(visits, stored, settings.speed_kmh, settings.min_jump_m)
    skewed = sent_at is not None and abs(sent_at - now) > settings.skew
    for position, visit in enumerate(visits):
        flags, location = visit.flags, visit.item.location
        if position in travel:
            flags.append("impossible_travel")
        if visit.item.visited_at > now + settings.skew:
            flags.append("future_time")
        if skewed:
            flags.append("clock_skew")
        if location.mocked:
            flags.append("mocked_location")
        if location.accuracy_m is not None and location.accuracy_m > settings.accuracy_m:
            flags.append("low_accuracy")
    pace_flags(visits, stored, settings)
    # A second visit of a household by the same member on the same local day (households found
    # in the field have no id yet: never a repeat).
    seen_days = {(row.member_id, row.household_id, row.local_day) for row in stored}
    for visit in sorted(visits, key=lambda v: (v.item.visited_at, v.id)):
        if visit.household_id is None:
            continue
        key = (visit.worker.member_id, visit.household_id, visit.local_day)
        if key in seen_days:
            visit.flags.append("repeat_visit")
        seen_days.add(key)


def at_night(hour: int, night: tuple[int, int] | None) -> bool:
    """Whether a local hour falls in the night window [start, end) (which may wrap past midnight)."""
    if not night:
        return False
    start, end = night
    return start <= hour < end if start < end else hour >= start or hour < end


def pace_flags(visits: list[IncomingVisit], stored: Iterable[StoredVisit], settings: SyncSettings) -> None:
    """``implausible_pace``: a member's visit in the night window, or past the day's plausible number.

    The day's count includes the member's visits already stored that local day; the
    newcomers past the limit are the ones flagged (like impossible travel).
    """
    per_day: dict[tuple[int, date], int] = {}
    for row in stored:
        per_day[(row.member_id, row.local_day)] = per_day.get((row.member_id, row.local_day), 0) + 1
    for visit in sorted(visits, key=lambda v: (v.item.visited_at, v.id)):
        local = visit.item.visited_at.astimezone(LOCAL)
        key = (visit.worker.member_id, local.date())
        per_day[key] = per_day.get(key, 0) + 1
        if at_night(local.hour, settings.night) or per_day[key] > settings.max_per_day:
            visit.flags.append("implausible_pace")


# 6. Answers

def settle_stored(batch: SyncBatch, visits: list[IncomingVisit], claimed: dict[str, list[str]],
                  late_keys: dict[str, StoredKey]) -> None:
    """Created for the visits whose key this sync claimed (with the flags stored); the others were stored by a
    concurrent retry first and answer as retries."""
    for visit in visits:
        if visit.id in claimed:
            batch.answer(visit, result(visit.id, "created", claimed[visit.id], household_id=visit.household_id))
        else:
            batch.answer(visit, retry_result(visit, late_keys[visit.id]))


def answer_repeats(batch: SyncBatch) -> list[dict[str, Any]]:
    """Every answer in the order sent: an id repeated within the batch compares with its first occurrence."""
    results = batch.results
    for position, raw in enumerate(batch.items):
        if results[position] is None:
            first = batch.first_of_id[batch.canonical[position]]
            decided = results[first]
            same = content_hash(raw) == content_hash(batch.items[first])
            if same and decided["status"] == "rejected":
                results[position] = dict(decided)  # the same bad visit again: the same answer
                continue
            same = same and decided["status"] in ("created", "duplicate")
            results[position] = result(raw.get("id"), "duplicate" if same else "conflict",
                                        decided["flags"] if same else [], household_id=decided["household_id"])
    return results
