"""The field app (/m/), driven in Debian's headless Chromium through Playwright on a 360×740 phone.

The browser talks to a real gunicorn (``live_server``). A grid worker signs in online, goes
offline, reloads (the app comes from the service worker), logs 30 visits and acknowledges a fund
warning, closes the browser, opens a new one on the same profile and comes back online: the server
then holds exactly those visits once each and the warning's event. Two more tests lose a sync's
answer (the retry is a duplicate, not a second visit) and correct a rejected visit. axe-core checks
the worklist, the visit form and the inbox. Screenshots go to ``test-output/field-app/``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("GRIDS_TEST_OUTPUT", ROOT / "test-output")) / "field-app"
AXE = ROOT / "fieldapp" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
PHONE = {"width": 360, "height": 740}
READY = "document.body.dataset.state === 'ready'"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
_accounts = iter(range(1, 1000))


def _require_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("GRIDS_REQUIRE_TOOLS") == "1":
            pytest.fail("chromium is required (scripts/system_tools.py chromium)")
        pytest.skip("Debian's chromium is not installed")
    if not (ROOT / "fieldapp" / "build" / "sw.js").exists():
        pytest.fail("the field app is not built: run make fieldapp")


@pytest.fixture(scope="module")
def playwright():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


def _api(live_server, path: str, token: str | None = None, body: dict | None = None, method: str | None = None):
    """(status, JSON) of a request to the live API."""
    request = urllib.request.Request(live_server.url + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Accept-Language": "zh-CN",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _token(live_server, username: str, password: str) -> str:
    status, body = _api(live_server, "/auth/token", body={"username": username, "password": password})
    assert status == 200, body
    return body["access_token"]


def _worker_with_warning(live_server) -> dict:
    """A grid-worker account for the member an urgent warning was routed to, on a household of a cell
    the member holds in their home village; the member's households and the warning."""
    admin = _token(live_server, live_server.username, live_server.password)
    police = f"police_field_{uuid.uuid4().hex[:8]}"
    status, body = _api(live_server, "/users", admin, {"username": police, "password": "police-password-1",
                                                       "role": "police", "scope": "610900000000"})
    assert status == 201, body
    police_token = _token(live_server, police, "police-password-1")
    offset = next(_accounts)
    status, households = _api(live_server, f"/households?page_size=40&page={offset}", admin)
    assert status == 200 and households, households
    for household in households:
        status, warning = _api(live_server, "/warnings", police_token, {
            "external_ref": f"field-{uuid.uuid4().hex}", "level": "urgent", "reason": "investment",
            "household_id": household["id"], "phone": "13800138000"})
        assert status == 201, warning
        member_id = warning["assigned_member_id"]
        if member_id is None:
            continue
        status, member = _api(live_server, f"/members/{member_id}", admin)
        if member["village_code"] != household["village_code"]:
            continue  # cells outside the home village are issue 16's access rule, tested elsewhere
        username = f"field_worker_{member_id}_{uuid.uuid4().hex[:4]}"
        status, body = _api(live_server, "/users", admin, {"username": username, "password": "field-password-1",
                                                           "role": "grid_worker", "scope": member["village_code"],
                                                           "member_id": member_id})
        if status != 201:
            continue
        token = _token(live_server, username, "field-password-1")
        status, worklist = _api(live_server, "/me/worklist", token)
        assert status == 200, worklist
        if len(worklist["households"]) < 3:
            continue
        # The seeded history may hold this member's visits later today (received "in the future"):
        # what the phone sends is told apart from them by id, not only by time.
        status, seeded = _api(live_server, f"/visits?member={member_id}&page_size=1000", admin)
        assert status == 200, seeded
        return {"username": username, "password": "field-password-1", "member_id": member_id, "admin": admin,
                "token": token, "warning": warning, "households": worklist["households"],
                "seeded_visits": {v["id"] for v in seeded}}
    pytest.fail("no member with a routed warning and households in the sample")


def _launch(playwright, live_server, profile: Path, worker: dict, offline: bool = False):
    """A Chromium with a persistent profile (closing it and launching again keeps IndexedDB and the
    service worker), as a 360×740 phone standing at the first household."""
    lon, lat = worker["households"][0]["location"]["coordinates"]
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=PHONE,
        device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN", base_url=live_server.url,
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 12}, permissions=["geolocation"],
        offline=offline, service_workers="allow")


def _open(playwright, live_server, profile: Path, worker: dict, errors: list[str],
          offline: bool = False) -> tuple[object, object]:
    """The phone's browser on ``profile`` and its page, whose errors go to ``errors``."""
    context = _launch(playwright, live_server, profile, worker, offline=offline)
    page = context.pages[0] if context.pages else context.new_page()
    _watch(page, errors)
    return context, page


def _watch(page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)


def _wait(page, expression: str, timeout: int = 30_000) -> None:
    """Poll ``expression`` (the page's CSP forbids the eval that wait_for_function needs)."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(f"(() => {{ try {{ return {expression}; }} catch (e) {{ return false; }} }})()"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout} ms: {expression}; the page shows: "
                               + page.evaluate("location.hash + ' | ' + document.getElementById('main').innerText"))
        time.sleep(0.05)


def _go(page, hash_: str) -> None:
    page.evaluate(f"window.fieldApp.navigate({json.dumps(hash_)})")
    _wait(page, READY)


def _sign_in(page, worker: dict) -> None:
    page.goto("/m/")
    _wait(page, "['signed-out', 'ready'].includes(document.body.dataset.state)")
    page.fill("#username", worker["username"])
    page.fill("#password", worker["password"])
    page.click("#signin-submit")
    _wait(page, "document.querySelectorAll('#worklist li').length > 0")
    # The service worker has installed (precached the shell and libraries) and controls the page.
    _wait(page, "document.body.dataset.offlineReady === 'true' && !!navigator.serviceWorker.controller")


def _queue(page) -> list[dict]:
    return page.evaluate("window.fieldApp.db.queue.toArray()")


def _log_visit(page, household_id, notes: str, when: datetime | None = None) -> None:
    _go(page, f"#/visit?household={household_id}")
    _wait(page, "document.getElementById('position-status').textContent.includes('±')")
    if when is not None:
        page.fill("#visited-at", when.astimezone().strftime("%Y-%m-%dT%H:%M"))
    page.check("input[name=topics][value=investment]")
    page.fill("#residents-reached", "2")
    page.fill("#notes", notes)
    page.click("#save-visit")
    _wait(page, "!document.getElementById('visit-form')")


def _screenshot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=False)


def _server_visits(live_server, worker: dict, since: datetime) -> list[dict]:
    status, visits = _api(live_server, f"/visits?member={worker['member_id']}&page_size=1000", worker["admin"])
    assert status == 200, visits
    return [v for v in visits
            if datetime.fromisoformat(v["received_at"]) >= since and v["id"] not in worker["seeded_visits"]]


def test_offline_visits_and_warning_survive_a_closed_browser(playwright, live_server, tmp_path):
    worker = _worker_with_warning(live_server)
    started = datetime.now(UTC) - timedelta(seconds=5)
    profile = tmp_path / "profile"
    errors: list[str] = []
    context, page = _open(playwright, live_server, profile, worker, errors)
    _sign_in(page, worker)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert "户" in page.inner_text("#worklist-summary")
    # The worklist puts the household with the open warning first.
    assert page.get_attribute("#worklist li:first-child", "data-id") == str(worker["warning"]["household_id"])
    _screenshot(page, "worklist")

    context.set_offline(True)
    page.reload()
    _wait(page, READY)
    assert page.evaluate("navigator.onLine") is False
    assert page.evaluate("!!navigator.serviceWorker.controller")  # the page came from the service worker
    households = [h["id"] for h in worker["households"]]
    page.click("#worklist li:first-child a")
    _wait(page, "!!document.getElementById('log-visit')")
    page.click("#log-visit")
    _wait(page, "!!document.getElementById('visit-form')")
    _screenshot(page, "visit-form")
    for index in range(30):
        _log_visit(page, households[index % len(households)], f"离线走访 {index + 1}")
    _go(page, "#/warnings")
    _screenshot(page, "inbox")
    page.click(f"#warnings li[data-id='{worker['warning']['id']}'] a")
    _wait(page, "!!document.getElementById('acknowledge')")
    status, _ = _api(live_server, f"/warnings/{worker['warning']['id']}/phone", worker["token"])
    if status == 200:  # the assigned member's full number, kept on the phone for calling offline
        assert page.get_attribute("#call", "href") == "tel:13800138000"
    page.click("#acknowledge")
    _wait(page, "document.getElementById('warning-status').textContent === '已签收'")
    queued = _queue(page)
    assert len(queued) == 31 and {item["state"] for item in queued} == {"waiting"}
    visit_ids = {item["id"] for item in queued if item["kind"] == "visit"}
    assert len(visit_ids) == 30
    assert _server_visits(live_server, worker, started) == []  # nothing left the phone
    context.close()

    # A new browser on the same profile, still offline: the queue is there; then the network returns.
    context, page = _open(playwright, live_server, profile, worker, errors, offline=True)
    page.goto("/m/#/queue")
    _wait(page, READY)
    assert page.locator("#queue li[data-state=waiting]").count() == 31
    context.set_offline(False)
    _wait(page, "document.querySelectorAll('#queue li[data-state=created]').length === 31", timeout=60_000)
    _screenshot(page, "queue-sent")
    stored = _server_visits(live_server, worker, started)
    assert sorted(v["id"] for v in stored) == sorted(visit_ids)  # exactly those 30, once each
    status, warning = _api(live_server, f"/warnings/{worker['warning']['id']}", worker["admin"])
    assert status == 200 and warning["status"] == "acknowledged"
    assert [e["type"] for e in warning["events"] if e.get("by") == worker["username"]] == ["acknowledged"]
    assert {item["state"] for item in _queue(page)} == {"created"}
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_lost_answer_is_retried_as_a_duplicate(playwright, live_server, tmp_path):
    worker = _worker_with_warning(live_server)
    started = datetime.now(UTC) - timedelta(seconds=5)
    errors: list[str] = []
    context, page = _open(playwright, live_server, tmp_path / "profile", worker, errors)
    _sign_in(page, worker)
    requests: list[str] = []

    def lose_the_answer(route):
        # The request reaches the server (which stores the visit); its answer never reaches the phone.
        requests.append(route.request.post_data)
        route.fetch()
        route.abort("connectionreset")

    page.route("**/api/v1/visits/sync", lose_the_answer)
    _log_visit(page, worker["households"][0]["id"], "应答丢失")
    _wait(page, "window.fieldApp.failures > 0")
    assert len(requests) == 1
    [item] = _queue(page)
    assert item["state"] == "sent"  # sent, never answered
    assert [v["id"] for v in _server_visits(live_server, worker, started)] == [item["id"]]
    page.unroute("**/api/v1/visits/sync")
    _go(page, "#/queue")
    page.click("#send-now")
    _wait(page, "document.querySelectorAll('#queue li[data-state=duplicate]').length === 1")
    assert page.inner_text("#queue li .state") == "重复（已接收）"
    assert [v["id"] for v in _server_visits(live_server, worker, started)] == [item["id"]]  # still one visit
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_rejected_visit_shows_its_chinese_reason_and_is_corrected(playwright, live_server, tmp_path):
    worker = _worker_with_warning(live_server)
    started = datetime.now(UTC) - timedelta(seconds=5)
    errors: list[str] = []
    context, page = _open(playwright, live_server, tmp_path / "profile", worker, errors)
    _sign_in(page, worker)
    # A visit dated 40 days ago: the server keeps 30 days and rejects it.
    _log_visit(page, worker["households"][1]["id"], "日期填错", when=datetime.now(UTC) - timedelta(days=40))
    _go(page, "#/queue")
    _wait(page, "document.querySelectorAll('#queue li[data-state=rejected]').length === 1")
    reason = page.inner_text("#queue li .reason-text")
    assert page.inner_text("#queue li .state") == "被拒绝"
    _screenshot(page, "rejected")
    [item] = _queue(page)
    # The phone shows the server's own reason, asked for in Chinese (the same body again: still rejected).
    status, answer = _api(live_server, "/visits/sync", worker["token"], {"visits": [item["body"]]})
    assert status == 200 and answer["results"][0]["status"] == "rejected"
    assert reason == answer["results"][0]["errors"]["visited_at"][0]
    page.click("#queue li a.button")
    _wait(page, "!!document.getElementById('visit-form')")
    assert page.input_value("#notes") == "日期填错"
    page.fill("#visited-at", datetime.now().strftime("%Y-%m-%dT%H:%M"))
    page.click("#save-visit")
    # Saving ends on the household page; going to the queue before then would be overtaken by it.
    _wait(page, "!document.getElementById('visit-form')")
    _go(page, "#/queue")
    _wait(page, "document.querySelectorAll('#queue li[data-state=created]').length === 1")
    assert page.locator("#queue li .reason").count() == 0
    [stored] = _server_visits(live_server, worker, started)
    assert stored["id"] == item["id"] and stored["notes"] == "日期填错"  # the same client id, corrected
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert CHINESE.search(reason), f"the server's per-visit reason is not in Chinese: {reason!r}"


def test_no_serious_accessibility_violations(playwright, live_server, tmp_path):
    worker = _worker_with_warning(live_server)
    context = _launch(playwright, live_server, tmp_path / "profile", worker)
    page = context.pages[0] if context.pages else context.new_page()
    _sign_in(page, worker)
    axe = AXE.read_text()
    found = {}
    for name, hash_ in (("worklist", "#/"), ("visit form", f"#/visit?household={worker['households'][0]['id']}"),
                        ("inbox", "#/warnings"), ("warning", f"#/warning/{worker['warning']['id']}"),
                        ("queue", "#/queue")):
        _go(page, hash_)
        # Evaluated through the DevTools protocol: the page's CSP rightly refuses injected scripts.
        result = page.evaluate(axe + "\n;axe.run(document, {resultTypes: ['violations']})"
                               ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, "
                               "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))")
        found[name] = [v for v in result if v["impact"] in ("serious", "critical")]
    context.close()
    assert not any(found.values()), found
