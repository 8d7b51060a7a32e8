"""Benchmark: p95 time of z13 tier-3 cell tiles across the city (target ≤ 50 ms).

Tiles are drawn at random from those covering the city's bounding box, in the
scratch database ``grids_bench`` (full scale), through the service the endpoint
calls, as the city administrator (no scope filter) and as a county admin.
"""
from __future__ import annotations

import math
import random
import statistics
import time

from common import bench_app
from rich.console import Console

from config import CITY_BBOX
from core.extensions import db
from core.scope import set_scope
from outreach.tiles import services


def tile_range(z: int) -> tuple[range, range]:
    """x and y ranges of the tiles covering the city."""
    def xy(lon, lat):
        n = 2 ** z
        return (int((lon + 180) / 360 * n),
                int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n))
    x0, y1 = xy(CITY_BBOX[0], CITY_BBOX[1])
    x1, y0 = xy(CITY_BBOX[2], CITY_BBOX[3])
    return range(x0, x1 + 1), range(y0, y1 + 1)


def measure(samples: list[tuple[int, int]], prefix: str | None) -> tuple[list[float], int]:
    times, nonempty = [], 0
    set_scope(db.session, prefix)
    for x, y in samples:
        started = time.perf_counter()
        body, _ = services.tile("grids", 13, x, y)
        times.append((time.perf_counter() - started) * 1000)
        nonempty += bool(body)
    set_scope(db.session, None)
    return times, nonempty


def main() -> None:
    console = Console()
    app = bench_app("grids_bench", recreate=False)
    xs, ys = tile_range(13)
    random.seed(13)
    samples = [(random.choice(xs), random.choice(ys)) for _ in range(400)]
    with app.app_context():
        measure(samples[:20], None)  # warm the caches
        for label, prefix in (("city administrator", None), ("county admin 610902", "610902")):
            times, nonempty = measure(samples, prefix)
            p95 = statistics.quantiles(times, n=20)[18]
            console.print(f"{label}: {len(times)} z13 tiles of {len(xs) * len(ys):,} ({nonempty} with cells): "
                          f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms; "
                          f"target p95 ≤ 50 ms: {'PASS' if p95 <= 50 else 'FAIL'}")


if __name__ == "__main__":
    main()
