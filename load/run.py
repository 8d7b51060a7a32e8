"""``make load``: several hundred simulated phones and a few supervisors against gunicorn (2 workers).

Seeds a scratch database ``grids_load`` (scale 0.1), writes accounts and tokens,
serves the app on 127.0.0.1, runs the Locust scenario headless for a bounded time,
then checks that the database holds exactly the visits acknowledged as created,
once each.  Prints throughput and p50/p95/p99 per endpoint and writes them to
``docs/load.md``.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import bench_app  # noqa: E402
from sqlalchemy import text  # noqa: E402

from core.extensions import db  # noqa: E402
from grids.accounts.services import create_user, tokens_for  # noqa: E402
from grids.seed import seed_ankang  # noqa: E402
from load.accounts import chief_phones  # noqa: E402

PORT = int(os.environ.get("LOAD_PORT", "5061"))
PHONES = int(os.environ.get("LOAD_PHONES", "300"))
SUPERVISORS = int(os.environ.get("LOAD_SUPERVISORS", "10"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
VAR = ROOT / "var"


def prepare() -> str:
    """The scratch city, phone and supervisor accounts; returns the database URL."""
    app = bench_app("grids_load", recreate=True)
    with app.app_context():
        seed_ankang(scale=0.1, seed=5)
        phones = chief_phones(PHONES, "load")
        supervisors = []
        counties = db.session.execute(text("select code from regions where level = 'county' order by code")).scalars()
        for index, county in enumerate(list(counties)[:SUPERVISORS]):
            user = create_user(None, {"username": f"load_supervisor_{index}", "password": "load-password-1",
                                      "role": "county_admin", "scope": county, "member_id": None})
            supervisors.append({"token": tokens_for(user, with_refresh=False)["access_token"], "region": county})
        (VAR / "load_users.json").write_text(json.dumps({"phones": phones, "supervisors": supervisors}))
        return db.engine.url.render_as_string(hide_password=False)


def report(stats_csv: Path) -> list[dict]:
    """Rows of Locust's per-endpoint statistics."""
    with open(stats_csv, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    url = prepare()
    env = dict(os.environ, DATABASE_URL=url, GRIDS_ENV="development", PYTHONPATH=str(ROOT),
               GRIDS_LOG_LEVEL="WARNING", GRIDS_ACCESS_TOKEN_SECONDS="3600")
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--bind",
                               f"127.0.0.1:{PORT}", "--log-level", "warning", "app:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    acks = VAR / "load_acks.json"
    try:
        time.sleep(3)
        locust_env = dict(env, LOAD_USERS=str(VAR / "load_users.json"), LOAD_ACKS=str(acks))
        subprocess.run([str(Path(sys.executable).with_name("locust")), "-f", str(ROOT / "load" / "locustfile.py"),
                        "--headless", "-u", str(PHONES + SUPERVISORS), "-r", "50", "-t", f"{SECONDS}s",
                        "--host", f"http://127.0.0.1:{PORT}", "--csv", str(VAR / "load"), "--only-summary",
                        "--stop-timeout", "30", "--loglevel", "WARNING"], env=locust_env, check=False)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    acknowledged = set(json.loads(acks.read_text()))
    app = bench_app("grids_load", recreate=False)
    with app.app_context():
        stored = db.session.execute(text("select id::text from visits")).scalars().all()
    rows = report(VAR / "load_stats.csv")
    total = next(r for r in rows if r["Name"] == "Aggregated")
    exact = acknowledged == set(stored) and len(stored) == len(set(stored))
    lines = [f"# Load test ({datetime.now(UTC):%Y-%m-%d}, 2-core machine, gunicorn 2 workers, scale 0.1 city)",
             "", f"{PHONES} phones and {SUPERVISORS} supervisors for {SECONDS} s (`make load`).", "",
             "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                     f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |")
    lines += ["", f"Visits acknowledged as created: {len(acknowledged):,} "
              f"({len(acknowledged) / SECONDS:,.0f} visits/s); stored: {len(stored):,}; "
              f"acknowledged = stored, once each: {'yes' if exact else 'NO'}."]
    text_report = "\n".join(lines)
    print(text_report)
    (ROOT / "docs" / "load.md").write_text(text_report + "\n", encoding="utf-8")
    sys.exit(0 if exact and int(total["Failure Count"]) == 0 else 1)


if __name__ == "__main__":
    main()
