"""Schemathesis fuzzes every operation in /api/openapi.json against the Flask app over the seed index.

Bounded and reproducible: per operation 30 valid generated requests (and 30 invalid ones where the
parameters have constraints to break), hypothesis
derandomized (a fixed seed) and no example database. Each response must not be a 5xx and must match
the documented status codes, content type and schema.

The cases are drawn with ``APIOperation.as_strategy`` under a plain ``@given``: schemathesis's own
pytest fixture loader (``schemathesis.pytest.from_fixture``) fails under pytest 9.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from service import create_app
from service.openapi import build_spec

TOKEN = "fuzz-reload-token"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [(path, method.upper()) for path, methods in build_spec()["paths"].items() for method in methods]
# Invalid data exists only where a parameter or body has constraints (a path id is any string).
CASES = ([(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS]
         + [(path, method, GenerationMode.NEGATIVE) for path, method in OPERATIONS if path == "/api/search"])
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def api_schema(searcher, index_root):
    """The app's own OpenAPI document, loaded through the WSGI app (no socket)."""
    app = create_app({"TESTING": True, "INDEX": str(index_root), "RELOAD_TOKEN": TOKEN}, searcher=searcher)
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.mark.parametrize(("path", "method", "mode"), CASES, ids=[f"{m} {p} {g.value}" for p, m, g in CASES])
def test_operation_honours_the_openapi_document(api_schema, path, method, mode):
    operation = api_schema[path][method]
    # the reload operation gets the real token so its 200 shape is checked too (auth is in test_reload.py)
    headers = {"Authorization": f"Bearer {TOKEN}"} if path == "/api/admin/reload" else None

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


# Inputs the generators do not draw (hypothesis text has no surrogates; a random string is rarely
# "--5") that were 500s before service/api.py refused them.
@pytest.mark.parametrize(("method", "url", "body", "status", "code"), [
    ("get", "/api/search?q=a&k=--5", None, 400, "bad_query"),
    ("get", "/api/search?q=a&k=%2B-5", None, 400, "bad_query"),
    ("get", "/api/search?q=a&k=-0", None, 400, "bad_query"),
    ("get", "/api/search?q=a&k=%2B5", None, 200, None),
    ("post", "/api/search", b'{"q": "\\ud800"}', 400, "bad_request"),
    ("post", "/api/search", b'{"q": "a", "speech": "\\udfff"}', 400, "bad_request"),
    ("post", "/api/search", b'{"q": "\\ud83d\\ude00 food"}', 200, None),  # a paired surrogate is one emoji
])
def test_inputs_the_fuzzer_does_not_draw(api_schema, method, url, body, status, code):
    client = api_schema.app.test_client()
    response = (client.post(url, data=body, content_type="application/json") if method == "post"
                else client.get(url))
    assert response.status_code == status
    if code:
        assert response.get_json()["error"]["code"] == code


def test_html_page_refuses_a_doubly_signed_k(api_schema):
    response = api_schema.app.test_client().get("/?q=a&k=--5")
    assert response.status_code == 400 and "结果数必须是 1 到 50 之间的整数" in response.get_data(as_text=True)
