"""Metrics, request ids, structured logs without personal data, and the request limits."""
from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app import create_app
from core.extensions import db
from tests.helpers import auth, first_village, make_user

SECRET_PHONE = "13987654321"
SECRET_NAME = "欧阳秘密"


@pytest.fixture
def worker(app):
    """A grid worker: the chief of a tier-3 cell, with one of its households."""
    member, village, grid, household, lon, lat = db.session.execute(text("""
        select a.member_id, m.village_code, a.grid_code, h.id, ST_X(h.location), ST_Y(h.location)
        from assignments a join members m on m.id = a.member_id join households h on h.grid_code = a.grid_code
        where a.role = 'chief' and a.valid_to is null and a.grid_code like '%-__-0_' and a.grid_code not like '%-00'
          and m.village_code = left(a.grid_code, 12)
        order by a.id limit 1
    """)).one()
    make_user("observed_worker", "grid_worker", village, member)
    return {"headers": auth("observed_worker"), "grid": grid, "household": household, "lon": lon, "lat": lat}


def visit(worker):
    """One valid visit of the worker's household."""
    return {"id": str(uuid.uuid4()), "household_id": worker["household"], "grid_code": worker["grid"],
            "visited_at": datetime.now(UTC).isoformat(), "outcome": "completed",
            "location": {"lon": worker["lon"], "lat": worker["lat"]}}


def _sync_results(body: str) -> dict[str, float]:
    """The sync outcome counters of a /metrics page (process-wide: other tests may have synced before)."""
    found = re.findall(r'^grids_visit_sync_results_total\{status="(\w+)"\} ([0-9.e+]+)$', body, re.M)
    return {status: float(value) for status, value in found}


def test_metrics_count_requests_and_sync_outcomes(app, client, worker):
    scrape = {"Authorization": "Bearer " + app.config["GRIDS_METRICS_TOKEN"]}
    before = _sync_results(client.get("/metrics", headers=scrape).get_data(as_text=True))
    client.get("/api/v1/regions?level=county")
    client.post("/api/v1/visits/sync", json={"visits": [visit(worker), {"id": "bad"}]}, headers=worker["headers"])
    body = client.get("/metrics", headers={"Authorization": "Bearer " + app.config["GRIDS_METRICS_TOKEN"]}
                      ).get_data(as_text=True)
    assert "flask_http_request_duration_seconds" in body
    assert 'endpoint="regions.Regions"' in body
    after = _sync_results(body)
    assert after["created"] - before.get("created", 0) == 1.0
    assert after["rejected"] - before.get("rejected", 0) == 1.0


def test_every_response_carries_a_request_id(client):
    generated = client.get("/api/v1/health").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/api/v1/health", headers={"X-Request-ID": "abc12345phone"}).headers["X-Request-ID"] \
        == "abc12345phone"
    assert client.get("/api/v1/health", headers={"X-Request-ID": "a b"}).headers["X-Request-ID"] != "a b"


def test_logs_are_json_lines_without_personal_data(app, client, anonymous_client, caplog, worker):
    caplog.set_level(logging.INFO)
    tokens = anonymous_client.post("/api/v1/auth/token", json={"username": "admin", "password": "wrong-password"})
    assert tokens.status_code == 401
    client.post("/api/v1/members", json={"name": SECRET_NAME, "phone": SECRET_PHONE, "kind": "party_member",
                                         "village_code": first_village("610902")})
    item = visit(worker) | {"notes": f"{SECRET_NAME} {SECRET_PHONE}"}
    client.post("/api/v1/visits/sync", json={"visits": [item]}, headers=worker["headers"])
    access = [r for r in caplog.records if r.name == "grids.access"]
    assert {r.route for r in access} >= {"/api/v1/auth/token", "/api/v1/members", "/api/v1/visits/sync"}
    assert all(r.request_id != "-" for r in access)
    formatter = next(h for h in logging.getLogger().handlers if getattr(h, "_grids", False)).formatter
    line = json.loads(formatter.format(access[-1]))
    assert {"time", "level", "name", "message", "request_id", "route", "status", "ms"} <= set(line)
    everything = caplog.text + "".join(formatter.format(r) for r in caplog.records)
    for secret in (SECRET_PHONE, SECRET_NAME, "wrong-password", worker["headers"]["Authorization"][7:]):
        assert secret not in everything


def test_sync_is_rate_limited_per_account(app, client, worker, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_SYNC_RATE_LIMIT", "2 per minute")
    statuses = [client.post("/api/v1/visits/sync", json={"visits": [visit(worker)]},
                            headers=worker["headers"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.post("/api/v1/visits/sync", json={"visits": []}, headers=worker["headers"]).get_json()
    assert limited["code"] == 429 and limited["message"]


def test_statement_timeout_is_set_and_answers_503(app):
    assert db.session.execute(text("show statement_timeout")).scalar() == "30s"
    with app.test_request_context():
        db.session.execute(text("set local statement_timeout = 50"))
        with pytest.raises(OperationalError) as caught:
            db.session.execute(text("select pg_sleep(2)"))
        handler = app.error_handler_spec[None][None][OperationalError]
        response = handler(caught.value)
        assert response.status_code == 503
        assert "took too long" in response.get_json()["message"]


def test_seeding_runs_without_the_web_statement_timeout(app):
    """``flask seed ...`` is batch work: its connections have no statement timeout (a loaded machine pushed
    the households' COPY past the web's 30 s); the web's connections keep theirs."""
    seeding = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with seeding.app_context():  # as `flask seed` runs: its own app (the tests' app context is pushed)
        result = seeding.test_cli_runner().invoke(args=["seed", "ankang", "--if-empty"])
        assert result.exit_code == 0, result.output
        with db.engine.connect() as connection:
            assert connection.execute(text("show statement_timeout")).scalar() == "0"
    assert db.session.execute(text("show statement_timeout")).scalar() == "30s"


def test_oversized_body_is_413(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = client.post("/api/v1/households/import", data="lon,lat\n" + "109.0,32.7\n" * 200,
                           headers={"Content-Type": "text/csv"})
    assert response.status_code == 413 and response.get_json()["code"] == 413


def test_the_log_of_a_live_gunicorn_holds_no_query_string_username_or_token(live_server):
    """Every line a served process writes (gunicorn's and the app's), after requests carrying secrets in
    the query string, the path, HTTP Basic and a Bearer token."""
    import base64
    import urllib.error
    import urllib.request

    marker = "qsmarker" + uuid.uuid4().hex[:8]
    basic_user = "basicuser" + uuid.uuid4().hex[:8]
    token = "tok" + uuid.uuid4().hex

    def get(path, headers):
        try:
            with urllib.request.urlopen(urllib.request.Request(live_server.url + path, headers=headers), timeout=10):
                pass
        except urllib.error.HTTPError:
            pass

    credentials = base64.b64encode(f"{basic_user}:wrong-password".encode()).decode()
    get(f"/api/v1/regions?level=county&name={marker}", {"Authorization": f"Bearer {token}"})
    get(f"/ogc/collections?f={marker}", {"Authorization": f"Basic {credentials}"})
    get(f"/api/v1/users/{basic_user}?x={marker}", {})
    get(f"/?next={marker}", {})
    import time

    time.sleep(1.0)  # let the workers flush their lines
    logged = live_server.log.read_text(encoding="utf-8", errors="replace")
    assert "/api/v1/regions" in logged  # the access lines are there, by route
    for secret in (marker, basic_user, token, "?"):
        assert secret not in logged, secret


def test_metrics_need_the_scrape_token(app, client, anonymous_client, monkeypatch):
    assert anonymous_client.get("/metrics").status_code == 401
    assert anonymous_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics").status_code == 401  # a user's access token is not the scrape token
    token = app.config["GRIDS_METRICS_TOKEN"]
    assert len(token) >= 32
    assert anonymous_client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    monkeypatch.setitem(app.config, "GRIDS_METRICS_TOKEN", None)  # production without a token: no /metrics
    assert anonymous_client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 404
