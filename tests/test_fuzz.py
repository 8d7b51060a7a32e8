"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis).

A bounded run: a few generated requests per operation, signed in as the city
administrator, inside the test transaction (so nothing outlives it). Every answer
must be a non-5xx response whose status code is documented and whose body conforms
to the documented schema. ``FUZZ_EXAMPLES`` raises the number of examples.
"""
from __future__ import annotations

import os

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
