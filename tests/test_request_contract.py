"""The published request schemas are as strict as the server, and every response's content type is
documented: driven as a generated client would drive them, with schemathesis against a real gunicorn.

- **Write operations, positive data only:** a body (and query) that conforms to the documented schema
  must not be refused as malformed. Answers a well-formed request may get for the state of the data
  (403 out of scope, 404 unknown, 409 conflict, 422 naming a domain rule such as a point outside the
  city) are fine; a 422 whose field errors come from parsing (``errors.json``/``errors.query``), a
  database refusing a value (a number out of a column's range), a 400 or a 5xx is a schema that
  promised more than the server accepts.
- **Every GET operation:** the content type of each answer is among those the operation documents.

Bounded: ``CONTRACT_EXAMPLES`` examples per operation (default 12), derandomized (the same examples every
run), against ``writable_server``, a copy of the seeded database that generated writes may change at will.
"""
from __future__ import annotations

import json
import os
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "12"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Sign-in and one's own password are about credentials, not data (a generated password is wrong by design).
CREDENTIALS = {"/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/me/password"}
# What a well-formed request may get for the state of the data.
ACCEPTABLE = {200, 201, 202, 204, 403, 404, 409}
# Rules a request schema cannot state, and what they are answered with (field errors, in English):
# - references to stored data, and where the stored cells and villages lie;
DATA_RULES = {
    "Unknown region, or outside your scope.", "Unknown village, or outside your scope.",
    "Unknown member, or outside the user's scope.", "Unknown member, or outside your scope.",
    "A grid worker account belongs to a member.", "The point is outside every grid cell.",
    "The point is outside your scope.", "The point is outside every village of your scope.",
    # - a time relative to now, and a comparison between two values of one request (OpenAPI 3.0 compares a
    #   value with constants only);
    "Too far in the future.", "A period spans at most two years.", "Must not be after 'to'.",
    "best and worst must differ.", "bbox minimum must not exceed maximum.",
}
# A file part's content is binary to OpenAPI (no pattern): the CSV import is driven with its text/csv body.
MEDIA_TYPES = {"POST /api/v1/households/import": "text/csv"}
# - OpenAPI 3.0 has no per-position schema for arrays: a GeoJSON point's [lon, lat] can only be bounded as
#   a whole (its {lon, lat} form carries the city's ranges).
GEOJSON_POSITION_RULES = {"The point is outside the city.", "Coordinates out of range (lon -180..180, lat -90..90)."}
GENERATION = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _token(server) -> str:
    request = urllib.request.Request(server.url + "/api/v1/auth/token", method="POST",
                                     data=json.dumps({"username": server.username,
                                                      "password": server.password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


@pytest.fixture(scope="module")
def contract(writable_server):
    """The published document as schemathesis reads it from the server, and an administrator's headers."""
    schema = schemathesis.openapi.from_url(writable_server.url + "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {_token(writable_server)}", "Accept-Language": "en"}
    return schema, headers


def _operations(schema, methods: set[str]):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() in methods and operation.path not in CREDENTIALS:
            yield operation


def _messages(errors, path=()):
    """(path, message) of every field error, however deeply nested."""
    if isinstance(errors, list):
        for message in errors:
            yield path, message
    elif isinstance(errors, dict):
        for key, value in errors.items():
            yield from _messages(value, (*path, key))


def _sent(case, path):
    """The value the request carried at an error's path (``("json", "location")``), or None."""
    value = case.body if path and path[0] == "json" else None
    for key in path[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _refusal(case, response) -> str | None:
    """Why the answer to a conforming request shows a schema looser than the server, or None."""
    if response.status_code in ACCEPTABLE:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 422 and isinstance(body, dict) and body.get("errors"):
        unexplained = [(path, message) for path, message in _messages(body["errors"])
                       if message not in DATA_RULES
                       and not (message in GEOJSON_POSITION_RULES and isinstance(_sent(case, path), dict)
                                and "coordinates" in _sent(case, path))]
        if not unexplained:
            return None
    shown = json.dumps(body, ensure_ascii=False) if body is not None else response.text
    return f"{response.status_code} {shown[:300]}"


def _problem(check, case, response) -> str | None:
    problem = check(case, response)
    if not problem:
        return None
    sent = case.body if case.body is not None and not isinstance(case.body, bytes) else None
    body = json.dumps(sent, ensure_ascii=False, default=str)[:300]
    return (f"{problem}\n    query={case.query} path={case.path_parameters} "
            f"accept={(case.headers or {}).get('Accept')} body={body}")


def _run(operation, headers, check, accepts=(None,)) -> list[str]:
    """Generated cases of ``operation``, each sent once per Accept header of ``accepts``; the problems found."""
    problems: list[str] = []

    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    if operation.label in MEDIA_TYPES:
        strategy = strategy.filter(lambda case: case.media_type == MEDIA_TYPES[operation.label])

    @GENERATION
    @given(case=strategy)
    def generate(case):
        for accept in accepts:
            if accept:
                case.headers = {**(case.headers or {}), "Accept": accept}
            problem = _problem(check, case, case.call(headers=headers, timeout=30))
            if problem:
                problems.append(problem)

    generate()
    return problems


def _enum_probes(operation, headers, check) -> list[str]:
    """Each value of each enumerated query parameter (``?f=geojson``, ``?f=csv``...), the other parameters
    generated: a few generated cases rarely pick every value."""
    problems: list[str] = []
    for parameter in operation.definition.raw.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        for value in (parameter.get("schema") or {}).get("enum", []):

            @settings(GENERATION, max_examples=1)
            @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                              query={parameter["name"]: value}))
            def probe(case):
                problem = _problem(check, case, case.call(headers=headers, timeout=30))
                if problem:
                    problems.append(problem)

            probe()
    return problems


def _report(failures: dict[str, list[str]]) -> str:
    return "\n\n".join(f"{label}: {len(problems)} problems, e.g.\n  " + "\n  ".join(problems[:3])
                       for label, problems in failures.items())


def test_bodies_the_documented_schemas_allow_are_not_refused_as_malformed(contract):
    schema, headers = contract
    failures: dict[str, list[str]] = {}
    operations = 0
    for operation in _operations(schema, WRITES):
        operations += 1
        problems = _run(operation, headers, _refusal)
        if problems:
            failures[operation.label] = problems
    assert operations >= 25
    assert not failures, _report(failures)


def _content_type_and_query(case, response) -> str | None:
    """An undocumented content type, a 5xx, or a conforming query refused."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    try:
        content_type_conformance(None, response, case)
    except Exception as error:  # schemathesis' failure names the received and the documented types
        return f"{response.status_code} {' '.join(str(error).split())[:300]}"
    return _refusal(case, response)


def test_every_get_answers_only_documented_content_types_and_takes_its_documented_queries(contract):
    """Each generated query is also sent asking for GeoJSON first, as a GIS client does."""
    schema, headers = contract
    failures: dict[str, list[str]] = {}
    operations = 0
    for operation in _operations(schema, {"GET"}):
        operations += 1
        problems = _run(operation, headers, _content_type_and_query, accepts=(None, "application/geo+json"))
        problems += _enum_probes(operation, headers, _content_type_and_query)
        if problems:
            failures[operation.label] = problems
    assert operations >= 40
    assert not failures, _report(failures)
