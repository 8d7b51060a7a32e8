"""Crash safety: phones keep syncing while a gunicorn worker and then PostgreSQL are killed.

Runs against a scratch database ``grids_crash`` (scale 0.05) in the project-local
cluster, which it kills with SIGKILL-like immediate shutdown and restarts.  Phones
retry every batch until they get an answer; afterwards every visit acknowledged as
created or duplicate must be stored exactly once, and nothing may be half-written
(every key has its visit and every visit its key; the daily counters add up to the
visits).  Only 127.0.0.1 is contacted.  Not part of ``make test``: ``make crash``.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import bench_app  # noqa: E402
from sqlalchemy import text  # noqa: E402

from core.extensions import db  # noqa: E402
from grids.seed import seed_ankang  # noqa: E402
from load.accounts import chief_phones  # noqa: E402

PORT = int(os.environ.get("CRASH_PORT", "5059"))
PHONES, BATCHES, PER_BATCH = 12, 25, 80


def prepare() -> tuple[list[dict], str]:
    """A small seeded city, phone accounts for chiefs of tier-3 cells, and their visits to send."""
    app = bench_app("grids_crash", recreate=True)
    with app.app_context():
        seed_ankang(scale=0.05, seed=3)
        phones = []
        start = datetime.now(UTC) - timedelta(minutes=5)
        for phone in chief_phones(PHONES, "crash"):
            households = phone["households"]
            batches = []
            for b in range(BATCHES):
                batch = []
                for k in range(PER_BATCH):
                    household, grid, lon, lat = households[(b * PER_BATCH + k) % len(households)]
                    batch.append({"id": str(uuid.uuid4()), "household_id": household, "grid_code": grid,
                                  "visited_at": (start - timedelta(minutes=7 * (b * PER_BATCH + k))).isoformat(),
                                  "outcome": "completed", "location": {"lon": lon, "lat": lat}})
                batches.append(batch)
            phones.append({"token": phone["token"], "batches": batches, "acknowledged": {}, "retries": 0})
        url = db.engine.url.render_as_string(hide_password=False)
    return phones, url


def push(phone: dict, stop: threading.Event) -> None:
    """Send every batch until the server answers it; retry after any failure."""
    for batch in phone["batches"]:
        body = json.dumps({"visits": batch}).encode()
        while not stop.is_set():
            try:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                connection.request("POST", "/api/v1/visits/sync", body=body, headers={
                    "Authorization": f"Bearer {phone['token']}", "Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                connection.close()
                if response.status == 200:
                    for result in json.loads(payload)["results"]:
                        phone["acknowledged"][result["id"]] = result["status"]
                    break
            except (OSError, http.client.HTTPException):
                pass
            phone["retries"] += 1
            time.sleep(0.3)


def pid_of_postgres() -> int:
    return int((ROOT / "var" / "pgdata" / "postmaster.pid").read_text().split()[0])


def main() -> None:
    phones, url = prepare()
    env = dict(os.environ, DATABASE_URL=url, GRIDS_ENV="development", PYTHONPATH=str(ROOT),
               GRIDS_SYNC_RATE_LIMIT="100000 per minute", GRIDS_LOG_LEVEL="WARNING")
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--bind",
                               f"127.0.0.1:{PORT}", "--log-level", "warning", "app:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    stop = threading.Event()
    started = time.perf_counter()
    try:
        time.sleep(3)
        threads = [threading.Thread(target=push, args=(phone, stop)) for phone in phones]
        for thread in threads:
            thread.start()
        time.sleep(2)
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        os.kill(int(workers[0]), signal.SIGKILL)
        print(f"{time.perf_counter() - started:5.1f} s  SIGKILL gunicorn worker {workers[0]}")
        time.sleep(3)
        postgres = pid_of_postgres()
        os.kill(postgres, signal.SIGKILL)
        print(f"{time.perf_counter() - started:5.1f} s  SIGKILL PostgreSQL postmaster {postgres}")
        time.sleep(3)
        # The children of a killed postmaster linger briefly; wait, then start the cluster again.
        for _ in range(50):
            if subprocess.run(["pgrep", "-u", "postgres", "-f", "postgres"], capture_output=True).returncode:
                break
            time.sleep(0.2)
        subprocess.run([sys.executable,
                        str(ROOT / "scripts" / "localdb.py"), "start"], check=True)
        print(f"{time.perf_counter() - started:5.1f} s  PostgreSQL restarted (crash recovery)")
        for thread in threads:
            thread.join(timeout=300)
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    acknowledged = {vid: status for phone in phones for vid, status in phone["acknowledged"].items()}
    sent = sum(len(b) for phone in phones for b in phone["batches"])
    app = bench_app("grids_crash", recreate=False)
    with app.app_context():
        stored = db.session.execute(text("select id::text from visits")).scalars().all()
        keys = db.session.execute(text("select id::text from visit_keys")).scalars().all()
        counted = db.session.execute(text("select coalesce(sum(visits), 0) from grid_day_counts")).scalar()
    checks = {
        "every batch answered": len(acknowledged) == sent,
        "every answer created or duplicate": set(acknowledged.values()) <= {"created", "duplicate"},
        "acknowledged = stored": set(acknowledged) == set(stored),
        "stored once each": len(stored) == len(set(stored)),
        "no half-written visit (keys = visits)": set(keys) == set(stored),
        "daily counters add up": counted == len(stored),
    }
    statuses = {s: list(acknowledged.values()).count(s) for s in ("created", "duplicate")}
    print(f"sent {sent:,} visits from {len(phones)} phones; answers {statuses}; stored {len(stored):,}; "
          f"retries after failures {sum(p['retries'] for p in phones):,}; {time.perf_counter() - started:.0f} s")
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
