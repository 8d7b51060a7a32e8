"""Benchmark: the field app (/m/) in Debian's Chromium, CPU throttled 4× and a slow mobile network
emulated through the DevTools protocol (Lighthouse's "slow 4G": 150 ms, 1.6 Mbit/s down, 750 kbit/s up).

Prints, each against its target and a baseline measured in the same run:

- the compressed (gzip -9) size of what the service worker precaches, without the map library
  (target ≤ 150 KB; baseline: the map library alone);
- a cold start offline (a new browser process on the member's profile, no network) to an
  interactive worklist of 500 households (target ≤ 1.5 s; baseline: downloading that worklist over
  the slow network, which an online-only app would wait for);
- the sync of 500 queued visits (target ≤ 3 s; baseline: one visit per request, as a naive client).

A scratch database ``grids_bench_field`` is seeded small, one member's cell is filled up to 500
households through the household import, and gunicorn serves it on 127.0.0.1 (started and stopped
here).
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import bench_app
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from core.extensions import db
from grids.accounts.services import create_user, ensure_admin
from grids.cli import run_seed
from grids.households.services import import_csv

ROOT = Path(__file__).resolve().parent.parent
FIELDAPP = ROOT / "fieldapp"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOUSEHOLDS = 500
PASSWORD = "bench-field-password-1"
SLOW_4G = {"offline": False, "latency": 150, "downloadThroughput": 1.6 * 1024 * 1024 / 8,
           "uploadThroughput": 750 * 1024 / 8}
# Where a cold start's time goes: ms since navigation at each mark (the app sets grids-*; the store
# library, Dexie, is loaded after the worklist is drawn: grids-store comes after grids-ready).
STEPS = """(() => { const at = {};
  const nav = performance.getEntriesByType('navigation')[0];
  at.response_end = nav.responseEnd;
  for (const name of ['grids-modules', 'grids-worklist-read', 'grids-worklist-ordered', 'grids-ready', 'grids-store']) {
    const mark = performance.getEntriesByName(name)[0]; at[name.replace('grids-', '')] = mark ? mark.startTime : null;
  }
  return at; })()"""
TARGETS = {"size_kb": 150, "start_s": 1.5, "sync_s": 3.0}
URL_PREFIXES = {"/m/static/": FIELDAPP / "static", "/m/vendor/dexie/": FIELDAPP / "node_modules/dexie/dist",
                "/m/vendor/maplibre-gl/": FIELDAPP / "node_modules/maplibre-gl/dist", "/m/": FIELDAPP / "shell"}


def _median_mark(times: list[float | None]) -> str:
    """Median of a mark over the cold starts that reached it (a late mark such as the store's opening may not
    have fired yet when the worklist was ready), or a dash."""
    reached = [t for t in times if t is not None]
    return f"{statistics.median(reached):.0f}" if reached else "–"


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def app_size() -> tuple[int, int, list[tuple[str, int]]]:
    """(app bytes gzipped without the map library, map library bytes gzipped, per file)."""
    worker = FIELDAPP / "build" / "sw.js"
    files = [worker, *sorted((FIELDAPP / "build").glob("workbox-*.js"))]
    for url in re.findall(r'url:"([^"]+)"', worker.read_text()):
        prefix = next(p for p in URL_PREFIXES if url.startswith(p))
        files.append(URL_PREFIXES[prefix] / url[len(prefix):])
    sizes = [(str(f.relative_to(FIELDAPP)), gz(f)) for f in files]
    library = sum(size for name, size in sizes if "maplibre-gl" in name)
    return sum(size for name, size in sizes if "maplibre-gl" not in name), library, sizes


def prepare(console: Console) -> tuple[str, str]:
    """Seed the scratch database, a member with 500 households and an account; (database URL, username)."""
    app = bench_app("grids_bench_field")
    with app.app_context():
        run_seed(0.01, 7, reset=False, console=console)
        ensure_admin(PASSWORD, app.config["GRIDS_CITY_CODE"])
        member_id, village, grid_code = db.session.execute(text("""
            select a.member_id, m.village_code, a.grid_code from assignments a join members m on m.id = a.member_id
            join grids g on g.code = a.grid_code and g.tier = 3
            where a.valid_to is null and m.village_code = g.village_code
              and not exists (select 1 from assignments b join grids c on c.code = b.grid_code
                              where b.member_id = a.member_id and b.valid_to is null and c.tier < 3)
            order by a.member_id limit 1
        """)).one()
        have = db.session.execute(text("""
            select count(*) from households h join assignments a on h.grid_code like a.grid_code || '%'
            where a.member_id = :m and a.valid_to is null and h.removed_at is null
        """), {"m": member_id}).scalar()
        points = db.session.execute(text("""
            select ST_X(p.geom), ST_Y(p.geom) from grids g,
                 ST_Dump(ST_GeneratePoints(ST_Buffer(g.boundary::geography, -5)::geometry, :n, 16)) p
            where g.code = :g
        """), {"g": grid_code, "n": max(0, HOUSEHOLDS - have)}).all()
        rows = ["lon,lat,crs,address,residents,tags"] + [
            f"{lon:.7f},{lat:.7f},wgs84,测试路{i + 1}号,{1 + i % 5},{'elderly' if i % 7 == 0 else ''}"
            for i, (lon, lat) in enumerate(points)]
        result = import_csv("\n".join(rows).encode(), partial=True)
        console.print(f"member {member_id}: {have} households, {result.get('accepted', result)} added in {grid_code}")
        username = f"bench_field_{member_id}"
        create_user(None, {"username": username, "password": PASSWORD, "role": "grid_worker", "scope": village,
                           "member_id": member_id})
        db.session.commit()
        return db.engine.url.render_as_string(hide_password=False), username


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait(page, expression: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.05)


def throttle(context, page, network: bool) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    if network:
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)


def measure(playwright, base: str, username: str, starts: int, singles: int) -> dict:
    profile = Path(tempfile.mkdtemp(prefix="field-app-bench-"))
    launch = dict(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport={"width": 360, "height": 740},
                  base_url=base, locale="zh-CN", service_workers="allow")
    rows = f"document.querySelectorAll('#worklist li').length >= {HOUSEHOLDS}"
    try:
        # First sign-in, online and unthrottled: the service worker installs, the worklist is stored.
        context = playwright.chromium.launch_persistent_context(str(profile), **launch)
        page = context.pages[0]
        page.goto("/m/")
        wait(page, "!!document.getElementById('username')")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#signin-submit")
        wait(page, rows)
        wait(page, "document.body.dataset.offlineReady === 'true' && !!navigator.serviceWorker.controller")
        context.close()

        # Cold starts offline: a new browser process each time, CPU 4x slower.
        start_times, steps = [], []
        for _ in range(starts):
            context = playwright.chromium.launch_persistent_context(str(profile), offline=True, **launch)
            page = context.pages[0]
            throttle(context, page, network=False)
            page.goto("/m/")
            wait(page, f"performance.getEntriesByName('grids-ready').length > 0 && {rows}")
            start_times.append(page.evaluate("performance.getEntriesByName('grids-ready')[0].startTime") / 1000)
            steps.append(page.evaluate(STEPS))
            context.close()

        # Online on the slow network: the worklist download (baseline), then 500 queued visits synced.
        context = playwright.chromium.launch_persistent_context(str(profile), **launch)
        page = context.pages[0]
        page.goto("/m/")
        wait(page, rows)
        wait(page, "window.fieldApp && window.FieldShared && !window.fieldApp.syncing")
        throttle(context, page, network=True)
        download = page.evaluate("""async () => { const t = performance.now();
            const a = await FieldShared.api('/me/worklist'); if (a.status !== 200) throw new Error(a.status);
            return (performance.now() - t) / 1000; }""")
        queue = """async ([count, offset]) => {
            const db = FieldShared.open();
            const households = (await db.households.toArray()).slice(0, count);
            const now = Date.now();
            return households.map((h, i) => ({ id: crypto.randomUUID(), kind: 'visit', state: 'waiting',
              created_at: new Date(now + i).toISOString(), household_id: h.id, household_ref: null, errors: [],
              flags: [],
              body: { id: null, household_id: h.id, grid_code: h.grid_code,
                visited_at: new Date(now - (offset + i) * 1000).toISOString(), outcome: 'completed',
                location: { lon: h.location.coordinates[0], lat: h.location.coordinates[1], crs: 'wgs84',
                            accuracy_m: 10 },
                topics: ['investment', 'app_install'], app_installed: true, residents_reached: 2 } }))
              .map((item) => { item.body.id = item.id; return item; }); }"""
        sync_seconds, created = page.evaluate("""async () => {
            const items = await (QUEUE)([COUNT, 0]);
            await FieldShared.open().queue.bulkPut(items);
            const t = performance.now();
            await FieldShared.sync({ refreshAfter: false });
            const seconds = (performance.now() - t) / 1000;
            const states = await FieldShared.open().queue.where('id').anyOf(items.map((i) => i.id)).toArray();
            return [seconds, states.filter((i) => i.state === 'created').length]; }"""
                                              .replace("QUEUE", queue).replace("COUNT", str(HOUSEHOLDS)))
        single_seconds = page.evaluate("""async () => {
            const items = await (QUEUE)([COUNT, 1000]);
            const t = performance.now();
            for (const item of items) {
              const a = await FieldShared.api('/visits/sync', { method: 'POST', body: { visits: [item.body] } });
              if (a.status !== 200 || a.body.results[0].status !== 'created') throw new Error(JSON.stringify(a.body));
            }
            return (performance.now() - t) / 1000; }""".replace("QUEUE", queue).replace("COUNT", str(singles)))
        context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return {"starts": start_times, "steps": steps, "download": download, "sync": sync_seconds, "created": created,
            "singles": single_seconds, "singles_count": singles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5, help="cold offline starts (the median is reported)")
    parser.add_argument("--singles", type=int, default=50, help="visits sent one per request (the baseline)")
    args = parser.parse_args()
    console = Console()
    if not (FIELDAPP / "build" / "sw.js").exists():
        sys.exit("the field app is not built: run make fieldapp")
    size, library, sizes = app_size()
    database_url, username = prepare(console)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, GRIDS_ENV="development", PYTHONPATH=str(ROOT),
               GRIDS_LOGIN_RATE_LIMIT="1000 per minute")
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--threads", "4",
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(150):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/api/v1/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            figures = measure(playwright, f"http://127.0.0.1:{port}", username, args.starts, args.singles)
    finally:
        server.terminate()
        server.wait(timeout=20)

    files = Table(title="precached by the service worker (gzip -9)")
    files.add_column("file")
    files.add_column("KB", justify="right")
    for name, value in sizes:
        files.add_row(name, f"{value / 1000:.1f}")
    console.print(files)
    start = statistics.median(figures["starts"])
    per_single = figures["singles"] / figures["singles_count"]
    table = Table(title="field app: CPU 4x slower, slow 4G (150 ms, 1.6 Mbit/s down, 750 kbit/s up)")
    for column in ("measure", "value", "target", "baseline (same run)", "ratio"):
        table.add_column(column)
    table.add_row("app size without the map library, gzip", f"{size / 1000:.1f} KB", f"≤ {TARGETS['size_kb']} KB",
                  f"map library {library / 1000:.1f} KB", f"{size / library:.2f}×")
    table.add_row(f"cold start offline to {HOUSEHOLDS} households (median of {len(figures['starts'])})",
                  f"{start:.2f} s", f"≤ {TARGETS['start_s']} s",
                  f"worklist download {figures['download']:.2f} s", f"{start / figures['download']:.2f}×")
    table.add_row(f"sync of {HOUSEHOLDS} queued visits ({figures['created']} created)", f"{figures['sync']:.2f} s",
                  f"≤ {TARGETS['sync_s']} s",
                  f"one per request: {per_single * HOUSEHOLDS:.1f} s ({figures['singles_count']} measured)",
                  f"{figures['sync'] / (per_single * HOUSEHOLDS):.3f}×")
    console.print(table)
    console.print("cold starts: " + ", ".join(f"{s:.2f} s" for s in figures["starts"]))
    console.print("median ms since navigation: " + ", ".join(
        f"{name} {_median_mark([step[name] for step in figures['steps']])}" for name in figures["steps"][0]))
    verdicts = {  # one line each, read by `make bench`
        f"app size {size / 1000:.1f} KB ≤ {TARGETS['size_kb']} KB": size / 1000 <= TARGETS["size_kb"],
        f"cold offline start {start:.2f} s ≤ {TARGETS['start_s']} s": start <= TARGETS["start_s"],
        f"sync of {HOUSEHOLDS} queued visits {figures['sync']:.2f} s ≤ {TARGETS['sync_s']} s, "
        f"{figures['created']} created": figures["sync"] <= TARGETS["sync_s"] and figures["created"] == HOUSEHOLDS,
    }
    for line, passed in verdicts.items():
        console.print(f"{line}: {'PASS' if passed else 'FAIL'}")
    met = all(verdicts.values())
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
