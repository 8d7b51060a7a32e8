"""The phases of a visit sync (``outreach.visits.sync``) on their own, without a database.

Validation, placement, flags and the answers take what the database would have
answered as plain values, so each rule is checked here in isolation; the HTTP tests
(test_visits_sync.py, test_visit_flags.py) check the same rules end to end.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from config import load_config
from core.clock import LOCAL
from outreach.visits import sync
from outreach.visits.sync import CellAccess, HeldCell, KnownHousehold, Placement, StoredKey, StoredVisit, SyncSettings

NOW = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
SETTINGS = SyncSettings(window=timedelta(days=30), future_rejected=timedelta(hours=24), skew=timedelta(minutes=5),
                        tolerance_m=100, speed_kmh=60, min_jump_m=300, accuracy_m=100, night=(0, 5), max_per_day=60)
GRID = "610902001001-01-01"
OTHER_GRID = "610902001001-01-02"
VILLAGE = "610902001001"
WORKER = (7, "610902", "w7")
POINT = (109.03, 32.69)  # inside Ankang


@pytest.fixture(autouse=True)
def db_session():
    """No database here: an app context only for the city's bounding box (points found in the field)."""
    app = Flask("unit")
    app.config["GRIDS_CITY_BBOX"] = load_config()["GRIDS_CITY_BBOX"]
    with app.app_context():
        yield None


def visit(household_id: int | None = 11, at: datetime | None = None, lon: float = POINT[0], lat: float = POINT[1],
          **fields) -> dict:
    """A visit item as a phone sends it."""
    item = {"id": str(uuid.uuid4()), "grid_code": GRID, "visited_at": (at or NOW - timedelta(hours=1)).isoformat(),
            "outcome": "completed", "location": {"lon": lon, "lat": lat, "crs": "wgs84", "accuracy_m": 10}}
    if household_id is None:
        item["new_household"] = {"location": {"lon": lon, "lat": lat}, "tags": []}
    else:
        item["household_id"] = household_id
    item.update(fields)
    return item


def read(*items: dict) -> sync.SyncBatch:
    return sync.read_items(list(items), [WORKER] * len(items))


def placed(*items: dict, known: dict | None = None, placements: dict | None = None,
           prefix: str | None = None) -> sync.SyncBatch:
    batch = read(*items)
    households = {h: KnownHousehold(GRID, VILLAGE, False) for h in range(11, 20)}
    sync.place(batch, households if known is None else known, placements or {}, CellAccess(prefix))
    return batch


def flagged(*items: dict, stored: list[StoredVisit] = (), sent_at: datetime | None = None) -> list[list[str]]:
    batch = placed(*items)
    visits = batch.accepted()
    sync.locate(visits)
    sync.flag(visits, list(stored), SETTINGS, NOW, sent_at)
    return [v.flags for v in visits]


# --- validation ---

def test_items_are_validated_one_by_one():
    good = visit()
    batch = read(good, "not an object", visit(outcome="lost"), visit(household_id=None) | {"household_id": 3})
    assert [v.id for v in batch.accepted()] == [good["id"]]
    assert batch.results[1]["errors"] == {"_schema": ["A visit must be an object."]}
    assert batch.results[2]["status"] == "rejected" and "outcome" in batch.results[2]["errors"]
    assert batch.results[3]["errors"] == {"household_id": ["Give exactly one of household_id and new_household."]}


def test_a_visit_on_its_way_in_is_typed():
    item = visit(topics=["loan", "investment", "loan"], notes="at the gate")
    incoming = read(item).accepted()[0]
    assert incoming.id == item["id"] and incoming.worker == sync.Worker(*WORKER)
    assert incoming.item.visited_at == NOW - timedelta(hours=1) and incoming.household_id == 11
    assert incoming.content_hash == sync.content_hash(dict(reversed(item.items())))  # key order does not matter


def test_an_id_spelled_twice_waits_for_its_first_occurrence():
    first = visit()
    again = dict(first, id=first["id"].upper())
    batch = read(first, again)
    assert [v.position for v in batch.accepted()] == [0]
    assert batch.canonical == {0: first["id"], 1: first["id"]}


def test_stored_keys_answer_duplicate_or_conflict():
    same, changed, fresh = visit(), visit(), visit()
    batch = read(same, changed, fresh)
    sync.settle_retries(batch, {same["id"]: StoredKey(sync.content_hash(same), 11, ["low_accuracy"], 7),
                                changed["id"]: StoredKey("0" * 32, 11, [], 7)})
    assert batch.results[0] == sync.result(same["id"], "duplicate", ["low_accuracy"], household_id=11)
    assert batch.results[1] == sync.result(changed["id"], "conflict", household_id=11)
    assert [v.id for v in batch.accepted()] == [fresh["id"]]


def test_another_members_stored_key_is_a_conflict_that_tells_nothing_of_that_visit():
    copied, changed = visit(), visit()
    batch = read(copied, changed)
    sync.settle_retries(batch, {copied["id"]: StoredKey(sync.content_hash(copied), 11, ["low_accuracy"], 8),
                                changed["id"]: StoredKey("0" * 32, 12, [], 8)})
    assert batch.results == [sync.result(copied["id"], "conflict"), sync.result(changed["id"], "conflict")]


def test_the_time_window():
    old = visit(at=NOW - timedelta(days=30, seconds=1))
    edge = visit(at=NOW - timedelta(days=30) + timedelta(seconds=1))
    ahead = visit(at=NOW + timedelta(hours=24, seconds=1))
    batch = read(old, edge, ahead)
    sync.reject_out_of_window(batch, NOW, SETTINGS)
    assert batch.results[0]["errors"] == {"visited_at": ["Older than 30 days."]}
    assert batch.results[2]["errors"] == {"visited_at": ["Too far in the future."]}
    assert [v.id for v in batch.accepted()] == [edge["id"]]


# --- placement ---

def test_a_known_household_must_be_in_scope_and_in_the_cell_named():
    unknown, elsewhere, good = visit(household_id=99), visit(household_id=12), visit()
    batch = placed(unknown, elsewhere, good,
                   known={11: KnownHousehold(GRID, VILLAGE, True), 12: KnownHousehold(OTHER_GRID, VILLAGE, False)})
    assert batch.results[0]["errors"] == {"household_id": ["Unknown household, or outside your scope."]}
    assert batch.results[1]["errors"] == {"grid_code": [f"The household is in cell {OTHER_GRID}."]}
    (accepted,) = batch.accepted()
    assert (accepted.grid_code, accepted.village_code, accepted.vulnerable) == (GRID, VILLAGE, True)


def test_a_household_found_in_the_field_is_placed_in_the_cell_covering_it():
    nowhere, outside_scope = visit(household_id=None), visit(household_id=None)
    found = visit(household_id=None, grid_code=GRID)
    found["new_household"]["tags"] = ["elderly"]
    batch = read(nowhere, outside_scope, found)
    assert [v.position for v in sync.found_in_field(batch)] == [0, 1, 2]
    sync.place(batch, {}, {0: None, 1: Placement("610902002001-01-01", "610902002001"),
                           2: Placement(OTHER_GRID, VILLAGE)}, CellAccess("610902001"))
    assert batch.results[0]["errors"] == {"new_household": {"location": ["The point is outside every grid cell."]}}
    assert batch.results[1]["errors"] == {"new_household": {"location": ["The point is outside your scope."]}}
    (accepted,) = batch.accepted()
    assert (accepted.grid_code, accepted.village_code, accepted.vulnerable) == (OTHER_GRID, VILLAGE, True)
    assert accepted.new_household_row()["tags"] == ["elderly"]


def test_a_member_may_visit_households_of_the_cells_they_hold_outside_the_scope():
    """Access follows assignments: the cell (or a cell above it) held now, or at the visit's time."""
    far_cell, far_village = "610902002001-01-01", "610902002001"
    now_held, held_then, ended_before, someone_elses = (visit(household_id=h, grid_code=far_cell)
                                                        for h in (21, 22, 23, 24))
    known = {h: KnownHousehold(far_cell, far_village, False) for h in (21, 22, 23, 24)}
    batch = read(now_held, held_then, ended_before, someone_elses)
    batch.pending[3].worker = sync.Worker(8, "610902", "w8")
    assert [v.position for v in sync.outside_scope(batch, known, {}, "610902001")] == [0, 1, 2, 3]
    hour_ago = NOW - timedelta(hours=1)
    held = [HeldCell(7, far_cell[:15] + "-00", NOW - timedelta(days=3), None)]  # the tier-2 cell above, still held
    access = CellAccess("610902001", held)
    assert access.allows(batch.pending[0], far_cell, far_village)
    day_before = hour_ago - timedelta(days=1)
    past = CellAccess("610902001", [HeldCell(7, far_cell, day_before, hour_ago + timedelta(minutes=1))])
    assert past.allows(batch.pending[1], far_cell, far_village)
    ended = CellAccess("610902001", [HeldCell(7, far_cell, day_before, hour_ago)])
    assert not ended.allows(batch.pending[2], far_cell, far_village)
    sync.place(batch, known, {}, access)
    assert [v.position for v in batch.accepted()] == [0, 1, 2]  # w7 holds the cell above all three
    assert batch.results[3]["errors"] == {"household_id": ["Unknown household, or outside your scope."]}


# --- flags ---

def test_no_flags_for_an_ordinary_visit():
    assert flagged(visit()) == [[]]


def test_device_flags():
    rows = flagged(visit(11, location={"lon": POINT[0], "lat": POINT[1], "mocked": True, "accuracy_m": 101}),
                   visit(12, location={"lon": POINT[0], "lat": POINT[1], "accuracy_m": 100}),
                   visit(13, at=NOW + timedelta(minutes=6)), visit(14, at=NOW + timedelta(minutes=4)))
    assert rows == [["mocked_location", "low_accuracy"], [], ["future_time"], []]


def test_clock_skew_flags_the_whole_batch():
    assert flagged(visit(11), visit(12), sent_at=NOW + timedelta(minutes=6)) == [["clock_skew"], ["clock_skew"]]
    assert flagged(visit(), sent_at=NOW - timedelta(minutes=4)) == [[]]


def test_impossible_travel_blames_the_later_visit():
    start = NOW - timedelta(hours=2)
    far = (POINT[0] + 0.1, POINT[1])  # ~9.4 km east
    rows = flagged(visit(11, at=start), visit(12, at=start + timedelta(minutes=5), lon=far[0], lat=far[1]),
                   visit(13, at=start + timedelta(hours=1), lon=POINT[0], lat=POINT[1]))
    assert rows == [[], ["impossible_travel"], []]


def test_impossible_travel_from_a_stored_visit_and_short_hops():
    at = NOW - timedelta(hours=1)
    day = at.astimezone(LOCAL).date()
    stored = [StoredVisit(WORKER[0], at - timedelta(minutes=2), POINT[0] + 0.1, POINT[1], 5, day)]
    near = [StoredVisit(WORKER[0], at - timedelta(seconds=1), POINT[0] + 0.002, POINT[1], 5, day)]  # ~190 m
    assert flagged(visit(at=at), stored=stored) == [["impossible_travel"]]
    assert flagged(visit(at=at), stored=near) == [[]]


def test_a_second_visit_the_same_local_day_is_a_repeat():
    at = NOW - timedelta(hours=3)
    day = at.astimezone(LOCAL).date()
    assert flagged(visit(at=at), visit(at=at + timedelta(hours=1))) == [[], ["repeat_visit"]]
    assert flagged(visit(11, at=at), visit(12, at=at + timedelta(hours=1))) == [[], []]
    assert flagged(visit(at=at), stored=[StoredVisit(WORKER[0], at - timedelta(hours=1), None, None, 11, day)]) \
        == [["repeat_visit"]]
    assert flagged(visit(at=at), stored=[StoredVisit(WORKER[0], at - timedelta(days=1), None, None, 11,
                                                     day - timedelta(days=1))]) == [[]]


def test_implausible_pace_at_night_and_past_the_days_limit():
    night = datetime(2026, 5, 11, 18, 30, tzinfo=UTC)  # 02:30 in Shanghai
    assert flagged(visit(at=night)) == [["implausible_pace"]]
    day = (NOW - timedelta(hours=1)).astimezone(LOCAL).date()
    earlier = [StoredVisit(7, NOW - timedelta(hours=2), None, None, 30 + n, day) for n in range(59)]
    later = visit(household_id=12, at=NOW - timedelta(minutes=30))
    assert flagged(visit(), later, stored=earlier) == [[], ["implausible_pace"]]
    assert not sync.at_night(5, (0, 5)) and sync.at_night(23, (22, 6)) and sync.at_night(2, (22, 6))
    assert not sync.at_night(3, None)


def test_haversine():
    assert sync.haversine_m(*POINT, *POINT) == 0
    assert abs(sync.haversine_m(0, 0, 0, 1) - 111_195) < 1


# --- answers ---

def test_answers_in_order_with_repeated_ids():
    created, old = visit(), visit(12, at=NOW - timedelta(days=40))
    batch = read(created, dict(created), dict(created, notes="changed"), old, dict(old))
    sync.reject_out_of_window(batch, NOW, SETTINGS)
    (incoming,) = batch.accepted()
    sync.settle_stored(batch, [incoming], {created["id"]: ["low_accuracy"]}, {})
    results = sync.answer_repeats(batch)
    assert [r["status"] for r in results] == ["created", "duplicate", "conflict", "rejected", "rejected"]
    assert results[1]["flags"] == ["low_accuracy"] and results[2]["flags"] == []
    assert results[4] == results[3] and results[4] is not results[3]  # the same bad visit: the same answer


def test_a_visit_stored_first_by_a_concurrent_retry_answers_as_a_retry():
    item = visit()
    batch = read(item)
    visits = batch.accepted()
    sync.settle_stored(batch, visits, {}, {item["id"]: StoredKey(sync.content_hash(item), 11, [], 7)})
    assert sync.answer_repeats(batch) == [sync.result(item["id"], "duplicate", [], household_id=11)]


def test_staged_row_carries_every_batch_column():
    from outreach.visits.queries import BATCH_COLUMNS

    batch = placed(visit(topics=["loan", "loan"]))
    visits = batch.accepted()
    sync.locate(visits)
    row = visits[0].staged_row()
    assert set(row) == set(BATCH_COLUMNS)
    assert row["topics"] == ["loan"] and row["key_county"] == WORKER[1] and row["county_code"] == VILLAGE[:6]
