"""Role × scope matrix generated from the app's URL map.

Every endpoint under /api/v1 (present and future) must answer 401 without a token,
404 for an object outside the caller's scope, and 403 for a role its view does not
allow (read from ``_allowed_roles``, set by ``roles_allowed``).  An endpoint with a
URL parameter this file cannot fill fails the test until a sample is added below.
"""
from __future__ import annotations

import re

import pytest

from grids.accounts.roles import RANK, ROLE_LEVELS, ROLES
from grids.assignments.services import create_plan
from tests.helpers import (
    assignment_in,
    auth,
    case_in,
    certification_in,
    first_village,
    household_in,
    make_user,
    member_in,
    notification_for,
    push_subscription_for,
    task_force_person_in,
    tier3_in,
    visit_in,
    warning_in,
)

PUBLIC = {"/api/v1/health", "/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/openapi.json",
          "/api/v1/docs", "/api/v1/docs/static/<path:filename>"}
IN_COUNTY, OUT_COUNTY = "610902", "610921"
PARAM = re.compile(r"<(?:[a-z0-9]+:)?([a-z_]+)>")


def _api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _view_method(app, rule, method):
    view = app.view_functions[rule.endpoint]
    return getattr(view.view_class, method.lower())


def _samples(county: str) -> dict[tuple[str, str], str]:
    """URL parameter values for objects inside ``county``, keyed by (first path segment, name)."""
    village = first_village(county)
    force_id, person_id = task_force_person_in(village)
    target_user = f"matrix_target_{county}"
    target = make_user(target_user, "village_admin", village)
    return {
        ("regions", "code"): village,
        ("grids", "code"): tier3_in(village),
        ("members", "member_id"): str(member_in(village)),
        ("households", "household_id"): str(household_in(village)),
        ("users", "username"): target_user,
        ("assignments", "assignment_id"): str(assignment_in(village)),
        ("assignment-plans", "plan_id"): str(create_plan(county + "000000", True, "test").id),
        ("visits", "visit_id"): visit_in(village),
        ("villages", "code"): village,
        ("certifications", "certification_id"): str(certification_in(village)),
        ("warnings", "warning_id"): str(warning_in(village)),
        ("cases", "case_id"): str(case_in(village)),
        ("warnings", "force_id"): str(force_id), ("warnings", "person_id"): str(person_id),
        # The caller's own notifications and subscriptions: another account's answer 404 like unknown ones.
        ("me", "notification_id"): str(notification_for(target.id)),
        ("me", "subscription_id"): str(push_subscription_for(target.id)),
        ("tiles", "layer"): "grids", ("tiles", "z"): "12", ("tiles", "x"): "3288", ("tiles", "y"): "1650",
    }


def _url(rule, samples) -> str:
    segment = rule.rule.split("/")[3]

    def fill(match):
        key = (segment, match.group(1))
        assert key in samples, f"add a sample for URL parameter {key} to tests/test_scope_matrix.py"
        return samples[key]

    return PARAM.sub(fill, rule.rule)


def _scope_for(role: str, village: str) -> str:
    level = ROLE_LEVELS[role][-1] if role != "city_admin" else "city"
    return {"city": "610900000000", "county": village[:6] + "000000", "township": village[:9] + "000",
            "village": village}[level]


def _user_of(role: str, village: str) -> str:
    username = f"matrix_{role}"
    make_user(username, role, _scope_for(role, village),
              member_in(village) if role == "grid_worker" else None)
    return username


# Bodies valid enough to reach the object lookup, for endpoints with URL parameters
# whose body has required fields (otherwise 422 would answer before scope is checked).
BODIES = {"/api/v1/certifications/<id32:certification_id>/decisions": {"decision": "approve"},
          "/api/v1/certifications/<id32:certification_id>/reinstate": {"comment": "cases voided"},
          "/api/v1/cases/<id64:case_id>/void": {"reason": "recorded twice"},
          "/api/v1/visits/<uuid:visit_id>/review": {"decision": "voided", "reason": "mocked location"},
          "/api/v1/warnings/<id64:warning_id>/events": {"id": "6b0c4a3e-2f42-4c55-9d1e-3c1f7f1e2a10",
                                                         "type": "called", "at": "2026-01-01T08:00:00+08:00"},
          "/api/v1/warnings/<id64:warning_id>/reassign": {"member_id": 1},
          "/api/v1/warnings/task-forces/<id32:force_id>/people": {"role": "official", "name": "x"}}


def _call(client, method, url, headers=None, rule=None):
    body = BODIES.get(rule, {}) if method in ("POST", "PATCH", "PUT") else None
    return client.open(url, method=method, headers=headers or {}, json=body)


def test_every_endpoint_needs_a_token(app, anonymous_client):
    rules = list(_api_rules(app))
    assert len(rules) > 10
    samples = _samples(IN_COUNTY)
    for rule, method in rules:
        response = _call(anonymous_client, method, _url(rule, samples))
        assert response.status_code == 401, (method, rule.rule, response.status_code)
        assert response.get_json()["code"] == 401


# A tile is not an object: out of scope it is answered empty (tests/test_tiles.py checks that).
FILTERED_NOT_FOUND = {"/api/v1/tiles/<string:layer>/<int:z>/<int:x>/<int:y>.pbf"}


def test_objects_outside_the_scope_answer_404(app, client):
    village = first_village(IN_COUNTY)
    outside = _samples(OUT_COUNTY)
    users = {role: _user_of(role, village) for role in ROLES if role != "city_admin"}
    checked = 0
    for rule, method in _api_rules(app):
        if not PARAM.search(rule.rule) or rule.rule in FILTERED_NOT_FOUND:
            continue
        allowed = getattr(_view_method(app, rule, method), "_allowed_roles", ROLES)
        candidates = sorted((r for r in allowed if r in users), key=lambda r: -RANK[r])
        if not candidates:
            continue  # only the city administrator may call it; nothing is outside its scope
        for role in candidates:
            response = _call(client, method, _url(rule, outside), auth(users[role]), rule.rule)
            assert response.status_code == 404, (role, method, rule.rule, response.get_json())
            checked += 1
    assert checked >= 8


def test_roles_that_may_not_act_get_403(app, client):
    village = first_village(IN_COUNTY)
    inside = _samples(IN_COUNTY)
    users = {role: _user_of(role, village) for role in ROLES if role != "city_admin"}
    checked = 0
    for rule, method in _api_rules(app):
        allowed = getattr(_view_method(app, rule, method), "_allowed_roles", None)
        if allowed is None:
            continue
        for role in set(users) - set(allowed):
            response = _call(client, method, _url(rule, inside), auth(users[role]))
            assert response.status_code == 403, (role, method, rule.rule, response.get_json())
            assert response.get_json()["code"] == 403
            checked += 1
    assert checked >= 10


def test_lists_only_hold_objects_inside_the_scope(app, client):
    village = first_village(IN_COUNTY)
    make_user("matrix_county", "county_admin", IN_COUNTY + "000000")
    headers = auth("matrix_county")
    region_fields = ("village_code", "scope", "region_code")
    for rule, method in _api_rules(app):
        if method != "GET" or PARAM.search(rule.rule):
            continue
        allowed = getattr(_view_method(app, rule, method), "_allowed_roles", ROLES)
        if "county_admin" not in allowed:
            continue  # e.g. the worklist: covered by the 403 test
        response = client.get(rule.rule + "?page_size=1000", headers=headers)
        if response.status_code == 422:  # needs query arguments (e.g. locate): not a list
            continue
        assert response.status_code == 200, (rule.rule, response.get_json())
        body = response.get_json()
        if not isinstance(body, list):
            continue
        for item in body:
            code = next((item[f] for f in region_fields if f in item), None) or item.get("code")
            if isinstance(code, str):
                assert code.startswith(IN_COUNTY), (rule.rule, item)
    # A region filter naming another county is out of scope too.
    assert client.get(f"/api/v1/grids?region={OUT_COUNTY}000000", headers=headers).status_code == 404
    assert client.get(f"/api/v1/grids?region={village}", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/regions?level=county", "/api/v1/grids?tier=1"])
def test_city_admin_sees_the_whole_city(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert {item.get("village_code", item["code"])[:6] for item in response.get_json()} >= {IN_COUNTY, OUT_COUNTY}
