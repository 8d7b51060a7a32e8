"""``flask seed visits --days N``: a realistic visit history, stored through the sync service.

Each village gets a diligence (the share of its households visited in 30 days,
0.35-1.0), so coverage varies from lagging to complete.  Every day, households are
visited by their cell's chief between 08:00 and 18:00 local time; most outcomes are
completed; phones report GCJ-02 most of the time; a few per cent of visits carry
something to flag (mocked or inaccurate locations, points far from the cell).  Day
by day the batch goes through :func:`outreach.visits.services.store_visits` with the
clock set to that evening, exactly as phones syncing that day would.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

import numpy as np

from core.clock import LOCAL
from core.coords import wgs84_to_bd09, wgs84_to_gcj02
from core.extensions import db
from outreach.visits.services import store_visits

OUTCOME_P = {"completed": 0.82, "nobody_home": 0.14, "refused": 0.04}
TOPIC_CHOICES = ["investment", "order_brushing", "impersonating_police", "impersonating_customer_service",
                 "romance", "loan", "gaming", "fake_refund", "app_install", "vulnerable_care"]


def _households() -> dict[str, np.ndarray]:
    """Every household with its cell, place, chief and county, as columns."""
    # Straight from the driver's cursor: a city's 850,000 rows as SQLAlchemy rows took twice as long.
    with db.session.connection().connection.driver_connection.cursor() as cursor:
        rows = cursor.execute("""
        select h.id, h.grid_code, h.village_code, ST_X(h.location), ST_Y(h.location), a.member_id, m.county_code,
               cardinality(h.tags) > 0, h.residents
        from households h
        join assignments a on a.grid_code = h.grid_code and a.role = 'chief' and a.valid_to is null
        join members m on m.id = a.member_id
        where h.removed_at is null
        order by h.id
        """).fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 9
    names = ("id", "grid", "village", "lon", "lat", "member", "county", "vulnerable", "residents")
    return {name: np.array(values) for name, values in zip(names, columns, strict=True)}


def seed_visits(days: int, seed: int = 7, step: Callable[[int], None] = lambda _: None,
                now: datetime | None = None) -> int:
    """Store ``days`` days of visits ending today; returns how many were created."""
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    data = _households()
    n = len(data["id"])
    if n == 0:
        return 0
    villages, village_index = np.unique(data["village"], return_inverse=True)
    coverage_30 = rng.uniform(0.35, 1.0, len(villages))
    daily = -np.log1p(-np.minimum(coverage_30, 0.995)) / 30.0  # Poisson rate giving that 30-day coverage
    app_rate = rng.uniform(0.3, 0.9, len(villages))
    created = 0
    today = now.astimezone(LOCAL).date()
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        visited = np.flatnonzero(rng.random(n) < daily[village_index])
        if len(visited) == 0:
            step(0)
            continue
        start = datetime.combine(day, time(8, 0), LOCAL)
        seconds = rng.uniform(0, 10 * 3600, len(visited))
        # Each member walks their households through the day, in time order.
        order = np.lexsort((seconds, data["member"][visited]))
        visited, seconds = visited[order], seconds[order]
        evening = min(datetime.combine(day, time(20, 0), LOCAL).astimezone(UTC), now)
        keep = np.array([start + timedelta(seconds=float(x)) <= evening for x in seconds])
        visited, seconds = visited[keep], seconds[keep]
        items = _visits(rng, data, visited, seconds, start, app_rate[village_index[visited]])
        workers = [(int(m), str(c), "seed") for m, c in zip(data["member"][visited], data["county"][visited],
                                                            strict=True)]
        results = store_visits(items, workers, None, now=evening)
        day_created = sum(1 for r in results if r["status"] == "created")
        created += day_created
        step(day_created)
    return created


class Positions(NamedTuple):
    """Where the phones were at a day's visits: WGS84, and as each phone sent it (``crs``)."""

    lon: np.ndarray
    lat: np.ndarray
    raw_lon: np.ndarray
    raw_lat: np.ndarray
    crs: np.ndarray
    accuracy: np.ndarray
    mocked: np.ndarray
    far: np.ndarray  # the phone was somewhere else (away from its cell)


def draw_positions(rng: np.random.Generator, data: dict[str, np.ndarray], visited: np.ndarray) -> Positions:
    """The phones' positions at the visits of ``visited`` households, drawn in bulk (both seeders): near
    the home, 1 % mocked, 1.5 % inaccurate, 1 % somewhere else; 60 % sent in GCJ-02, 10 % in BD-09."""
    count = len(visited)
    lon = data["lon"][visited].astype(float) + rng.normal(0, 0.00008, count)
    lat = data["lat"][visited].astype(float) + rng.normal(0, 0.00008, count)
    accuracy = rng.gamma(2.0, 8.0, count)
    roll = rng.random(count)
    mocked = roll < 0.01
    inaccurate = (roll >= 0.01) & (roll < 0.025)
    accuracy[inaccurate] = rng.uniform(150, 600, int(inaccurate.sum()))
    far = (roll >= 0.025) & (roll < 0.035)
    lon[far] += rng.choice([-1, 1], int(far.sum())) * rng.uniform(0.006, 0.02, int(far.sum()))
    crs_roll = rng.random(count)
    crs = np.where(crs_roll < 0.6, "gcj02", np.where(crs_roll < 0.7, "bd09", "wgs84"))
    raw_lon, raw_lat = lon.copy(), lat.copy()
    for name, convert in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        mask = crs == name
        raw_lon[mask], raw_lat[mask] = convert(lon[mask], lat[mask])
    return Positions(lon, lat, raw_lon, raw_lat, crs, accuracy, mocked, far)


def _visits(rng: np.random.Generator, data: dict[str, np.ndarray], visited: np.ndarray, seconds: np.ndarray,
            start: datetime, app_rate: np.ndarray) -> list[dict]:
    """The day's visits as phones would send them (drawn in bulk, then shaped item by item)."""
    count = len(visited)
    where = draw_positions(rng, data, visited)
    outcomes = rng.choice(list(OUTCOME_P), size=count, p=list(OUTCOME_P.values()))
    installed = rng.random(count) < app_rate
    topic_counts = rng.integers(1, 4, count)
    topic_picks = rng.integers(0, len(TOPIC_CHOICES), (count, 3))
    reached = rng.random(count)
    ids = rng.bytes(16 * count)
    items = []
    for k, index in enumerate(visited.tolist()):
        completed = outcomes[k] == "completed"
        residents = int(data["residents"][index])
        items.append({
            "id": str(uuid.UUID(bytes=ids[16 * k:16 * k + 16], version=4)),
            "household_id": int(data["id"][index]),
            "grid_code": str(data["grid"][index]),
            "visited_at": (start + timedelta(seconds=float(seconds[k]))).isoformat(),
            "outcome": str(outcomes[k]),
            "location": {"lon": float(where.raw_lon[k]), "lat": float(where.raw_lat[k]), "crs": str(where.crs[k]),
                         "accuracy_m": round(float(where.accuracy[k]), 1), "mocked": bool(where.mocked[k])},
            "topics": sorted({TOPIC_CHOICES[t] for t in topic_picks[k, :topic_counts[k]].tolist()})
            if completed else [],
            "app_installed": bool(installed[k]) if completed else None,
            "residents_reached": 1 + int(reached[k] * residents) if completed and residents else None,
            "vulnerable_reached": (1 if bool(data["vulnerable"][index]) else 0) if completed else None,
            "notes": None,
        })
    return items
