"""A visit history written in bulk (the default seed: 90 days for the whole city in well under a minute).

The same visits :mod:`outreach.visits.seed` sends through the sync service one day at
a time, drawn for every day at once with numpy and written set-wise:

1. COPY into an unlogged staging table shaped like the sync's ``sync_batch``;
2. the database flag the sync sets (``outside_grid``) with one UPDATE over the
   visits whose phone was somewhere else (the others are inside their cell by
   construction); ``mocked_location`` and ``low_accuracy`` are set as drawn;
3. keys and visits inserted with one INSERT … SELECT each;
4. the coverage rollups folded in by the sync's own fold
   (:func:`outreach.coverage.rollups.add_staged_visits`), once for the whole history.

``tests/test_history.py`` recomputes every rollup from the visit table and compares
with this and with the fold applied day by day, as syncing phones would have.
Content hashes of the keys are an md5 of the stored row (no phone will retry these
ids, so they never meet the sync's JSON digest).
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
from flask import current_app
from sqlalchemy import text

from core.clock import LOCAL
from core.extensions import db
from outreach.coverage import bulk, rollups
from outreach.visits import queries
from outreach.visits.seed import OUTCOME_P, TOPIC_CHOICES, _households, draw_positions

# Each village's 30-day coverage (households with a completed visit in 30 days): a beta(6, 2)
# draw (mean 0.75), so most villages are amber or green and a tail lags behind.
COVERAGE_ALPHA, COVERAGE_BETA = 6.0, 2.0
# The share of rounds that end in a completed visit, the one retry included.
ROUND_COMPLETION = OUTCOME_P["completed"] * (2 - OUTCOME_P["completed"])
STAGING = "history_batch"


def _coverage_targets(rng: np.random.Generator, villages: int) -> np.ndarray:
    return np.clip(rng.beta(COVERAGE_ALPHA, COVERAGE_BETA, villages), 0.2, 0.985)


class Rounds:
    """When each household is next visited, in days from the history's first morning.

    Members go round their households: a village whose 30-day coverage is ``c`` comes back to each
    household every ``30 × ROUND_COMPLETION / c`` days (±2), starting anywhere in the first cycle;
    a visit that finds nobody home, or is refused, is tried once more one to four days later, and
    the next round keeps the cycle.  (Independent daily draws reaching the same coverage would
    visit many households twice in a fortnight: 1.6 times the visits for the same picture.)
    """

    def __init__(self, rng: np.random.Generator, coverage: np.ndarray):
        self.period = 30.0 * ROUND_COMPLETION / coverage
        self.round_day = rng.uniform(0, self.period)  # the current round's planned day
        self.next_day = self.round_day.copy()
        self.retrying = np.zeros(len(coverage), dtype=bool)

    def due(self, day: int) -> np.ndarray:
        """Households to visit on day ``day`` (counted from 0)."""
        return np.flatnonzero(self.next_day < day + 1)

    def visited(self, rng: np.random.Generator, households: np.ndarray, completed: np.ndarray, day: int) -> None:
        """Plan what follows the day's visits: a retry, or the next round."""
        retry = ~completed & ~self.retrying[households]
        self.retrying[households] = retry
        next_round = self.round_day[households] + self.period[households] + rng.normal(0, 2, len(households))
        self.round_day[households] = np.where(retry, self.round_day[households], next_round)
        self.next_day[households] = np.where(retry, day + rng.uniform(1, 5, len(households)), next_round)


def _uuid4_strings(rng: np.random.Generator, count: int) -> list[str]:
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexes = [row.tobytes().hex() for row in raw]
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]


def _draw_day(rng, data, visited, village_index, app_rate, day: date, now: datetime, low_accuracy_m: float):
    """One local day's visits to the ``visited`` households as COPY lines of the staging table, with the
    households visited (not those still ahead today) and whether each visit was completed."""
    start = datetime.combine(day, datetime.min.time(), LOCAL) + timedelta(hours=8)
    seconds = rng.uniform(0, 10 * 3600, len(visited))
    moments = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us") + (seconds * 1e6).astype(
        "timedelta64[us]")
    keep = moments <= np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us")
    visited, moments = visited[keep], moments[keep]
    count = len(visited)
    if count == 0:
        return [], visited, np.zeros(0, dtype=bool)
    lon, lat, raw_lon, raw_lat, crs, accuracy, mocked, far = draw_positions(rng, data, visited)
    outcomes = rng.choice(list(OUTCOME_P), size=count, p=list(OUTCOME_P.values()))
    completed = outcomes == "completed"
    installed = rng.random(count) < app_rate[village_index[visited]]
    topic_counts = rng.integers(1, 4, count)
    topic_picks = rng.integers(0, len(TOPIC_CHOICES), (count, 3))
    reached = rng.random(count)
    ids = _uuid4_strings(rng, count)
    stamps = np.datetime_as_string(moments, unit="us")
    lon, lat, raw_lon, raw_lat = lon.tolist(), lat.tolist(), raw_lon.tolist(), raw_lat.tolist()
    accuracy = np.round(accuracy, 1).tolist()
    lines = []
    for k, index in enumerate(visited.tolist()):
        flags = []
        if mocked[k]:
            flags.append("mocked_location")
        if accuracy[k] > low_accuracy_m:
            flags.append("low_accuracy")
        residents = int(data["residents"][index])
        done = bool(completed[k])
        topics = ",".join(sorted({TOPIC_CHOICES[t] for t in topic_picks[k, :topic_counts[k]].tolist()})) \
            if done else ""
        lines.append(
            f"{ids[k]}\t{data['county'][index]}\t{data['village'][index][:6]}\t{stamps[k]}+00\t{data['id'][index]}\t"
            f"{data['grid'][index]}\t{data['village'][index]}\t{data['member'][index]}\tseed\t{outcomes[k]}\t"
            f"{lon[k]!r}\t{lat[k]!r}\t{raw_lon[k]!r}\t{raw_lat[k]!r}\t{crs[k]}\t{accuracy[k]!r}\t"
            f"{'t' if mocked[k] else 'f'}\t{{{topics}}}\t{('t' if installed[k] else 'f') if done else chr(92) + 'N'}\t"
            f"{(1 + int(reached[k] * residents)) if done and residents else chr(92) + 'N'}\t"
            f"{(1 if data['vulnerable'][index] else 0) if done else chr(92) + 'N'}\t\\N\t{{{','.join(flags)}}}\tf\t"
            f"{'t' if data['vulnerable'][index] else 'f'}\t{'t' if far[k] else 'f'}\n")
    return lines, visited, completed


def seed_history(days: int = 90, seed: int = 11, step: Callable[[str, int], None] = lambda *_: None,
                 now: datetime | None = None) -> dict[str, float]:
    """Write ``days`` days of visits ending now and fold them into the rollups; returns seconds per phase."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    data = _households()
    if len(data["id"]) == 0:
        return timings
    villages, village_index = np.unique(data["village"], return_inverse=True)
    coverage_30 = _coverage_targets(rng, len(villages))
    rounds = Rounds(rng, coverage_30[village_index])
    app_rate = rng.uniform(0.3, 0.9, len(villages))
    low_accuracy_m = current_app.config["GRIDS_LOW_ACCURACY_M"]
    today = now.astimezone(LOCAL).date()
    first_day = today - timedelta(days=days - 1)
    queries.ensure_partitions([date(d.year, d.month, 1) for d in (first_day, today)]
                              + [date(first_day.year, first_day.month, 1) + timedelta(days=31 * i)
                                 for i in range(days // 28 + 2)])
    queries.create_history_staging(STAGING)
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(f"copy {STAGING} from stdin") as copy:
        buffer = io.StringIO()
        for number, offset in enumerate(range(days - 1, -1, -1)):
            lines, visited, completed = _draw_day(rng, data, rounds.due(number), village_index, app_rate,
                                                  today - timedelta(days=offset), now, low_accuracy_m)
            rounds.visited(rng, visited, completed, number)
            buffer.writelines(lines)
            if buffer.tell() > 8 << 20:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
            step("history days", 1)
        copy.write(buffer.getvalue())
    timings["draw and copy visits"] = time.perf_counter() - started
    started = time.perf_counter()
    first = not queries.visits_stored() and bulk.rollups_empty()
    if first:
        queries.renew_empty_tables(["visits", "visit_keys", *rollups.ROLLUP_TABLES])
    with queries.secondary_visit_indexes_deferred(first):
        queries.store_history(STAGING, current_app.config["GRIDS_OUTSIDE_GRID_TOLERANCE_M"])
        timings["flag, key and store visits"] = time.perf_counter() - started
        started = time.perf_counter()
    timings["index visits"] = time.perf_counter() - started
    started = time.perf_counter()
    if first:  # nothing stored yet: each rollup written once, straight from the staged history
        bulk.fold_into_empty(STAGING)
    else:  # added to a history: the sync's own fold
        queries.stage_history_for_rollups(STAGING)
        rollups.add_staged_visits()
    db.session.execute(text(f"drop table {STAGING}"))
    db.session.commit()
    for table in ("visits", "visit_keys", "household_coverage", "household_visit_days", "grid_coverage",
                  "grid_day_counts", "village_day_counts", "last_completed_counts"):
        db.session.execute(text(f"analyze {table}"))
    # ANALYZE's statistics are transactional: without this commit they were rolled back with the
    # session, while the counters told autovacuum they were fresh, and the planner kept the
    # statistics of before the load (a 90-day coverage report sorted 1.9 M rows on disk: 1.9 s).
    db.session.commit()
    timings["rollups (set-based)"] = time.perf_counter() - started
    return timings
