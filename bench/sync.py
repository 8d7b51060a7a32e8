"""Benchmark: visit sync over HTTP with gunicorn (2 workers), batches of 500 vs one per request.

Targets (DESIGN.md): ≥ 5,000 visits/s in batches of 500 (validation and flags
included) and ≥ 10× the one-visit-per-request rate, measured in the same run
against the scratch database ``grids_bench`` (seeded at full scale on first use).
Only 127.0.0.1 is contacted; the server is started and stopped by this script.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import seeded_bench_app
from rich.console import Console
from sqlalchemy import text

from core.coords import wgs84_to_gcj02
from core.extensions import db
from grids.accounts.models import User
from grids.accounts.services import hash_password, tokens_for

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "5057"))


def make_workers(count: int, skip: int = 0) -> list[dict]:
    """Grid-worker accounts for chiefs of tier-3 cells, with their households and tokens."""
    rows = db.session.execute(text("""
        select distinct on (a.member_id) a.member_id, m.village_code
        from assignments a join members m on m.id = a.member_id
        join grids g on g.code = a.grid_code and g.tier = 3
        where a.role = 'chief' and a.valid_to is null
        order by a.member_id limit :n offset :skip
    """), {"n": count, "skip": skip}).all()
    workers = []
    # Every account has the same password: hashed once (Argon2 costs ~0.2 s, which for 1,540 accounts
    # was five minutes of set-up before anything was measured).
    password_hash = hash_password("bench-password-1")
    for member_id, village in rows:
        username = f"bench_worker_{member_id}"
        user = db.session.scalar(db.select(User).where(User.username == username))
        if user is None:
            user = User(username=username, password_hash=password_hash, role="grid_worker", scope=village,
                        member_id=member_id, created_by="bench")
            db.session.add(user)
            db.session.flush()
        households = db.session.execute(text("""
            select h.id, h.grid_code, ST_X(h.location), ST_Y(h.location) from households h
            join assignments a on a.grid_code = h.grid_code and a.valid_to is null and a.member_id = :m
            where h.village_code = :v and h.removed_at is null order by h.id
        """), {"m": member_id, "v": village}).all()
        if households:
            token = tokens_for(user, with_refresh=False)["access_token"]
            workers.append({"token": token, "households": households})
    db.session.commit()
    return workers


def visits_for(worker: dict, count: int, rng: np.random.Generator, start: datetime) -> list[dict]:
    """``count`` visits to the worker's households, one every ~20 minutes going back from ``start``."""
    items = []
    for i in range(count):
        household_id, grid_code, lon, lat = worker["households"][int(rng.integers(len(worker["households"])))]
        gx, gy = wgs84_to_gcj02(lon + rng.normal(0, 0.00005), lat + rng.normal(0, 0.00005))
        items.append({
            "id": str(uuid.uuid4()), "household_id": household_id, "grid_code": grid_code,
            "visited_at": (start - timedelta(minutes=20 * i)).isoformat(), "outcome": "completed",
            "location": {"lon": float(gx), "lat": float(gy), "crs": "gcj02", "accuracy_m": 15.0},
            "topics": ["investment", "app_install"], "app_installed": bool(rng.random() < 0.6),
            "residents_reached": 2, "vulnerable_reached": 0, "notes": None,
        })
    return items


def post(body: bytes, token: str) -> dict:
    """POST /visits/sync on the local server."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    connection.request("POST", "/api/v1/visits/sync", body=body,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"sync answered {response.status}: {payload}")
    return payload


def run(requests: list[tuple[bytes, str]], threads: int) -> tuple[float, list[dict]]:
    """Send every request with ``threads`` concurrent clients; (seconds, results)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        payloads = list(pool.map(lambda r: post(*r), requests))
    return time.perf_counter() - started, [item for p in payloads for item in p["results"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=40, help="batches of 500")
    parser.add_argument("--singles", type=int, default=1500, help="one-visit requests")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--skip-members", type=int, default=0,
                        help="use members after the first N (repeated runs, e.g. before/after comparisons, each "
                             "with workers whose weeks hold only their own history)")
    args = parser.parse_args()
    console = Console()
    app = seeded_bench_app(console)
    with app.app_context():
        workers = make_workers(args.batches + args.singles, args.skip_members)
        database_url = db.engine.url.render_as_string(hide_password=False)
    console.print(f"{len(workers)} worker accounts ready")
    rng = np.random.default_rng(5)
    now = datetime.now(UTC) - timedelta(minutes=1)
    batch_requests = [(json.dumps({"visits": visits_for(workers[i % len(workers)], 500, rng, now)}).encode(),
                       workers[i % len(workers)]["token"]) for i in range(args.batches)]
    single_requests = []
    for i in range(args.singles):
        worker = workers[(args.batches + i) % len(workers)]
        single_requests.append((json.dumps({"visits": visits_for(worker, 1, rng, now - timedelta(days=1))}).encode(),
                                worker["token"]))

    env = dict(os.environ, DATABASE_URL=database_url, GRIDS_ENV="development", PYTHONPATH=str(ROOT))
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--bind",
                               f"127.0.0.1:{PORT}", "--log-level", "warning", "app:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
                connection.request("GET", "/api/v1/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        run(batch_requests[:2], 2)  # warm both workers (connections, caches); not counted
        batch_seconds, batch_results = run(batch_requests[2:], args.threads)
        single_seconds, single_results = run(single_requests, args.threads)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    batch_visits, single_visits = len(batch_results), len(single_results)
    batch_rate, single_rate = batch_visits / batch_seconds, single_visits / single_seconds
    statuses = {s: sum(1 for r in batch_results + single_results if r["status"] == s)
                for s in ("created", "duplicate", "conflict", "rejected")}
    flagged = sum(1 for r in batch_results if r["flags"])
    console.print(f"batches of 500: {batch_visits:,} visits in {batch_seconds:.1f} s = {batch_rate:,.0f} visits/s "
                  f"({flagged:,} flagged)")
    console.print(f"one per request: {single_visits:,} visits in {single_seconds:.1f} s = {single_rate:,.0f} visits/s")
    console.print(f"statuses: {statuses}")
    console.print(f"batch rate {batch_rate:,.0f}/s vs target 5,000: {'PASS' if batch_rate >= 5000 else 'FAIL'}; "
                  f"{batch_rate / single_rate:.1f}× the one-per-request rate vs target 10×: "
                  f"{'PASS' if batch_rate >= 10 * single_rate else 'FAIL'}")


if __name__ == "__main__":
    main()
