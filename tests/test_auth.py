"""Sign-in, tokens, user management rules, and keeping personal data out of logs."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import text

from config import load_config
from core.extensions import db
from core.keys import new_vapid_key
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import PASSWORD, auth, first_village, make_user, member_in

COUNTY = "610902000000"
OTHER_COUNTY = "610921000000"


def login(client, username, password):
    """POST /auth/token."""
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_login_returns_tokens_and_user(anonymous_client):
    response = login(anonymous_client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"] == {"username": "admin", "role": "city_admin", "scope": "610900000000", "member_id": None}
    me = anonymous_client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == "admin"


@pytest.mark.parametrize("username,password", [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)])
def test_bad_credentials_answer_401_with_one_message(anonymous_client, username, password):
    response = login(anonymous_client, username, password)
    assert response.status_code == 401
    assert response.get_json()["message"] == "Wrong username or password."


def test_login_input_is_validated(anonymous_client):
    response = anonymous_client.post("/api/v1/auth/token", json={"username": "admin"})
    assert response.status_code == 422
    assert "password" in response.get_json()["errors"]["json"]


def test_refresh_token_gives_a_new_access_token(anonymous_client):
    tokens = login(anonymous_client, "admin", ADMIN_PASSWORD).get_json()
    refreshed = anonymous_client.post("/api/v1/auth/refresh",
                                      headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refreshed.status_code == 200
    access = refreshed.get_json()["access_token"]
    assert anonymous_client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    # An access token is not a refresh token, and the other way round.
    assert anonymous_client.post("/api/v1/auth/refresh",
                                 headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    assert anonymous_client.get("/api/v1/me",
                                headers={"Authorization": f"Bearer {tokens['refresh_token']}"}).status_code == 401


def test_expired_and_forged_tokens_answer_401(app, anonymous_client):
    expired = create_access_token(identity="admin", additional_claims={"ver": 0},
                                  expires_delta=timedelta(seconds=-1))
    response = anonymous_client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "The token has expired."
    forged = anonymous_client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"] == "Bearer"


def test_deactivation_and_password_reset_revoke_tokens(client, anonymous_client):
    make_user("county_one", "county_admin", COUNTY)
    old = auth("county_one")
    assert anonymous_client.get("/api/v1/me", headers=old).status_code == 200
    assert client.patch("/api/v1/users/county_one", json={"password": "a-brand-new-password"}).status_code == 200
    assert anonymous_client.get("/api/v1/me", headers=old).status_code == 401
    assert login(anonymous_client, "county_one", PASSWORD).status_code == 401
    fresh = login(anonymous_client, "county_one", "a-brand-new-password").get_json()["access_token"]
    assert client.patch("/api/v1/users/county_one", json={"active": False}).get_json()["active"] is False
    assert anonymous_client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert login(anonymous_client, "county_one", "a-brand-new-password").status_code == 401


def test_login_is_rate_limited(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_LOGIN_RATE_LIMIT", "3 per minute")
    statuses = [login(anonymous_client, "rate_limited_user", "whatever-password").status_code for _ in range(5)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    body = login(anonymous_client, "rate_limited_user", "x").get_json()
    assert body["code"] == 429 and body["message"]


def test_successful_sign_ins_do_not_count_towards_the_limit(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_LOGIN_RATE_LIMIT", "3 per minute")
    assert all(login(anonymous_client, "admin", ADMIN_PASSWORD).status_code == 200 for _ in range(6))


def test_many_usernames_from_one_address_are_limited(app, anonymous_client, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_LOGIN_ADDRESS_RATE_LIMIT", "5 per minute")
    statuses = [login(anonymous_client, f"guess_{index}", "whatever-password").status_code for index in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    # Another address is not affected.
    other = anonymous_client.post("/api/v1/auth/token", json={"username": "guess_9", "password": "x"},
                                  environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 401


def test_the_sign_in_limit_holds_across_two_gunicorn_workers(live_server):
    """Default limit (10 failures a minute per address and username), counted in the database."""
    import json as _json
    import urllib.error
    import urllib.request

    statuses = []
    for _ in range(12):
        request = urllib.request.Request(live_server.url + "/api/v1/auth/token", method="POST",
                                         data=_json.dumps({"username": "limit_probe", "password": "wrong-password"})
                                         .encode(), headers={"Content-Type": "application/json", "Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    assert statuses == [401] * 10 + [429] * 2


def test_grid_worker_sees_its_member_id(anonymous_client):
    village = first_village("610902")
    member_id = member_in(village)
    make_user("worker_one", "grid_worker", village, member_id)
    me = anonymous_client.get("/api/v1/me", headers=auth("worker_one")).get_json()
    assert me == {"username": "worker_one", "role": "grid_worker", "scope": village, "member_id": member_id}


def test_users_are_created_inside_the_scope_with_a_lower_role(client):
    created = client.post("/api/v1/users", json={"username": "county_two", "password": PASSWORD,
                                                "role": "county_admin", "scope": COUNTY})
    assert created.status_code == 201
    assert created.get_json()["created_by"] == "admin"
    county = auth("county_two")
    township = COUNTY[:6] + "001000"
    ok = client.post("/api/v1/users", headers=county, json={
        "username": "township_one", "password": PASSWORD, "role": "township_supervisor", "scope": township})
    assert ok.status_code == 201
    same_rank = client.post("/api/v1/users", headers=county, json={
        "username": "county_three", "password": PASSWORD, "role": "county_admin", "scope": COUNTY})
    assert same_rank.status_code == 403
    outside = client.post("/api/v1/users", headers=county, json={
        "username": "elsewhere", "password": PASSWORD, "role": "township_supervisor",
        "scope": OTHER_COUNTY[:6] + "001000"})
    assert outside.status_code == 422
    assert "scope" in outside.get_json()["errors"]["json"]
    wrong_level = client.post("/api/v1/users", headers=county, json={
        "username": "wrong_level", "password": PASSWORD, "role": "village_admin", "scope": township})
    assert wrong_level.status_code == 422
    worker_without_member = client.post("/api/v1/users", headers=county, json={
        "username": "no_member", "password": PASSWORD, "role": "grid_worker", "scope": first_village("610902")})
    assert worker_without_member.status_code == 422
    assert "member_id" in worker_without_member.get_json()["errors"]["json"]
    duplicate = client.post("/api/v1/users", json={"username": "county_two", "password": PASSWORD,
                                                  "role": "county_admin", "scope": COUNTY})
    assert duplicate.status_code == 409
    short_password = client.post("/api/v1/users", json={"username": "short_pw", "password": "short",
                                                       "role": "police", "scope": COUNTY})
    assert short_password.status_code == 422
    names = {u["username"] for u in client.get("/api/v1/users", headers=county).get_json()}
    assert "township_one" in names and "admin" not in names


def test_user_changes_are_audited(client):
    client.post("/api/v1/users", json={"username": "audited", "password": PASSWORD, "role": "police",
                                       "scope": COUNTY})
    client.patch("/api/v1/users/audited", json={"active": False})
    entries = client.get("/api/v1/audit?object_type=user&object_id=audited").get_json()
    assert [e["action"] for e in entries] == ["user.update", "user.create"]
    assert entries[0]["actor"] == "admin" and entries[0]["details"] == {"active": False}
    assert "password" not in str(entries)


def test_no_personal_data_or_secrets_in_logs(client, anonymous_client, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = login(anonymous_client, "admin", ADMIN_PASSWORD).get_json()
    login(anonymous_client, "admin", "wrong-secret-password")
    village = first_village("610902")
    client.post("/api/v1/members", json={"name": "张三丰", "phone": "13912345678", "kind": "party_member",
                                         "village_code": village})
    client.post("/api/v1/users", json={"username": "logged", "password": "logged-user-password",
                                       "role": "police", "scope": COUNTY})
    logged = caplog.text
    for secret in (ADMIN_PASSWORD, "wrong-secret-password", "logged-user-password", "13912345678",
                   "张三丰", tokens["access_token"], tokens["refresh_token"]):
        assert secret not in logged


def test_production_refuses_to_start_without_secrets(monkeypatch):
    monkeypatch.setenv("GRIDS_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("GRIDS_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GRIDS_TESTING", raising=False)
    monkeypatch.delenv("GRIDS_PHONE_KEY", raising=False)
    monkeypatch.delenv("GRIDS_VAPID_PRIVATE_KEY", raising=False)
    every = "SECRET_KEY, GRIDS_PHONE_KEY, GRIDS_ADMIN_PASSWORD, GRIDS_VAPID_PRIVATE_KEY"
    with pytest.raises(RuntimeError, match=every):
        load_config()  # every missing secret named at once
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("GRIDS_PHONE_KEY", "p" * 40)
    monkeypatch.setenv("GRIDS_ADMIN_PASSWORD", "y" * 12)
    monkeypatch.setenv("GRIDS_VAPID_PRIVATE_KEY", new_vapid_key())
    assert load_config()["GRIDS_ENV"] == "production"


def test_passwords_are_stored_as_argon2_hashes(client):
    client.post("/api/v1/users", json={"username": "hashed", "password": PASSWORD, "role": "police",
                                       "scope": COUNTY})
    stored = db.session.execute(text("select password_hash from users where username = 'hashed'")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize("creator_role,creator_scope", [("county_admin", COUNTY),
                                                       ("township_supervisor", COUNTY[:6] + "001000")])
@pytest.mark.parametrize("role", ["reviewer", "police"])
def test_only_the_city_admin_creates_reviewer_and_police_accounts(client, creator_role, creator_scope, role):
    make_user("creator", creator_role, creator_scope)
    scope = COUNTY[:6] + "001000"
    refused = client.post("/api/v1/users", headers=auth("creator"), json={
        "username": "independent", "password": PASSWORD, "role": role, "scope": scope})
    assert refused.status_code == 403 and refused.get_json()["rule"] == "independent_role"
    assert db.session.execute(text("select count(*) from users where username = 'independent'")).scalar() == 0
    created = client.post("/api/v1/users", json={"username": "independent", "password": PASSWORD, "role": role,
                                                 "scope": scope})
    assert created.status_code == 201
    # Nor may they reset or deactivate one (that would be taking it over).
    assert client.patch("/api/v1/users/independent", headers=auth("creator"),
                        json={"password": "taken-over-password"}).status_code in (403, 404)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_logout_revokes_the_refresh_token_and_its_access_tokens(anonymous_client):
    session = login(anonymous_client, "admin", ADMIN_PASSWORD).get_json()
    other = login(anonymous_client, "admin", ADMIN_PASSWORD).get_json()
    refreshed = anonymous_client.post("/api/v1/auth/refresh", headers=_bearer(session["refresh_token"])).get_json()
    # An access token is not accepted for sign-out: it needs the refresh token.
    assert anonymous_client.post("/api/v1/auth/logout", headers=_bearer(session["access_token"])).status_code == 401
    response = anonymous_client.post("/api/v1/auth/logout", headers=_bearer(session["refresh_token"]))
    assert response.status_code == 204
    assert anonymous_client.post("/api/v1/auth/refresh", headers=_bearer(session["refresh_token"])).status_code == 401
    for token in (session["access_token"], refreshed["access_token"]):
        assert anonymous_client.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    # Another session of the same account goes on.
    assert anonymous_client.get("/api/v1/me", headers=_bearer(other["access_token"])).status_code == 200
    assert anonymous_client.post("/api/v1/auth/refresh", headers=_bearer(other["refresh_token"])).status_code == 200
    assert anonymous_client.post("/api/v1/auth/logout", headers=_bearer(session["refresh_token"])).status_code == 401


def test_changing_ones_password_needs_the_old_one_and_ends_the_other_sessions(client, anonymous_client):
    make_user("changer", "police", COUNTY)
    here = login(anonymous_client, "changer", PASSWORD).get_json()
    elsewhere = login(anonymous_client, "changer", PASSWORD).get_json()
    wrong = anonymous_client.post("/api/v1/me/password", headers=_bearer(here["access_token"]),
                                  json={"old_password": "not-the-password", "new_password": "brand-new-password"})
    assert wrong.status_code == 422 and "old_password" in wrong.get_json()["errors"]["json"]
    short = anonymous_client.post("/api/v1/me/password", headers=_bearer(here["access_token"]),
                                  json={"old_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and "new_password" in short.get_json()["errors"]["json"]
    changed = anonymous_client.post("/api/v1/me/password", headers=_bearer(here["access_token"]),
                                    json={"old_password": PASSWORD, "new_password": "brand-new-password"})
    assert changed.status_code == 204
    # This session goes on (and can refresh); the other one has ended.
    assert anonymous_client.get("/api/v1/me", headers=_bearer(here["access_token"])).status_code == 200
    renewed = anonymous_client.post("/api/v1/auth/refresh", headers=_bearer(here["refresh_token"]))
    assert renewed.status_code == 200
    assert anonymous_client.get("/api/v1/me", headers=_bearer(renewed.get_json()["access_token"])).status_code == 200
    assert anonymous_client.get("/api/v1/me", headers=_bearer(elsewhere["access_token"])).status_code == 401
    assert anonymous_client.post("/api/v1/auth/refresh",
                                 headers=_bearer(elsewhere["refresh_token"])).status_code == 401
    assert login(anonymous_client, "changer", PASSWORD).status_code == 401
    assert login(anonymous_client, "changer", "brand-new-password").status_code == 200
    actions = [e["action"] for e in client.get("/api/v1/audit?page_size=1000").get_json()]
    assert "user.password_change" in actions
