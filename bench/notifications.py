"""Benchmark: 1,000 urgent fund warnings in a burst, from ``POST /warnings`` to the phone.

Target (issue 17): the time from sending ``POST /warnings`` to the Web Push request arriving at the push
service, and to the event reaching a Server-Sent Events client, has p95 ≤ 2 s; printed beside the
time the same warnings take to be routed (the POST's own response time, the baseline in this run).

Real processes on this machine: gunicorn (2 workers, threaded) and the job worker (``flask jobs
worker``) on the scratch database ``grids_bench`` (the full reference data set); a local push
service (the tests' fake: it records arrival times, and the bench decrypts every message like a
browser) and SSE clients for a sample of the recipients.  Each warning goes to a different member
(cells held by exactly one member), each with an account and a push subscription; what the bench
adds is deleted afterwards.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from common import seeded_bench_app
from rich.console import Console
from sqlalchemy import select, text

from core.extensions import db
from grids.accounts.models import User
from grids.accounts.services import hash_password, tokens_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fakes import FakePushService  # noqa: E402

PREFIX = "benchnote"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def cleanup() -> None:
    """Remove what an earlier run of this bench left."""
    db.session.execute(text("""
        delete from notification_deliveries where notification_id in (
            select id from notifications where user_id in (select id from users where username like :p)
               or (object_type = 'warning' and object_id in (select id::text from warnings where created_by like :p)))
    """), {"p": PREFIX + "%"})
    db.session.execute(text("""
        delete from notifications where user_id in (select id from users where username like :p)
           or (object_type = 'warning' and object_id in (select id::text from warnings where created_by like :p))
    """), {"p": PREFIX + "%"})
    db.session.execute(text("delete from push_subscriptions where user_id in (select id from users "
                            "where username like :p)"), {"p": PREFIX + "%"})
    db.session.execute(text("delete from warning_events where warning_id in (select id from warnings "
                            "where created_by like :p)"), {"p": PREFIX + "%"})
    db.session.execute(text("delete from warnings where created_by like :p"), {"p": PREFIX + "%"})
    db.session.execute(text("delete from users where username like :p"), {"p": PREFIX + "%"})
    db.session.commit()


def prepare(count: int, push: FakePushService, browser_keys: dict) -> tuple[list[tuple[int, int]], dict, str]:
    """``count`` (household, member) pairs in cells held by one member each, an account and a push
    subscription per member, and a police account; (targets, member → token, police token)."""
    targets = db.session.execute(text("""
        with single as (
            select a.grid_code, min(a.member_id) as member_id
            from assignments a join members m on m.id = a.member_id and m.active
            where a.valid_to is null and right(a.grid_code, 3) <> '-00'
            group by a.grid_code having count(distinct a.member_id) = 1
        ), one_cell_each as (
            select distinct on (member_id) member_id, grid_code from single order by member_id, grid_code
        )
        select (select min(h.id) from households h where h.grid_code = o.grid_code and h.removed_at is null),
               o.member_id, left(o.grid_code, 12)
        from one_cell_each o
        where exists (select from households h where h.grid_code = o.grid_code and h.removed_at is null)
        order by md5(o.grid_code) limit :n
    """), {"n": count}).all()
    password_hash = hash_password(uuid.uuid4().hex)  # nobody signs in with it: tokens are issued directly
    db.session.execute(text("""
        insert into users (username, password_hash, role, scope, member_id, created_by)
        select :p || '_' || m, :hash, 'grid_worker', v, m, 'bench'
        from unnest(cast(:members as int[]), cast(:villages as text[])) as t(m, v)
    """), {"p": PREFIX, "hash": password_hash, "members": [t[1] for t in targets],
           "villages": [t[2] for t in targets]})
    db.session.execute(text("""
        insert into users (username, password_hash, role, scope, created_by)
        values (:name, :hash, 'police', '610900000000', 'bench')
    """), {"name": PREFIX + "_police", "hash": password_hash})
    db.session.execute(text("""
        insert into push_subscriptions (user_id, endpoint, p256dh, auth)
        select u.id, :base || '/push/' || u.member_id, :p256dh, :auth from users u where u.username like :p
          and u.member_id is not null
    """), {"base": push.base, "p256dh": browser_keys["p256dh"], "auth": browser_keys["auth"],
           "p": PREFIX + "_%"})
    db.session.commit()
    users = db.session.scalars(select(User).where(User.username.like(PREFIX + "_%"))).all()
    tokens = {u.member_id: tokens_for(u, with_refresh=False)["access_token"] for u in users if u.member_id}
    police = next(u for u in users if u.role == "police")
    return [(t[0], t[1]) for t in targets], tokens, tokens_for(police, with_refresh=False)["access_token"]


class Stream(threading.Thread):
    """An SSE client; records (warning id, arrival time) per event."""

    def __init__(self, base: str, token: str, arrivals: queue.Queue):
        super().__init__(daemon=True)
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.connection.request("GET", "/api/v1/me/notifications/stream",
                                headers={"Authorization": f"Bearer {token}"})
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.status
        self.arrivals = arrivals

    def run(self) -> None:
        try:
            for raw in self.response:
                line = raw.decode()
                if line.startswith("data:"):
                    item = json.loads(line[5:])
                    self.arrivals.put((item["object"]["id"], time.time()))
        except (OSError, ValueError):
            pass


def wait_for_health(base: str, process: subprocess.Popen) -> None:
    parts = urlsplit(base)
    for _ in range(150):
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn did not start") from None
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warnings", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=20, help="recipients with an SSE client open")
    parser.add_argument("--clients", type=int, default=8, help="concurrent POST /warnings")
    args = parser.parse_args()
    console = Console()
    app = seeded_bench_app(console)
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    scratch = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    with FakePushService() as push:
        browser = push.browser("keys")
        keys = browser.subscription()["keys"]
        with app.app_context():
            cleanup()
            targets, tokens, police = prepare(args.warnings, push, keys)
        console.print(f"{len(targets):,} warnings to {len(tokens):,} members, each with an account and a push "
                      f"subscription; {args.streams} of them with an SSE client")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": database, "SECRET_KEY": app.config["SECRET_KEY"],
               "GRIDS_PUSH_ALLOW_HTTP": "1", "GRIDS_QUIET_HOURS": "", "GRIDS_LOG_LEVEL": "WARNING",
               "GRIDS_SMS_FAKE_FILE": str(scratch / "sms.jsonl"), "FLASK_APP": "app:create_app"}
        threads = args.streams + args.clients + 8
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", str(threads // 2 + 4),
                                "--bind", f"127.0.0.1:{port}", "app:create_app()"], cwd=ROOT, env=env,
                               stdout=open(scratch / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)
        worker = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=ROOT, env=env,
                                  stdout=open(scratch / "worker.log", "wb"), stderr=subprocess.STDOUT)
        try:
            wait_for_health(base, web)
            time.sleep(3)  # the worker's start-up (imports, listener)
            arrivals: queue.Queue = queue.Queue()
            streamed = [member for _, member in targets[:args.streams]]
            streams = [Stream(base, tokens[member], arrivals) for member in streamed]
            for stream in streams:
                stream.start()
            sent: dict[str, float] = {}
            routed: list[float] = []
            parts = urlsplit(base)
            local = threading.local()

            def post(household: int) -> None:
                if not hasattr(local, "connection"):
                    local.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                body = json.dumps({"external_ref": f"B-{uuid.uuid4().hex[:16]}", "level": "urgent",
                                   "reason": "investment", "household_id": household})
                started = time.time()
                local.connection.request("POST", "/api/v1/warnings", body=body, headers={
                    "Authorization": f"Bearer {police}", "Content-Type": "application/json"})
                response = local.connection.getresponse()
                answer = json.loads(response.read())
                assert response.status == 201, answer
                routed.append(time.time() - started)
                sent[str(answer["id"])] = started

            burst_started = time.time()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(post, [household for household, _ in targets]))
            burst_seconds = time.time() - burst_started
            push.wait_for(len(targets), timeout=120)
            deadline = time.time() + 30
            events: dict[str, float] = {}
            while len(events) < len(streamed) and time.time() < deadline:
                try:
                    warning_id, at = arrivals.get(timeout=1)
                except queue.Empty:
                    continue
                events.setdefault(warning_id, at)
        finally:
            worker.terminate()
            web.terminate()
            worker.wait(timeout=30)
            web.wait(timeout=30)
        pushed: dict[str, float] = {}
        for request in push.received():
            message = browser.decrypt(request["body"])
            pushed.setdefault(message["object"]["id"], request["at"])
    push_latency = [pushed[w] - sent[w] for w in sent if w in pushed]
    sse_latency = [events[w] - sent[w] for w in sent if w in events]
    with app.app_context():
        cleanup()

    def row(name: str, values: list[float]) -> str:
        return (f"{name:<34} n={len(values):>5,}  p50 {statistics.median(values):6.3f} s  p95 {p95(values):6.3f} s  "
                f"max {max(values):6.3f} s")

    console.print(f"burst: {len(sent):,} urgent warnings posted in {burst_seconds:.1f} s by {args.clients} clients")
    console.print(row("routing (POST /warnings answered)", routed))
    console.print(row("POST → push request at the service", push_latency))
    console.print(row("POST → SSE event", sse_latency))
    lost = len(sent) - len(push_latency)
    verdict = p95(push_latency) <= 2 and p95(sse_latency) <= 2 and lost == 0
    console.print(f"target p95 ≤ 2 s for push and SSE, nothing lost ({lost} pushes missing): "
                  f"{'PASS' if verdict else 'FAIL'}; push p95 = {p95(push_latency) / p95(routed):.1f}× routing p95")


if __name__ == "__main__":
    main()
