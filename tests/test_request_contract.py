"""The published request schemas are as strict as the server, and every response's content type is
documented: driven as a generated client would drive them, with schemathesis against a real gunicorn.

- **Write operations, positive data only:** a body (and query) that conforms to the documented schema
  must not be refused as malformed. Answers a well-formed request may get for the state of the data
  (403 out of scope, 404 unknown, 409 conflict, 422 naming a domain rule such as a point outside the
  city) are fine; a 422 whose field errors come from parsing (``errors.json``/``errors.query``), a
  database refusing a value (a number out of a column's range), a 400 or a 5xx is a schema that
  promised more than the server accepts.
- **Every operation:** the content type of each answer is among those the operation documents; each GET
  is also asked for GeoJSON first (``Accept``) and with each value of each enumerated query parameter
  (``?f=geojson|csv|xlsx|pdf``), and its generated queries must not be refused as malformed either.

Bounded: ``CONTRACT_EXAMPLES`` examples per operation (default 12), derandomized (the same examples every
run), against ``writable_server``, a copy of the seeded database that generated writes may change at will.
"""
from __future__ import annotations

import json
import os
import re
import urllib.request
from collections import Counter, defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance

from tests.helpers import PASSWORD

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "12"))
# Operations only a grid worker's or a police account may call (the others are called as the city
# administrator).
WORKER_OPERATIONS = {"POST /api/v1/visits/sync", "GET /api/v1/me/worklist"}
POLICE_OPERATIONS = {"POST /api/v1/cases", "POST /api/v1/warnings"}
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
    "The location is not in this village.",
    # - a time relative to now, and a comparison between two values of one request (OpenAPI 3.0 compares a
    #   value with constants only);
    "Too far in the future.", "A period spans at most two years.", "Must not be after 'to'.",
    "best and worst must differ.", "bbox minimum must not exceed maximum.",
    "Unknown household, or outside your scope.", "Older than 30 days.",
    "Not a worklist token of yours.",  # (a token the server signed for the caller)
}
DATA_RULE_PATTERNS = (r"The household is in cell \S+\.",)
# A file part's content is binary to OpenAPI (no pattern): the CSV import is driven with its text/csv body.
MEDIA_TYPES = {"POST /api/v1/households/import": "text/csv"}
# - OpenAPI 3.0 has no per-position schema for arrays: a GeoJSON point's [lon, lat] can only be bounded as
#   a whole (its {lon, lat} form carries the city's ranges).
GEOJSON_POSITION_RULES = {"The point is outside the city.", "Coordinates out of range (lon -180..180, lat -90..90)."}
GENERATION = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _call(server, method: str, path: str, body=None, token: str | None = None):
    request = urllib.request.Request(server.url + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


@pytest.fixture(scope="module")
def contract(writable_server):
    """The published document as schemathesis reads it from the server, and the headers to call each
    operation with: an administrator's, a grid worker's for what only grid workers do."""
    schema = schemathesis.openapi.from_url(writable_server.url + "/api/v1/openapi.json")
    admin = _call(writable_server, "POST", "/auth/token", {"username": writable_server.username,
                                                             "password": writable_server.password})["access_token"]
    [member] = _call(writable_server, "GET", "/members?page_size=1&active=true", token=admin)
    _call(writable_server, "POST", "/users", {"username": "contract_worker", "password": PASSWORD,
                                              "role": "grid_worker", "scope": member["village_code"],
                                              "member_id": member["id"]}, token=admin)
    _call(writable_server, "POST", "/users", {"username": "contract_police", "password": PASSWORD, "role": "police",
                                              "scope": "610900000000"}, token=admin)
    worker, police = (_call(writable_server, "POST", "/auth/token", {"username": username, "password": PASSWORD}
                            )["access_token"] for username in ("contract_worker", "contract_police"))
    headers = {**{label: _headers(worker) for label in WORKER_OPERATIONS},
               **{label: _headers(police) for label in POLICE_OPERATIONS}}
    return schema, defaultdict(lambda: _headers(admin), headers)


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
        if isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def _unexplained(case, errors, base=()) -> list:
    """The field errors no data rule explains (``base``: where the errors' paths start in the request; an
    error answer's paths start with their location, ``json``)."""
    found = []
    for path, message in _messages(errors):
        sent = _sent(case, (*base, *path))
        if message in DATA_RULES or any(re.fullmatch(rule, message) for rule in DATA_RULE_PATTERNS):
            continue
        if message in GEOJSON_POSITION_RULES and isinstance(sent, dict) and "coordinates" in sent:
            continue
        found.append((path, message))
    return found


def _refusal(case, response) -> str | None:
    """Why the answer to a conforming request shows a schema looser than the server, or None."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in ACCEPTABLE:
        # A batch answers item by item: a conforming item must not be rejected for its form either.
        results = body.get("results") if isinstance(body, dict) else None
        rejected = [(index, result["errors"]) for index, result in enumerate(results or [])
                    if isinstance(result, dict) and result.get("status") == "rejected"]
        unexplained = [(index, found) for index, errors in rejected
                       if (found := _unexplained(case, errors, ("json", "visits", index)))]
        return f"item rejected: {unexplained[:3]}" if unexplained else None
    if response.status_code == 422 and isinstance(body, dict) and body.get("errors"):
        if not _unexplained(case, body["errors"]):
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


def _run(operation, headers, check, accepts=(None,), statuses: Counter | None = None) -> list[str]:
    """Generated cases of ``operation``, each sent once per Accept header of ``accepts``; the problems found
    (and the statuses answered counted in ``statuses``)."""
    problems: list[str] = []
    statuses = Counter() if statuses is None else statuses

    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    if operation.label in MEDIA_TYPES:
        strategy = strategy.filter(lambda case: case.media_type == MEDIA_TYPES[operation.label])

    @GENERATION
    @given(case=strategy)
    def generate(case):
        for accept in accepts:
            if accept:
                case.headers = {**(case.headers or {}), "Accept": accept}
            response = case.call(headers=headers, timeout=30)
            statuses[response.status_code] += 1
            problem = _problem(check, case, response)
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
    answered: dict[str, Counter] = {}
    for operation in _operations(schema, WRITES):
        answered[operation.label] = Counter()
        problems = _run(operation, headers[operation.label], _refused_or_undocumented,
                        statuses=answered[operation.label])
        if problems:
            failures[operation.label] = problems
    assert len(answered) >= 25
    assert not failures, _report(failures)
    # Not vacuous: conforming bodies get through to the services, and many are carried out.
    carried_out = sorted(label for label, statuses in answered.items() if any(200 <= s < 300 for s in statuses))
    for label in ("POST /api/v1/households/import", "POST /api/v1/grids/import",
                  "PUT /api/v1/assessment/scorecard", "POST /api/v1/visits/sync", "POST /api/v1/me/push-subscriptions"):
        assert label in carried_out, (label, answered[label])
    assert len(carried_out) >= 10, {label: dict(statuses) for label, statuses in answered.items()}


def _content_type(case, response) -> str | None:
    """An undocumented content type."""
    try:
        content_type_conformance(None, response, case)
    except Exception as error:  # schemathesis' failure names the received and the documented types
        return f"{response.status_code} {' '.join(str(error).split())[:300]}"
    return None


def _refused_or_undocumented(case, response) -> str | None:
    """A conforming request refused as malformed, a 5xx, or an answer of an undocumented content type."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    return _refusal(case, response) or _content_type(case, response)


def _content_type_and_query(case, response) -> str | None:
    """An undocumented content type, a 5xx, or a conforming query refused."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    return _content_type(case, response) or _refusal(case, response)


def test_every_get_answers_only_documented_content_types_and_takes_its_documented_queries(contract):
    """Each generated query is also sent asking for GeoJSON first, as a GIS client does."""
    schema, headers = contract
    failures: dict[str, list[str]] = {}
    operations = 0
    for operation in _operations(schema, {"GET"}):
        operations += 1
        problems = _run(operation, headers[operation.label], _content_type_and_query,
                        accepts=(None, "application/geo+json"))
        problems += _enum_probes(operation, headers[operation.label], _content_type_and_query)
        if problems:
            failures[operation.label] = problems
    assert operations >= 40
    assert not failures, _report(failures)
