"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis).

A bounded run: a few generated requests per operation, signed in as the city
administrator, inside the test transaction (so nothing outlives it). Every answer
must be a non-5xx response whose status code is documented and whose body conforms
to the documented schema. ``FUZZ_EXAMPLES`` raises the number of examples.
"""
from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.helpers import auth

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
CHECKS = (not_a_server_error, status_code_conformance, response_schema_conformance)


def test_every_operation_answers_as_documented(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = auth("admin")
    failures = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # collect every failure, then report them all
            failures[operation.label] = str(error)[:600]
    assert operations >= 40
    assert not failures, "\n\n".join(f"{label}: {message}" for label, message in failures.items())


DEEP = "[" * 50_000 + "]" * 50_000
# Lone surrogates, as a JSON encoder writes them (valid JSON syntax, invalid Unicode).
SURROGATES = ('{"name": "\\ud800", "username": "a\\udfff", "notes": "\\ud800", "visits": [{"notes": "\\ud800"}], '
              '"features": [], "reason": "\\udc00"}')


def test_deep_nesting_and_lone_surrogates_answer_4xx_on_every_json_operation(app):
    """Every operation that takes a JSON body answers 400 with the error shape, never 500."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    client = app.test_client()
    headers = auth("admin")
    checked = 0
    failures = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        body = operation.definition.raw.get("requestBody", {}).get("content", {})
        if "application/json" not in body:
            continue
        path = operation.full_path
        for parameter in operation.path_parameters:
            path = path.replace("{" + parameter.name + "}", "1")
        for label, raw in (("deep", DEEP), ("surrogate", SURROGATES)):
            response = client.open(path, method=operation.method.upper(), data=raw, headers=headers,
                                   content_type="application/json")
            answer = response.get_json(silent=True) or {}
            if response.status_code != 400 or answer.get("code") != 400 or not answer.get("message"):
                failures[f"{operation.label} {label}"] = f"{response.status_code} {response.get_data()[:200]!r}"
        checked += 1
    assert checked >= 15
    assert not failures, failures


@pytest.mark.parametrize("escaped", [False, True])
def test_nesting_deeper_than_32_answers_400_even_far_below_the_parsers_limit(client, escaped):
    """33 levels (far from Python's recursion limit) is refused, with or without escapes in the body."""
    body = '{"name": "' + ("\\u5f20" if escaped else "张") + '", "notes": ' + "[" * 40 + "]" * 40 + "}"
    response = client.post("/api/v1/members", data=body.encode(), content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert "nested too deeply" in response.get_json()["message"]


@pytest.mark.parametrize("character", ["\u0085", "\u009b", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff",
                                       "\x07"])
def test_invisible_and_control_characters_are_refused_in_names_and_free_text(client, character):
    from tests.helpers import first_village

    village = first_village("610902")
    response = client.post("/api/v1/members", json={"name": f"张{character}三", "kind": "party_member",
                                                    "village_code": village})
    assert response.status_code == 422, response.get_json()
    assert "name" in response.get_json()["errors"]["json"]
    response = client.post("/api/v1/members", json={"name": "张三", "kind": "party_member", "village_code": village,
                                                    "notes": [f"ok{character}"]})
    assert response.status_code == 422
    # As a browser's JSON.stringify sends it: the character itself in UTF-8, not a \\u escape.
    raw = json.dumps({"name": f"张{character}三", "kind": "party_member", "village_code": village},
                     ensure_ascii=False).encode()
    response = client.post("/api/v1/members", data=raw, content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert "name" in response.get_json()["errors"]["json"]
    # Ordinary text with tabs, newlines, Chinese and emoji passes the check.
    response = client.post("/api/v1/members", json={"name": "欧阳 娜娜", "kind": "party_member",
                                                    "village_code": village})
    assert response.status_code == 201, response.get_json()
