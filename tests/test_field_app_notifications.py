"""Notifications in the field app (/m/), in Debian's headless Chromium through Playwright against the live
gunicorn server and the job worker (``flask jobs worker``, which delivers the outbox):

- a warning routed to the signed-in member while the app is open arrives on the live stream (Server-Sent
  Events): it appears in the inbox without a reload, with a toast, and opening it marks it read on the server;
- a push message delivered to the service worker (DevTools' ``ServiceWorker.deliverPushMessage``) is shown as
  a notification, once per notification id (the tag), and kept for the inbox; offline, the inbox and its
  notification button work without an error;
- the button asks for the permission and subscribes with the server's VAPID key; the server accepts the
  subscription the app posts, the worker's Web Push for a new warning reaches that endpoint signed and
  encrypted for it, and the service worker shows it; turning it off deletes the subscription.

Headless Chromium cannot make a real push subscription: ``PushManager.subscribe`` needs Google's push service
(GCM/FCM), which the test machine cannot reach, and it never answers (the app gives up after 30 s and says
so). The third test therefore gives the page a subscription whose endpoint is a local fake push service and
whose keys are a real P-256 key pair and auth secret held by the test (``tests/fakes.py``), in place of
``PushManager.subscribe`` alone: everything else (permission, the app's request, the server, the worker's
signed and encrypted message, the service worker showing it) is the real thing.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

import psycopg

from tests.fakes import FakePushService, unb64url, verify_vapid
from tests.test_field_app import READY, _api, _go, _launch, _screenshot, _sign_in, _token, _wait, _watch, playwright
from tests.test_worker_live import live_db, single_member_cell, start_worker, stop, wait_ready, worker_env, workers

__all__ = ["playwright", "worker_env"]  # fixtures shared with test_field_app and test_worker_live

PASSWORD = "notify-password-1"
CITY = "610900000000"

# In place of PushManager.subscribe only (see the module's docstring): the subscription the test's fake push
# service and key pair stand for; what the app passed as applicationServerKey is kept for the test to check.
FAKE_SUBSCRIPTION = """(() => {
  const subscription = %s;
  let current = null;
  window.pushCalls = { keys: [], unsubscribed: 0 };
  const make = (key) => ({ endpoint: subscription.endpoint, expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: key },
    toJSON: () => subscription,
    unsubscribe: async () => { current = null; window.pushCalls.unsubscribed += 1; return true; } });
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.pushCalls.keys.push(btoa(String.fromCharCode(...key)));
    current = make(key.buffer);
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();"""


def _member(app, live_server) -> dict:
    """A grid-worker account for the only member of a cell (every warning there goes to them), its worklist,
    and a police account to post warnings."""
    database = live_db(app)
    grid, member_id, household, village = single_member_cell(database)
    admin = _token(live_server, live_server.username, live_server.password)
    username = f"notify_{member_id}_{uuid.uuid4().hex[:4]}"
    status, user = _api(live_server, "/users", admin, {"username": username, "password": PASSWORD,
                                                       "role": "grid_worker", "scope": village,
                                                       "member_id": member_id})
    assert status == 201, user
    token = _token(live_server, username, PASSWORD)
    status, worklist = _api(live_server, "/me/worklist", token)
    assert status == 200 and worklist["households"], worklist
    police = f"police_notify_{uuid.uuid4().hex[:8]}"
    status, body = _api(live_server, "/users", admin, {"username": police, "password": PASSWORD, "role": "police",
                                                       "scope": CITY})
    assert status == 201, body
    with psycopg.connect(database) as connection:
        user_id = connection.execute("select id from users where username = %s", (username,)).fetchone()[0]
    return {"username": username, "password": PASSWORD, "member_id": member_id, "user_id": user_id,
            "token": token, "households": worklist["households"], "household": household, "grid": grid,
            "police": _token(live_server, police, PASSWORD), "database": database}


def _warn(live_server, member: dict) -> dict:
    """An urgent fund warning on the member's household, posted by the police (routed to the member)."""
    status, warning = _api(live_server, "/warnings", member["police"], {
        "external_ref": f"notify-{uuid.uuid4().hex}", "level": "urgent", "reason": "investment",
        "household_id": member["household"], "phone": "13800138000"})
    assert status == 201, warning
    assert warning["assigned_member_id"] == member["member_id"]
    return warning


def _signed_in(context, live_server, member: dict, push: bool = True) -> tuple[object, list[str]]:
    """The app's page signed in as the member (notifications allowed, when ``push``), once its service worker
    controls it; the page's errors."""
    if push:
        context.grant_permissions(["notifications"], origin=live_server.url)
    page = context.pages[0]
    errors: list[str] = []
    _watch(page, errors)
    page.goto("/m/")
    _sign_in(page, member)
    _wait(page, "document.body.dataset.offlineReady === 'true' && !!navigator.serviceWorker.controller")
    return page, errors


def _push_registration(context, page) -> tuple[object, str]:
    """A DevTools session on the page and the id of the field app's service worker registration."""
    cdp = context.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [r for r in registrations if r["scopeURL"].endswith("/m/") and not r.get("isDeleted")]
        if found:
            return cdp, found[-1]["registrationId"]
        page.wait_for_timeout(100)
    raise AssertionError(f"no service worker registration for /m/: {registrations}")


def _read_at(live_server, member: dict, notification_id: int, timeout: float = 15) -> str | None:
    """When the server has the notification read (waiting for the app's read mark to arrive), or None."""
    deadline = time.monotonic() + timeout
    while True:
        status, listed = _api(live_server, "/me/notifications", member["token"])
        assert status == 200, listed
        read = next(n for n in listed if n["id"] == notification_id)["read_at"]
        if read or time.monotonic() > deadline:
            return read
        time.sleep(0.3)


def _push(context, cdp, live_server, registration: str, message: dict, tries: int = 3) -> list[dict]:
    """Deliver ``message`` to the service worker as a push message until a notification with its title shows
    (a push service delivers at least once; on a loaded machine DevTools' delivery is now and then lost): the
    notifications shown with its id as the tag."""
    tag = str(message["id"])
    for _ in range(tries):
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": live_server.url, "registrationId": registration,
                                                      "data": json.dumps(message, ensure_ascii=False)})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = _shown(context, tag, timeout=0)
            if any(n["title"] == message["title"] for n in shown):
                return shown
            time.sleep(0.2)
    return _shown(context, tag, timeout=0)


def _shown(context, tag: str | None = None, timeout: float = 20) -> list[dict]:
    """The notifications the service worker shows (``registration.getNotifications()``), waiting for one."""
    [worker] = [w for w in context.service_workers if w.url.endswith("/m/sw.js")]
    deadline = time.monotonic() + timeout
    while True:
        shown = worker.evaluate("""(tag) => self.registration.getNotifications(tag ? { tag } : {}).then((all) =>
            all.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data,
                              requireInteraction: n.requireInteraction })))""", tag)
        if shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


def test_a_warning_routed_while_the_app_is_open_arrives_live_and_is_marked_read(app, playwright, live_server,
                                                                                worker_env, tmp_path):
    member = _member(app, live_server)
    before = workers(member["database"])
    process = start_worker(worker_env, tmp_path / "worker.log")
    context = _launch(playwright, live_server, tmp_path / "profile", member)
    try:
        wait_ready(member["database"], before)
        page, errors = _signed_in(context, live_server, member, push=False)
        _go(page, "#/warnings")
        _wait(page, "document.body.dataset.live === 'true'")  # the stream is open
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded

        warning = _warn(live_server, member)
        row = f"#warnings li[data-id='{warning['id']}']"
        _wait(page, f"!!document.querySelector(\"{row}\")", timeout=30_000)
        assert page.evaluate("window.sameDocument") is True
        toast = page.inner_text("#toast")
        assert toast.startswith("紧急") and "资金预警" in toast and str(warning["id"]) in toast, toast
        assert "unread" in page.get_attribute(row, "class")
        assert page.inner_text(f"{row} .chip.new") == "新"
        _screenshot(page, "notification-live")

        status, listed = _api(live_server, "/me/notifications", member["token"])
        [notification] = [n for n in listed if n["object"] == {"type": "warning", "id": str(warning["id"])}]
        assert notification["read_at"] is None and notification["kind"] == "warning_assigned"

        page.click(f"{row} a")
        _wait(page, READY)
        assert page.inner_text("#warning-status") == "待签收"
        assert _read_at(live_server, member, notification["id"])  # opening the warning marked it read
        _go(page, "#/warnings")
        assert "unread" not in page.get_attribute(row, "class")
        assert errors == []
    finally:
        context.close()
        stop(process)


def test_a_push_message_is_shown_once_per_notification_and_kept_for_the_inbox(app, playwright, live_server,
                                                                               tmp_path):
    member = _member(app, live_server)
    warning = _warn(live_server, member)  # the app fetches it when it signs in
    context = _launch(playwright, live_server, tmp_path / "profile", member)
    try:
        page, errors = _signed_in(context, live_server, member)
        cdp, registration = _push_registration(context, page)
        # The notification routing made for the member, as the worker's push carries it (the relay's payload
        # has the fields the list shows: id, kind, title, body, object, created_at, urgent).
        status, listed = _api(live_server, "/me/notifications", member["token"])
        [item] = [n for n in listed if n["object"] == {"type": "warning", "id": str(warning["id"])}]
        payload = {key: item[key] for key in ("id", "kind", "title", "body", "object", "created_at", "urgent")}
        assert payload["urgent"] is True
        # Delivered twice, as at-least-once delivery may: one notification, the repeat replacing the first.
        assert [n["title"] for n in _push(context, cdp, live_server, registration, payload)] == [payload["title"]]
        again = {**payload, "title": payload["title"] + "（重发）"}
        shown = _push(context, cdp, live_server, registration, again)
        assert [n["title"] for n in shown] == [again["title"]], shown
        assert shown[0]["body"] == payload["body"] and shown[0]["requireInteraction"] is True
        assert shown[0]["data"] == {"id": payload["id"], "hash": f"#/warning/{warning['id']}"}
        # The service worker kept it: the inbox marks the warning new.
        _wait(page, f"window.fieldApp.db.notifications.get({payload['id']}).then((n) => !!n)")
        _go(page, "#/warnings")
        assert page.inner_text(f"#warnings li[data-id='{warning['id']}'] .chip.new") == "新"

        # A tap on it (what the notificationclick handler runs, on the shown notification: a headless browser
        # cannot tap one, so focusing the window is refused for want of a user gesture) opens the warning in
        # the open app and marks the notification read on the server.
        [worker] = [w for w in context.service_workers if w.url.endswith("/m/sw.js")]
        worker.evaluate("""(tag) => self.registration.getNotifications({ tag })
            .then(([shown]) => self.openNotification(shown)).catch((error) => error.name)""", str(payload["id"]))
        _wait(page, f"location.hash === '#/warning/{warning['id']}' && {READY}")
        assert page.inner_text("#warning-status") == "待签收"
        assert _read_at(live_server, member, payload["id"])

        # Offline: the inbox and its button work, and say why nothing can change now.
        context.set_offline(True)
        page.reload()
        _wait(page, READY)
        _go(page, "#/warnings")
        assert page.get_attribute("#notifications-panel", "data-push") == "off"
        page.click("#notifications-enable")
        _wait(page, "document.getElementById('toast').textContent.includes('需要联网')")
        assert errors == []
    finally:
        context.close()


def test_turning_on_notifications_subscribes_and_the_workers_push_is_shown(app, playwright, live_server,
                                                                         worker_env, tmp_path):
    member = _member(app, live_server)
    status, key = _api(live_server, "/push/vapid-public-key", member["token"])
    assert status == 200
    with FakePushService() as push:
        phone = push.browser("field-app")
        context = _launch(playwright, live_server, tmp_path / "profile", member)
        process = None
        try:
            context.add_init_script(FAKE_SUBSCRIPTION % json.dumps(phone.subscription()))
            page, errors = _signed_in(context, live_server, member)
            _go(page, "#/warnings")
            assert page.get_attribute("#notifications-panel", "data-push") == "off"
            page.click("#notifications-enable")
            _wait(page, "!!document.getElementById('notifications-disable')")
            assert page.get_attribute("#notifications-panel", "data-push") == "on"
            assert page.inner_text("#toast") == "预警通知已开启。"
            _screenshot(page, "notifications-on")
            # Subscribed with the server's VAPID key, and the server accepted what the app posted.
            [used] = page.evaluate("window.pushCalls.keys")
            assert base64.b64decode(used) == unb64url(key["public_key"])
            kept = page.evaluate("window.fieldApp.store.getMeta('push')")
            with psycopg.connect(member["database"]) as connection:
                row = connection.execute("select id, user_id, p256dh, auth from push_subscriptions where endpoint = %s",
                                         (phone.endpoint,)).fetchone()
            assert row == (kept["id"], member["user_id"], phone.subscription()["keys"]["p256dh"],
                           phone.subscription()["keys"]["auth"])

            # The worker's Web Push for a new warning reaches that endpoint, signed with the server's key and
            # encrypted for this phone's keys; handed to the service worker, it is shown.
            before = workers(member["database"])
            process = start_worker(worker_env, tmp_path / "worker.log")
            wait_ready(member["database"], before)
            warning = _warn(live_server, member)
            [request] = push.wait_for(1, "/push/field-app", timeout=60)
            verify_vapid(request["headers"]["authorization"], key["public_key"], phone.endpoint)
            message = phone.decrypt(request["body"])
            assert message["object"] == {"type": "warning", "id": str(warning["id"])}
            cdp, registration = _push_registration(context, page)
            [shown] = _push(context, cdp, live_server, registration, message)
            assert shown["title"] == message["title"] and str(warning["id"]) in shown["title"]
            assert shown["data"]["hash"] == f"#/warning/{warning['id']}"

            # Turned off: the server forgets the subscription and the browser drops it.
            _go(page, "#/warnings")
            page.click("#notifications-disable")
            _wait(page, "!!document.getElementById('notifications-enable')")
            assert page.evaluate("window.pushCalls.unsubscribed") == 1
            with psycopg.connect(member["database"]) as connection:
                assert connection.execute("select count(*) from push_subscriptions where endpoint = %s",
                                          (phone.endpoint,)).fetchone()[0] == 0
            assert errors == []
        finally:
            context.close()
            if process is not None:
                stop(process)
