"""Benchmark: p95 time of z13 tier-3 cell tiles across the city (target ≤ 50 ms).

Tiles are drawn at random from those covering the city's bounding box, in the
scratch database ``grids_bench`` (full scale), through the service the endpoint
calls, as the city administrator (no scope filter) and as a county admin.

Baseline, in the same run: the same areas fetched over HTTP (in-process client) both
ways, as a map without vector tiles would have to: the tier-3 cells of the tile's
bounding box as GeoJSON from ``/api/v1/grids?bbox=…&f=geojson``, against the tile from
``/api/v1/tiles/grids/13/x/y.pbf``. Time and bytes are compared.
"""
from __future__ import annotations

import math
import random
import secrets
import statistics
import time
from types import SimpleNamespace

from common import seeded_bench_app
from rich.console import Console
from sqlalchemy import select

from config import CITY_BBOX
from core.extensions import db
from core.scope import set_scope
from grids.accounts.models import User
from grids.accounts.services import ensure_admin, tokens_for
from outreach.tiles import services

# Tiles are timed as a supervisor sees them: the session's scope (set per run) limits them.
SUPERVISOR = SimpleNamespace(role="county_admin", member_id=None)


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
        body, _ = services.tile("grids", 13, x, y, SUPERVISOR)
        times.append((time.perf_counter() - started) * 1000)
        nonempty += bool(body)
    set_scope(db.session, None)
    return times, nonempty


def tile_bbox(z: int, x: int, y: int) -> str:
    """``minlon,minlat,maxlon,maxlat`` of a tile."""
    n = 2 ** z

    def lat(row):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))
    return f"{x / n * 360 - 180:.7f},{lat(y + 1):.7f},{(x + 1) / n * 360 - 180:.7f},{lat(y):.7f}"


def over_http(app, samples: list[tuple[int, int]]) -> dict[str, tuple[list[float], int]]:
    """Milliseconds per request and total bytes: the vector tile vs the same area's cells as GeoJSON."""
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.role == "city_admin").order_by(User.id))
        if admin is None:  # a scratch database seeded without accounts
            admin, _created = ensure_admin(secrets.token_urlsafe(16), app.config["GRIDS_CITY_CODE"])
        token = tokens_for(admin, with_refresh=False)["access_token"]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    urls = {
        "vector tile": lambda x, y: f"/api/v1/tiles/grids/13/{x}/{y}.pbf",
        "GeoJSON": lambda x, y: f"/api/v1/grids?tier=3&page_size=1000&f=geojson&bbox={tile_bbox(13, x, y)}",
    }
    results = {}
    for label, url in urls.items():
        times, size = [], 0
        for x, y in samples:
            started = time.perf_counter()
            response = client.get(url(x, y))
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            size += len(response.get_data())
        results[label] = (times, size)
    return results


def main() -> None:
    console = Console()
    app = seeded_bench_app(console)
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
    areas = samples[:200]
    results = over_http(app, areas)
    tile_times, tile_bytes = results["vector tile"]
    json_times, json_bytes = results["GeoJSON"]
    tile_p95, json_p95 = (statistics.quantiles(t, n=20)[18] for t in (tile_times, json_times))
    console.print(f"over HTTP, {len(areas)} z13 areas: vector tile p95 {tile_p95:.1f} ms, "
                  f"{tile_bytes / 1e6:.1f} MB; "
                  f"GeoJSON baseline p95 {json_p95:.1f} ms, {json_bytes / 1e6:.1f} MB: "
                  f"{json_p95 / tile_p95:.1f}× faster, {json_bytes / max(tile_bytes, 1):.1f}× smaller")


if __name__ == "__main__":
    main()
