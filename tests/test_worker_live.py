"""The worker as it runs in production (``flask jobs worker``, a separate process) beside the live
gunicorn server: an overdue warning is escalated by the scheduled job with no manual command; Server-Sent
Events clients receive their notifications; killing the worker with SIGKILL mid-delivery and restarting it
loses nothing and records nothing twice."""
from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.fakes import FakePushService, sms_sent
from tests.helpers import SINGLE_MEMBER_CELL
from tests.test_dashboard import browser, page  # noqa: F401 (the browser fixtures, shared)

ROOT = Path(__file__).resolve().parent.parent
CITY = "610900000000"
PASSWORD = "live-worker-password-1"


def live_db(app) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    return url.set(database=f"{url.database}_live", drivername="postgresql").render_as_string(hide_password=False)


class Api:
    """JSON over real HTTP to the live server."""

    def __init__(self, base: str):
        self.base = urlsplit(base)

    def call(self, method: str, path: str, body=None, token: str | None = None) -> tuple[int, object]:
        connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=30)
        headers = {"Content-Type": "application/json", "Accept-Language": "zh-CN"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                           headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, json.loads(raw) if raw else None

    def token(self, username: str, password: str) -> str:
        status, body = self.call("POST", "/auth/token", {"username": username, "password": password})
        assert status == 200, body
        return body["access_token"]

    def user(self, admin: str, role: str, scope: str, member_id: int | None = None) -> str:
        username = f"{role[:8]}_{uuid.uuid4().hex[:8]}"
        status, body = self.call("POST", "/users", {"username": username, "password": PASSWORD, "role": role,
                                                    "scope": scope, "member_id": member_id}, admin)
        assert status == 201, body
        return self.token(username, PASSWORD)


class Stream:
    """An SSE client reading /me/notifications/stream in a thread; events land in ``events``."""

    def __init__(self, base: str, token: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.connection.request("GET", "/api/v1/me/notifications/stream",
                                headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream",
                                         "Accept-Language": "zh-CN"})
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type").startswith("text/event-stream")
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event: dict = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in event:
                        self.events.put({**event, "data": json.loads(event["data"]), "at": time.time()})
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    field, _, value = line.partition(":")
                    event[field] = value.lstrip(" ")
        except (OSError, ValueError):
            pass

    def next(self, timeout: float = 20) -> dict:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def worker_env(app, live_server, tmp_path):
    """Environment of a worker on the live server's database, with quick escalation checks."""
    env = {**os.environ, "DATABASE_URL": live_db(app), "SECRET_KEY": app.config["SECRET_KEY"],
           "FLASK_APP": "app:create_app", "GRIDS_LOG_FORMAT": "text", "GRIDS_PUSH_ALLOW_HTTP": "1",
           "GRIDS_SMS_FAKE_FILE": str(tmp_path / "sms.jsonl"), "GRIDS_QUIET_HOURS": "",
           "GRIDS_DELIVERY_POLL_SECONDS": "1",
           # every 2 seconds instead of every minute, so the test need not wait a minute
           "GRIDS_JOB_SCHEDULES": json.dumps({"escalate_warnings": "* * * * * */2"})}
    if app.config.get("GRIDS_PHONE_KEY"):
        env["GRIDS_PHONE_KEY"] = app.config["GRIDS_PHONE_KEY"]
    return env


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    output = open(log, "ab")  # noqa: SIM115 (kept open for the process)
    return subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=ROOT, env=env,
                            stdout=output, stderr=subprocess.STDOUT)


def wait_ready(database: str, before: int = 0, timeout: float = 60) -> None:
    """Wait until procrastinate registers a worker newer than ``before`` (the newest id then; a killed
    worker's row stays until the next worker prunes it, so counting rows would not do)."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        with psycopg.connect(database) as connection:
            if connection.execute("select coalesce(max(id), 0) from procrastinate_workers").fetchone()[0] > before:
                return
        time.sleep(0.3)
    raise AssertionError("the worker did not start")


def workers(database: str) -> int:
    """The newest worker id procrastinate has registered (0: none yet)."""
    with psycopg.connect(database) as connection:
        return connection.execute("select coalesce(max(id), 0) from procrastinate_workers").fetchone()[0]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def single_member_cell(database: str) -> tuple[str, int, int, str]:
    with psycopg.connect(database) as connection:
        return tuple(connection.execute(SINGLE_MEMBER_CELL).fetchone())


def test_overdue_warning_escalates_with_no_command_and_sse_clients_are_told(app, live_server, worker_env,
                                                                            tmp_path):
    api = Api(live_server.url)
    admin = api.token(live_server.username, live_server.password)
    database = live_db(app)
    grid, member_id, household, village = single_member_cell(database)
    police = api.user(admin, "police", CITY)
    member = api.user(admin, "grid_worker", village, member_id)
    supervisor = api.user(admin, "township_supervisor", village[:9] + "000")
    before = workers(database)
    worker = start_worker(worker_env, tmp_path / "worker.log")
    wait_ready(database, before)
    member_stream, supervisor_stream = Stream(live_server.url, member), Stream(live_server.url, supervisor)
    try:
        status, warning = api.call("POST", "/warnings", {"external_ref": f"L-{uuid.uuid4().hex[:10]}",
                                                         "level": "urgent", "reason": "investment",
                                                         "household_id": household}, police)
        assert status == 201 and warning["assigned_member_id"] == member_id
        posted = time.time()
        event = member_stream.next()
        assert event["event"] == "notification" and event["data"]["kind"] == "warning_assigned"
        assert event["data"]["object"] == {"type": "warning", "id": str(warning["id"])}
        assert event["id"] == str(event["data"]["id"]) and "紧急" in event["data"]["title"]
        assert event["at"] - posted < 5

        # A short deadline, then nothing but the running worker: the job escalates it.
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute("update warnings set deadline = now() + interval '2 seconds', "
                               "ack_deadline = now() + interval '2 seconds' where id = %s", (warning["id"],))
        escalated = supervisor_stream.next(timeout=30)
        assert escalated["data"]["kind"] == "warning_escalated"
        assert escalated["data"]["object"]["id"] == str(warning["id"])
        status, detail = api.call("GET", f"/warnings/{warning['id']}", token=admin)
        assert detail["escalation"] == "township"
        assert [e["escalated_to"] for e in detail["events"] if e["type"] == "escalated"] == ["township"]

        status, jobs = api.call("GET", "/jobs", token=admin)
        escalate = next(job for job in jobs if job["name"] == "escalate_warnings")
        assert escalate["last_status"] == "succeeded" and escalate["runs"] >= 1
        assert escalate["schedule"] == "* * * * * */2" and escalate["last_duration_ms"] is not None
        texts = [m["text"] for m in sms_sent(worker_env["GRIDS_SMS_FAKE_FILE"])]
        assert any(t.startswith(f"【反诈网格】紧急资金预警{warning['id']}") for t in texts)

        # A stream reconnecting with Last-Event-ID gets what it missed, in order.
        status, listed = api.call("GET", "/me/notifications", token=member)
        assert [n["id"] for n in listed] == [event["data"]["id"]]
    finally:
        member_stream.close()
        supervisor_stream.close()
        stop(worker)


def test_sigkill_mid_delivery_loses_nothing_and_records_nothing_twice(app, live_server, worker_env, tmp_path):
    api = Api(live_server.url)
    admin = api.token(live_server.username, live_server.password)
    database = live_db(app)
    grid, member_id, household, village = single_member_cell(database)
    police = api.user(admin, "police", CITY)
    member = api.user(admin, "grid_worker", village, member_id)
    count = 40
    with FakePushService(delay=0.3) as push:
        browser = push.browser("sigkill")
        status, _ = api.call("POST", "/me/push-subscriptions", browser.subscription(), member)
        assert status == 201
        ids = []
        for _ in range(count):  # written while no worker runs: all of it waits in the outbox
            status, warning = api.call("POST", "/warnings", {"external_ref": f"K-{uuid.uuid4().hex[:10]}",
                                                             "level": "urgent", "reason": "investment",
                                                             "household_id": household}, police)
            assert status == 201
            ids.append(str(warning["id"]))

        def recorded() -> dict[str, int]:
            with psycopg.connect(database) as connection:
                rows = connection.execute("""
                    select d.channel || ':' || d.status, count(*) from notification_deliveries d
                    join notifications n on n.id = d.notification_id
                    where n.object_type = 'warning' and n.object_id = any(%s) group by 1""", (ids,)).fetchall()
            return dict(rows)

        env = {**worker_env, "GRIDS_DELIVERY_BATCH": "10", "GRIDS_PUSH_THREADS": "4"}
        first = start_worker(env, tmp_path / "worker1.log")
        push.wait_for(14, "/push/sigkill", timeout=30)
        first.send_signal(signal.SIGKILL)  # mid-batch: some pushes left, their delivery not yet recorded
        first.wait()
        at_kill = recorded()
        arrived_at_kill = {str(browser.decrypt(r["body"])["id"]) for r in push.received("/push/sigkill")}
        assert at_kill.get("push:sent", 0) < len(arrived_at_kill) < count, (at_kill, len(arrived_at_kill))

        second = start_worker(env, tmp_path / "worker2.log")
        try:
            ends = time.monotonic() + 60
            while time.monotonic() < ends and recorded() != {"in_app:sent": count, "push:sent": count,
                                                             "sms:sent": count}:
                time.sleep(0.5)
        finally:
            stop(second)
        assert recorded() == {"in_app:sent": count, "push:sent": count, "sms:sent": count}

        with psycopg.connect(database) as connection:
            notifications = [str(n) for (n,) in connection.execute(
                "select id from notifications where object_type = 'warning' and object_id = any(%s)", (ids,))]
            attempts = connection.execute("""
                select max(d.attempts) from notification_deliveries d join notifications n on n.id = d.notification_id
                where n.object_id = any(%s)""", (ids,)).fetchone()[0]
        assert len(notifications) == count  # one per recipient per cause
        assert attempts == 1  # a delivery killed before it was recorded was never counted as an attempt
        received = [str(browser.decrypt(r["body"])["id"]) for r in push.received("/push/sigkill")]
        assert set(received) == set(notifications)  # nothing lost; repeats are dropped by id
        references = [m["reference"] for m in sms_sent(env["GRIDS_SMS_FAKE_FILE"])]
        assert set(references) == {f"n{n}" for n in notifications}


LAGGING_TOWNSHIP = """
    select left(g.village_code, 9) || '000' from grids g left join grid_coverage c on c.grid_code = g.code
    where g.tier = 3 and g.households > 0
      and (c.last_completed_on is null or c.last_completed_on < current_date - 1)
    group by 1 order by count(*) desc limit 1
"""


def test_the_dashboard_shows_a_new_notification_as_it_arrives(app, live_server, worker_env, tmp_path,
                                                              page):  # noqa: F811 (the fixture)
    from tests.test_dashboard import _shot, _sign_in, _wait

    api = Api(live_server.url)
    admin = api.token(live_server.username, live_server.password)
    database = live_db(app)
    with psycopg.connect(database) as connection:
        township = connection.execute(LAGGING_TOWNSHIP).fetchone()[0]
    username = f"bell_{uuid.uuid4().hex[:6]}"
    status, body = api.call("POST", "/users", {"username": username, "password": PASSWORD,
                                               "role": "township_supervisor", "scope": township}, admin)
    assert status == 201, body
    before = workers(database)
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        wait_ready(database, before)
        _sign_in(page, username, PASSWORD)
        _wait(page, "document.getElementById('notifications').dataset.live === 'true'")
        assert page.is_hidden("#notifications-count")
        # The morning alert, run now as the scheduler would: the worker delivers it, the page hears it.
        # (a one-day window: the live database has a month of visits, so few cells lag thirty days)
        subprocess.run([sys.executable, "-m", "flask", "jobs", "run", "lagging_alert"], cwd=ROOT,
                       env={**worker_env, "GRIDS_LAGGING_DAYS": "1"}, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        _wait(page, "!document.getElementById('notification-toast').hidden", timeout=20_000)
        assert page.inner_text("#notifications-count") == "1"
        assert page.inner_text("#notification-toast").startswith("走访滞后网格")
        page.click("#notifications-toggle")
        row = page.locator("#notifications-list li.unread")
        assert row.count() == 1 and "近 1 天没有入户走访" in row.inner_text()
        _shot(page, "notification-arrived")
        row.click()
        _wait(page, "document.getElementById('notifications-count').hidden")
        status, listed = api.call("GET", "/me/notifications", token=api.token(username, PASSWORD))
        assert listed[0]["kind"] == "lagging_alert" and listed[0]["read_at"] is not None
    finally:
        stop(worker)
