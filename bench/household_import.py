"""Benchmark: import a 100,000-row household CSV through the API, against a per-row baseline.

Target (issue 3): ≤ 10 s on 2 cores.  The baseline places and inserts rows one at a
time (a placement query and an INSERT per row), as a naive importer would, measured
on a sample in the same run and extrapolated.  Runs in the scratch database
``grids_bench`` (seeded at full scale on first use); imported rows are removed after.
"""
from __future__ import annotations

import argparse
import csv
import io
import time

import numpy as np
from common import seeded_bench_app
from rich.console import Console
from sqlalchemy import text

from core.coords import wgs84_to_gcj02
from core.extensions import db
from grids import queries as territory
from grids.accounts.services import ensure_admin, tokens_for
from grids.households import queries as household_queries
from grids.households.models import HOUSEHOLD_TAGS


def make_csv(rows: int, rng: np.random.Generator) -> bytes:
    """Household points near existing ones, a third of them in GCJ-02."""
    anchors = db.session.execute(text(
        "select ST_X(location), ST_Y(location) from households tablesample system (20) limit :n"),
        {"n": rows}).all()
    points = np.array(anchors * (rows // len(anchors) + 1))[:rows] + rng.normal(0, 0.0003, size=(rows, 2))
    crs = rng.choice(["wgs84", "gcj02", "cgcs2000"], size=rows)
    gcj = crs == "gcj02"
    points[gcj, 0], points[gcj, 1] = wgs84_to_gcj02(points[gcj, 0], points[gcj, 1])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["lon", "lat", "crs", "address", "residents", "tags"])
    for i in range(rows):
        tags = ";".join(t for t in HOUSEHOLD_TAGS if rng.random() < 0.08)
        writer.writerow([f"{points[i, 0]:.7f}", f"{points[i, 1]:.7f}", crs[i], f"测试路{i}号",
                         int(rng.integers(1, 7)), tags])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def per_row_baseline(content: bytes, sample: int) -> float:
    """Seconds per row when every row is placed and inserted with its own statements."""
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    started = time.perf_counter()
    for index, row in enumerate(reader):
        if index == sample:
            break
        lon, lat = float(row["lon"]), float(row["lat"])
        placement = household_queries.cell_covering(lon, lat)
        if placement:
            db.session.execute(text(
                "insert into households (county_code, grid_code, village_code, location, address, residents, tags) "
                "values (:county, :grid, :village, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :address, "
                ":residents, :tags)"),
                {"county": placement[1][:6], "grid": placement[0], "village": placement[1], "lon": lon, "lat": lat,
                 "address": row["address"], "residents": int(row["residents"]),
                 "tags": [t for t in row["tags"].split(";") if t]})
    elapsed = time.perf_counter() - started
    db.session.rollback()
    return elapsed / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    args = parser.parse_args()
    console = Console()
    app = seeded_bench_app(console)
    with app.app_context():
        admin, _ = ensure_admin("bench-admin-password", app.config["GRIDS_CITY_CODE"])
        token = tokens_for(admin, with_refresh=False)["access_token"]
        before = db.session.execute(text("select max(id) from households")).scalar()
        content = make_csv(args.rows, np.random.default_rng(1))
        db.session.commit()
        console.print(f"CSV: {args.rows:,} rows, {len(content) / 1e6:.1f} MB")
        seconds_per_row = per_row_baseline(content, args.baseline_sample)

    client = app.test_client()
    started = time.perf_counter()
    response = client.post("/api/v1/households/import?partial=true", data=content,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    elapsed = time.perf_counter() - started
    result = response.get_json()
    assert response.status_code == 200, result

    with app.app_context():
        db.session.execute(text("delete from households where id > :before"), {"before": before})
        territory.refresh_rollups()
        db.session.commit()

    baseline_total = seconds_per_row * args.rows
    console.print(f"set-based import: {elapsed:.2f} s for {args.rows:,} rows "
                  f"({args.rows / elapsed:,.0f} rows/s); written {result['written']:,}, "
                  f"rejected {len(result['rejected'])}")
    console.print(f"per-row baseline: {seconds_per_row * 1000:.2f} ms/row on {args.baseline_sample:,} rows → "
                  f"{baseline_total:.1f} s extrapolated to {args.rows:,}")
    console.print(f"speed-up {baseline_total / elapsed:.1f}×; target ≤ 10 s: "
                  f"{'PASS' if elapsed <= 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
