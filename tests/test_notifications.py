"""Notifications through the outbox, delivered in-process by the worker's relay inside the test's
transaction: an urgent warning reaches its member in the app, by Web Push (a local push service checks the
VAPID signature and decrypts the message) and by text (the fake gateway records the Chinese text); a
rolled-back routing leaves nothing to send; escalations go to the task force of the new level; quiet hours,
one message per recipient and cause, retries with back-off, gone subscriptions; the endpoints."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import refresh

from core.clock import LOCAL
from outreach.notifications import outbox
from outreach.notifications.relay import Relay
from outreach.warnings import services as warning_services
from tests.fakes import FakePushService, sms_sent, verify_vapid
from tests.helpers import assert_error, auth, make_user, single_member_cell, sql

CITY = "610900000000"


@pytest.fixture
def channels(app, tmp_path, monkeypatch):
    """The worker's settings for a test: http push endpoints allowed (the fake is local), the fake SMS
    gateway writing to a temporary file, no quiet hours unless a test sets them."""
    monkeypatch.setitem(app.config, "GRIDS_PUSH_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "GRIDS_SMS_FAKE_FILE", str(tmp_path / "sms.jsonl"))
    monkeypatch.setitem(app.config, "GRIDS_QUIET_HOURS", "")
    with FakePushService() as push:
        yield push


def deliver_all(app) -> int:
    """Run the relay over every channel until nothing is due (what the worker's threads do)."""
    relay = Relay(app).open()
    total = 0
    for channel in ("in_app", "push", "sms"):
        while (handled := relay.deliver(channel)) > 0:
            total += handled
    relay.pool.shutdown()
    return total


@pytest.fixture
def police(db_session):
    make_user("police_notify", "police", CITY)
    return auth("police_notify")


@pytest.fixture
def member(client, channels, db_session):
    """The single member of a cell, with a grid-worker account and a browser subscribed to push."""
    grid, member_id, household, village = single_member_cell()
    make_user("gw_notify", "grid_worker", village, member_id)
    headers = auth("gw_notify")
    browser = channels.browser("member")
    response = client.post("/api/v1/me/push-subscriptions", json=browser.subscription(), headers=headers)
    assert response.status_code == 201, response.get_json()
    return {"grid": grid, "id": member_id, "household": household, "village": village, "headers": headers,
            "browser": browser}


def post_warning(client, police, household: int, level: str = "urgent") -> dict:
    response = client.post("/api/v1/warnings", headers=police, json={
        "external_ref": f"N-{uuid.uuid4().hex[:12]}", "level": level, "reason": "investment",
        "household_id": household, "phone": "13812345678"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_urgent_warning_reaches_the_member_in_the_app_by_push_and_by_text(app, client, police, member,
                                                                         channels):
    warning = post_warning(client, police, member["household"])
    assert warning["assigned_member_id"] == member["id"]
    [(notification_id, kind)] = sql("select id, kind from notifications where object_id = :w",
                                    w=str(warning["id"])).all()
    assert kind == "warning_assigned"
    assert sorted(sql("select channel from notification_deliveries where notification_id = :n",
                      n=notification_id).scalars()) == ["in_app", "push", "sms"]

    assert deliver_all(app) == 3

    # Web Push: signed with the server's VAPID key, decryptable by the browser, deduplicated by id.
    [request] = channels.received("/push/member")
    public_key = client.get("/api/v1/push/vapid-public-key", headers=member["headers"]).get_json()["public_key"]
    claims = verify_vapid(request["headers"]["authorization"], public_key, member["browser"].endpoint)
    assert claims["sub"].startswith("mailto:")
    assert request["headers"]["content-encoding"] == "aes128gcm"
    assert request["headers"]["urgency"] == "high"
    message = member["browser"].decrypt(request["body"])
    assert message["id"] == notification_id and message["kind"] == "warning_assigned"
    assert "紧急" in message["title"] and str(warning["id"]) in message["title"]
    assert message["object"] == {"type": "warning", "id": str(warning["id"])}

    # Text: the Chinese template, the member's number masked in the fake's record, no resident's data.
    [sms] = sms_sent(app.config["GRIDS_SMS_FAKE_FILE"])
    assert sms["reference"] == f"n{notification_id}"
    assert sms["text"].startswith("【反诈网格】紧急资金预警" + str(warning["id"]))
    assert member["grid"] in sms["text"] and "上门劝阻" in sms["text"]
    assert "13812345678" not in sms["text"] and "1234" not in sms["text"]
    assert "****" in sms["to"]

    # In the app: listed, in the reader's language, and marked read.
    listed = client.get("/api/v1/me/notifications", headers={**member["headers"], "Accept-Language": "zh-CN"})
    [item] = listed.get_json()
    assert item["id"] == notification_id and item["read_at"] is None
    assert item["title"].startswith("紧急") and item["object"]["id"] == str(warning["id"])
    refresh()  # the test's app context outlives requests: forget the language the last one chose
    english = client.get("/api/v1/me/notifications", headers={**member["headers"], "Accept-Language": "en"})
    assert english.get_json()[0]["title"].startswith("Urgent fund warning")
    assert client.post(f"/api/v1/me/notifications/{notification_id}/read",
                       headers=member["headers"]).status_code == 204
    assert client.get("/api/v1/me/notifications?unread=true", headers=member["headers"]).get_json() == []
    assert client.get(f"/api/v1/me/notifications?since={notification_id}",
                      headers=member["headers"]).get_json() == []

    statuses = sql("select channel, status, attempts from notification_deliveries where notification_id = :n "
                   "order by channel", n=notification_id).all()
    assert [tuple(s) for s in statuses] == [("in_app", "sent", 1), ("push", "sent", 1), ("sms", "sent", 1)]
    assert deliver_all(app) == 0  # recorded once: nothing is sent again


def test_a_rolled_back_routing_sends_nothing(app, client, police, member, channels, monkeypatch):
    def fail(_ids):
        raise RuntimeError("the routing transaction fails after the outbox was written")

    monkeypatch.setattr(outbox, "warnings_escalated", fail)
    with pytest.raises(RuntimeError):
        post_warning(client, police, member["household"])
    assert sql("select count(*) from warnings where household_id = :h", h=member["household"]).scalar() == 0
    assert sql("select count(*) from notifications").scalar() == 0
    assert deliver_all(app) == 0
    assert channels.received() == [] and sms_sent(app.config["GRIDS_SMS_FAKE_FILE"]) == []


def test_escalation_goes_to_the_task_force_of_the_new_level_once(app, client, police, member, channels):
    township = member["village"][:9] + "000"
    county = member["village"][:6] + "000000"
    make_user("tf_township", "township_supervisor", township)
    make_user("tf_county", "county_admin", county)
    make_user("tf_reviewer", "reviewer", county)  # a county account with another role: not told
    warning = post_warning(client, police, member["household"], level="high")
    deadline = datetime.fromisoformat(warning["deadline"])

    assert warning_services.escalate(deadline + timedelta(seconds=1)) == 1
    told = sql("""select u.username, n.kind, n.params->>'escalated_to' from notifications n
                  join users u on u.id = n.user_id where n.object_id = :w and n.kind = 'warning_escalated'""",
               w=str(warning["id"])).all()
    assert [tuple(t) for t in told] == [("tf_township", "warning_escalated", "township")]
    # The same cause again (a retried job) tells nobody twice.
    assert outbox.warnings_escalated([warning["id"]]) == 0

    warning_services.escalate(deadline + timedelta(days=1))
    told = sql("""select u.username, n.params->>'escalated_to' from notifications n join users u on u.id = n.user_id
                  where n.object_id = :w and n.kind = 'warning_escalated' order by n.id""", w=str(warning["id"])).all()
    assert [tuple(t) for t in told] == [("tf_township", "township"), ("tf_county", "county")]
    refresh()
    [item] = client.get("/api/v1/me/notifications", headers={**auth("tf_county"), "Accept-Language": "zh-CN"}
                        ).get_json()
    assert item["kind"] == "warning_escalated" and "县区" in item["title"]


def test_task_force_supervisors_with_a_phone_are_texted_of_an_escalation(app, client, police, member, channels):
    township = member["village"][:9] + "000"
    make_user("tf_texted", "township_supervisor", township)
    make_user("tf_untexted", "township_supervisor", township)
    response = client.patch("/api/v1/users/tf_texted", json={"phone": "139 0000 4321"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["phone"] == "*******4321"
    entry = sql("select details from audit_log where action = 'user.update' and object_id = 'tf_texted'").scalar()
    assert entry == {"phone": "*******4321"}  # the audit log keeps the masked number only
    warning = post_warning(client, police, member["household"], level="high")
    deliver_all(app)
    texts_before = len(sms_sent(app.config["GRIDS_SMS_FAKE_FILE"]))

    warning_services.escalate(datetime.fromisoformat(warning["deadline"]) + timedelta(seconds=1))
    channels_of = dict(sql("""select u.username, array_agg(d.channel order by d.channel)
                              from notifications n join users u on u.id = n.user_id
                              join notification_deliveries d on d.notification_id = n.id
                              where n.object_id = :w and n.kind = 'warning_escalated' group by u.username""",
                           w=str(warning["id"])).all())
    assert channels_of == {"tf_texted": ["in_app", "sms"], "tf_untexted": ["in_app"]}
    deliver_all(app)
    [text] = sms_sent(app.config["GRIDS_SMS_FAKE_FILE"])[texts_before:]
    assert text["to"] == "*******4321"
    assert text["text"].startswith("【反诈网格】") and "乡镇专班" in text["text"] and str(warning["id"]) in text["text"]
    # Cleared, no more texts.
    assert client.patch("/api/v1/users/tf_texted", json={"phone": None}).get_json()["phone"] is None


def test_a_member_with_two_accounts_gets_one_text_per_warning(app, client, police, member, channels):
    make_user("gw_notify_second", "grid_worker", member["village"], member["id"])
    warning = post_warning(client, police, member["household"])
    deliveries = sql("""select d.channel from notifications n join notification_deliveries d
                        on d.notification_id = n.id where n.object_id = :w""", w=str(warning["id"])).scalars().all()
    assert sorted(deliveries) == ["in_app", "in_app", "push", "sms"]  # both accounts in the app, one text
    deliver_all(app)
    assert len(sms_sent(app.config["GRIDS_SMS_FAKE_FILE"])) == 1


def test_a_non_urgent_text_waits_for_the_end_of_quiet_hours_an_urgent_one_does_not(app, client, police, member,
                                                                                  monkeypatch):
    now = sql("select now()").scalar().astimezone(LOCAL)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    monkeypatch.setitem(app.config, "GRIDS_QUIET_HOURS", f"{start}-{end}")
    high = post_warning(client, police, member["household"], level="high")
    urgent = post_warning(client, police, member["household"], level="urgent")
    waits = dict(sql("""select n.object_id, d.not_before from notifications n
                        join notification_deliveries d on d.notification_id = n.id
                        where d.channel = 'sms' and n.kind = 'warning_assigned'""").all())
    assert waits[str(urgent["id"])] <= now + timedelta(seconds=1)
    assert waits[str(high["id"])].astimezone(LOCAL).strftime("%H:%M") == end
    deliver_all(app)
    [text] = sms_sent(app.config["GRIDS_SMS_FAKE_FILE"])
    assert text["text"].startswith("【反诈网格】紧急资金预警" + str(urgent["id"]))


def test_non_urgent_push_waits_for_the_end_of_quiet_hours(app, client, member, monkeypatch):
    now = sql("select now()").scalar().astimezone(LOCAL)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    monkeypatch.setitem(app.config, "GRIDS_QUIET_HOURS", f"{start}-{end}")
    # An assignment change is not urgent: in the app at once, the push after the quiet hours.
    assignment = sql("select min(id) from assignments where member_id = :m and valid_to is null",
                     m=member["id"]).scalar()
    assert client.delete(f"/api/v1/assignments/{assignment}").status_code in (200, 204)
    rows = dict(sql("""select d.channel, d.not_before from notification_deliveries d
                       join notifications n on n.id = d.notification_id
                       where n.kind = 'assignment_changed' and n.member_id = :m""", m=member["id"]).all())
    assert set(rows) == {"in_app", "push"}  # never a text for an assignment
    assert rows["in_app"] <= now + timedelta(seconds=1)
    assert rows["push"].astimezone(LOCAL).strftime("%H:%M") == end and rows["push"] > now
    assert deliver_all(app) == 1  # the in-app one; the push waits
    assert outbox.quiet_until(now + timedelta(hours=3)) is None  # outside the two quiet hours: at once


def test_a_failing_push_service_is_retried_with_back_off_and_counted(app, client, police, member, channels):
    channels.status["/push/member"] = 503
    warning = post_warning(client, police, member["household"])
    deliver_all(app)
    push = sql("""select d.status, d.attempts, d.failures, d.not_before - now(), d.last_error
                  from notification_deliveries d join notifications n on n.id = d.notification_id
                  where n.object_id = :w and d.channel = 'push'""", w=str(warning["id"])).one()
    assert push[0] == "pending" and push[1] == 1 and push[2] == 1
    assert timedelta(seconds=4) <= push[3] <= timedelta(seconds=6) and "503" in push[4]
    metrics = client.get("/metrics", headers={"Authorization": "Bearer " + app.config["GRIDS_METRICS_TOKEN"]}
                         ).get_data(as_text=True)
    assert 'grids_notification_delivery_failures_total{channel="push"} 1.0' in metrics

    channels.status["/push/member"] = 410  # the browser unsubscribed: the subscription is dropped
    sql("update notification_deliveries set not_before = now() where channel = 'push'")
    deliver_all(app)
    assert sql("select count(*) from push_subscriptions where user_id = (select id from users "
               "where username = 'gw_notify')").scalar() == 0


def test_assignment_made_and_certification_decided_are_told(app, client, member):
    free = sql("select min(code) from grids where tier = 3 and village_code = :v and code <> :g",
               v=member["village"], g=member["grid"]).scalar()
    response = client.post("/api/v1/assignments", json={"member_id": member["id"], "grid_code": free,
                                                         "role": "worker"})
    assert response.status_code == 201, response.get_json()
    refresh()
    [item] = client.get("/api/v1/me/notifications", headers={**member["headers"], "Accept-Language": "en"}).get_json()
    assert item["kind"] == "assignment_changed" and item["body"] == f"You are now worker of cell {free}."


def test_an_applied_plan_tells_each_member_whose_assignment_began_or_ended_in_its_transaction(app, client,
                                                                                             channels):
    from tests.test_optimiser import TOWNSHIP_A, apply, move_some_chiefs, plan

    move_some_chiefs(client, TOWNSHIP_A[:9])  # two cells without a chief, one with a far-away chief
    body = plan(client, TOWNSHIP_A)
    changes = sql("select grid_code, member_id from assignment_plan_items where plan_id = :p and is_change",
                  p=body["id"]).all()
    assert len(changes) >= 3
    replaced = sql("""select a.id, a.member_id, a.grid_code from assignments a
                      join assignment_plan_items i on i.grid_code = a.grid_code and i.plan_id = :p and i.is_change
                      where a.valid_to is null and (a.role = 'chief' or a.member_id = i.member_id)""",
                   p=body["id"]).all()
    assert replaced  # the far-away chief gives way
    members = {row.member_id for row in changes} | {row.member_id for row in replaced}
    for member_id in members:  # every member involved reads the app
        village = sql("select village_code from members where id = :m", m=member_id).scalar()
        make_user(f"plan_member_{member_id}", "grid_worker", village, member_id)
    before = sql("select coalesce(max(id), 0) from notifications").scalar()

    response = apply(client, body["id"])
    assert response.status_code == 200, response.get_json()
    made = sql("select id, member_id, grid_code from assignments where plan_id = :p", p=body["id"]).all()
    assert len(made) == len(changes)
    promoted = {(row.member_id, row.grid_code) for row in made}
    expected = {(row.member_id, "made", row.grid_code, str(row.id)) for row in made} | {
        (row.member_id, "ended", row.grid_code, str(row.id)) for row in replaced
        if (row.member_id, row.grid_code) not in promoted}
    told = sql("""select n.member_id, n.params->>'change', n.params->>'grid_code', n.object_id
                  from notifications n where n.id > :b and n.kind = 'assignment_changed'""", b=before).all()
    assert sorted(map(tuple, told)) == sorted(expected)  # each once
    assert sql("""select count(*) from notification_deliveries d join notifications n on n.id = d.notification_id
                  where n.id > :b and d.channel = 'in_app'""", b=before).scalar() == len(expected)
    # The member reads it in the app.
    member_id, _change, grid_code, _id = next(iter(expected))
    refresh()
    listed = client.get("/api/v1/me/notifications", headers={**auth(f"plan_member_{member_id}"),
                                                             "Accept-Language": "en"}).get_json()
    assert any(grid_code in item["body"] for item in listed)

    # Applying it again is refused, and tells nobody anything.
    count = sql("select count(*) from notifications").scalar()
    assert_error(apply(client, body["id"]), 409, rule="plan_applied")
    assert sql("select count(*) from notifications").scalar() == count


def test_push_subscription_endpoints(app, client, channels, db_session):
    make_user("sub_a", "township_supervisor", "610902001000")
    make_user("sub_b", "township_supervisor", "610902001000")
    browser = channels.browser("a")
    first = client.post("/api/v1/me/push-subscriptions", json=browser.subscription(), headers=auth("sub_a"))
    assert first.status_code == 201
    again = client.post("/api/v1/me/push-subscriptions", json=browser.subscription(), headers=auth("sub_a"))
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    bad = browser.subscription()
    bad["keys"]["p256dh"] = "not-a-key"
    assert_error(client.post("/api/v1/me/push-subscriptions", json=bad, headers=auth("sub_a")), 422, field="keys")
    assert_error(client.post("/api/v1/me/push-subscriptions", json={"endpoint": "x"}, headers=auth("sub_a")), 422)
    app.config["GRIDS_PUSH_ALLOW_HTTP"] = False
    assert_error(client.post("/api/v1/me/push-subscriptions", json=channels.browser("b").subscription(),
                             headers=auth("sub_a")), 422, field="endpoint")
    app.config["GRIDS_PUSH_ALLOW_HTTP"] = True
    subscription = first.get_json()["id"]
    assert_error(client.delete(f"/api/v1/me/push-subscriptions/{subscription}", headers=auth("sub_b")), 404)
    assert client.delete(f"/api/v1/me/push-subscriptions/{subscription}", headers=auth("sub_a")).status_code == 204
    assert_error(client.delete(f"/api/v1/me/push-subscriptions/{subscription}", headers=auth("sub_a")), 404)
    assert_error(client.post("/api/v1/me/notifications/999999999/read", headers=auth("sub_a")), 404)


def test_jobs_lists_every_periodic_job_for_the_city_admin(client, db_session):
    response = client.get("/api/v1/jobs")
    assert response.status_code == 200
    jobs = {job["name"]: job for job in response.get_json()}
    assert set(jobs) == {"escalate_warnings", "visit_partitions", "certification_expiry", "lagging_alert",
                         "visit_retention", "monthly_bulletins", "prune_job_history"}
    escalate = jobs["escalate_warnings"]
    assert escalate["schedule"] == "* * * * *"
    next_run = datetime.fromisoformat(escalate["next_run_at"])
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(seconds=61)
    make_user("county_jobs", "county_admin", "610902000000")
    assert_error(client.get("/api/v1/jobs", headers=auth("county_jobs")), 403)


def test_lagging_alert_and_certification_expiry_jobs_tell_supervisors_once(app, client, db_session):
    from outreach.jobs import tasks

    township = sql("select min(left(code, 9) || '000') from grids where tier = 3 and households > 0").scalar()
    make_user("lag_sup", "township_supervisor", township)
    assert tasks.lagging_alert().endswith("told")
    refresh()
    [item] = client.get("/api/v1/me/notifications", headers={**auth("lag_sup"), "Accept-Language": "en"}).get_json()
    assert item["kind"] == "lagging_alert" and item["object"] == {"type": "region", "id": township}
    tasks.lagging_alert()  # a retry the same morning tells nobody twice
    assert len(client.get("/api/v1/me/notifications", headers=auth("lag_sup")).get_json()) == 1
