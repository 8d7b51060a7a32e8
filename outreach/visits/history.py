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
Content hashes of the keys are an md5 of the visit's id, household and outcome (no phone will
retry these ids, so they never meet the sync's JSON digest; hashing the whole row as text took 10 s).
While the first history goes in, the visit table's, its keys' and the rollups' indexes, primary keys
included, are held back and built once at the end (:func:`core.bulk.indexes_deferred`).
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
from flask import current_app
from sqlalchemy import text

from core.bulk import indexes_deferred
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
    # Hex digits of every byte at once, dashes at their places: one ASCII block, cut into 36-character ids.
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text_ = np.full((count, 36), ord("-"), dtype=np.uint8)
    hexes = np.stack([digits[raw >> 4], digits[raw & 0x0F]], axis=2).reshape(count, 32)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text_[:, at:at + end - start] = hexes[:, start:end]
    block = text_.tobytes().decode("ascii")
    return [block[i:i + 36] for i in range(0, 36 * count, 36)]


# The staging table's columns in the order of the COPY lines below: the household's own columns first (written
# once per household), the visit's measured ones, then its categorical ones as one looked-up string.
COPY_COLUMNS = ("id, key_county, county_code, visited_at, household_id, grid_code, village_code, member_id, "
                "username, lon, lat, raw_lon, raw_lat, accuracy_m, residents_reached, outcome, crs, mocked, topics, "
                "app_installed, vulnerable_reached, notes, flags, new_household, vulnerable, far")
OUTCOMES = list(OUTCOME_P)
CRS = ("gcj02", "bd09", "wgs84")


def household_columns(data: dict[str, np.ndarray]) -> tuple[list[str], list[str]]:
    """Each household's fixed columns of a visit line: around the visit's moment, and after it."""
    head = [f"\t{county}\t{village[:6]}\t" for county, village in zip(data["county"].tolist(),
                                                                      data["village"].tolist(), strict=True)]
    tail = [f"\t{id_}\t{grid}\t{village}\t{member}\tseed\t" for id_, grid, village, member in zip(
        data["id"].tolist(), data["grid"].tolist(), data["village"].tolist(), data["member"].tolist(), strict=True)]
    return head, tail


def _categories(code: int) -> str:
    """The categorical columns (outcome … far) of a visit, from the code :func:`_draw_day` packs them in."""
    outcome, code = OUTCOMES[code % 3], code // 3
    crs, code = CRS[code % 3], code // 3
    mocked, low, installed, vulnerable, far, code = code & 1, code >> 1 & 1, code >> 2 & 1, code >> 3 & 1, \
        code >> 4 & 1, code >> 5
    done = outcome == "completed"
    topics = ",".join(sorted(TOPIC_CHOICES[t] for t in range(len(TOPIC_CHOICES)) if code >> t & 1))
    flags = ",".join(name for name, on in (("mocked_location", mocked), ("low_accuracy", low)) if on)
    return (f"{outcome}\t{crs}\t{'tf'[not mocked]}\t{{{topics}}}\t{'tf'[not installed] if done else chr(92) + 'N'}\t"
            f"{vulnerable if done else chr(92) + 'N'}\t\\N\t{{{flags}}}\tf\t{'tf'[not vulnerable]}\t{'tf'[not far]}\n")


def _draw_day(rng, data, columns, visited, village_index, app_rate, day: date, now: datetime,
              low_accuracy_m: float):
    """One local day's visits to the ``visited`` households as COPY lines of the staging table (columns in
    ``COPY_COLUMNS``' order), with the households visited (not those still ahead today) and whether each visit
    was completed.  Drawn for the whole day at once; only the final formatting goes visit by visit."""
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
    outcome = rng.choice(len(OUTCOMES), size=count, p=list(OUTCOME_P.values()))
    completed = outcome == OUTCOMES.index("completed")
    installed = rng.random(count) < app_rate[village_index[visited]]
    topic_counts = rng.integers(1, 4, count)
    topic_picks = rng.integers(0, len(TOPIC_CHOICES), (count, 3))
    reached = rng.random(count)
    ids = _uuid4_strings(rng, count)
    stamps = np.char.add(np.datetime_as_string(moments, unit="us"), "+00").tolist()
    accuracy = np.round(accuracy, 1)
    residents = data["residents"][visited].astype(np.int64)
    reached_count = np.where(completed & (residents > 0), 1 + (reached * residents).astype(np.int64), 0)
    topics = np.zeros(count, dtype=np.int64)
    for pick in range(3):
        topics |= np.where(pick < topic_counts, np.left_shift(1, topic_picks[:, pick]), 0)
    vulnerable = data["vulnerable"][visited].astype(bool)
    crs_index = np.select([crs == name for name in CRS[:-1]], range(len(CRS) - 1), len(CRS) - 1)
    code = (outcome + 3 * (crs_index + 3 * (
        mocked + 2 * (accuracy > low_accuracy_m) + 4 * (installed & completed) + 8 * vulnerable + 16 * far
        + 32 * np.where(completed, topics, 0))))
    codes, inverse = np.unique(code, return_inverse=True)
    categories = np.array([_categories(int(c)) for c in codes], dtype=object)[inverse].tolist()
    reached_text = np.where(reached_count > 0, reached_count.astype(str), "\\N").tolist()
    head, tail = columns
    lines = [f"{i}{head[h]}{t}{tail[h]}{x!r}\t{y!r}\t{rx!r}\t{ry!r}\t{a!r}\t{r}\t{c}"
             for i, h, t, x, y, rx, ry, a, r, c in zip(
                 ids, visited.tolist(), stamps, lon.tolist(), lat.tolist(), raw_lon.tolist(), raw_lat.tolist(),
                 accuracy.tolist(), reached_text, categories, strict=True)]
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
    columns = household_columns(data)
    with connection.cursor() as cursor, cursor.copy(f"copy {STAGING} ({COPY_COLUMNS}) from stdin") as copy:
        buffer = io.StringIO()
        for number, offset in enumerate(range(days - 1, -1, -1)):
            lines, visited, completed = _draw_day(rng, data, columns, rounds.due(number), village_index, app_rate,
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
    with indexes_deferred(["visits", "visit_keys"] if first else []):
        queries.store_history(STAGING, current_app.config["GRIDS_OUTSIDE_GRID_TOLERANCE_M"])
        timings["flag, key and store visits"] = time.perf_counter() - started
        started = time.perf_counter()
    timings["index visits"] = time.perf_counter() - started
    started = time.perf_counter()
    if first:  # nothing stored yet: each rollup written once, straight from the staged history
        with indexes_deferred(rollups.ROLLUP_TABLES):
            bulk.fold_into_empty(STAGING)
    else:  # added to a history: the sync's own fold
        queries.stage_history_for_rollups(STAGING)
        rollups.add_staged_visits()
    db.session.execute(text(f"drop table {STAGING}"))
    db.session.commit()
    for table in ("visits", "visit_keys", *rollups.ROLLUP_TABLES):
        db.session.execute(text(f"analyze {table}"))
    # ANALYZE's statistics are transactional: without this commit they were rolled back with the
    # session, while the counters told autovacuum they were fresh, and the planner kept the
    # statistics of before the load (a 90-day coverage report sorted 1.9 M rows on disk: 1.9 s).
    db.session.commit()
    timings["rollups (set-based)"] = time.perf_counter() - started
    return timings
