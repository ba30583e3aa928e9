"""Issue 12 item 10: requests generated from every route's request schemas (Schemathesis: valid values and values
that break the schema) against the app on the test database. No answer is a 5xx; every error is in the BCS shape
(``/v3`` in IAM's). Bounded: ``OPENBCS_FUZZ_EXAMPLES`` requests per route (60), derandomized so that CI is
reproducible (``OPENBCS_FUZZ_RANDOM=1`` explores new seeds)."""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.fuzz.conftest import EXAMPLES, Tally, World
from tests.fuzz.openapi import ROUTES, Route, document, missing_routes, served_routes

BCS_CODE = re.compile(r"^BCS\.\d{7}$")
ALL_ROUTES = sorted(ROUTES)


def test_every_served_route_is_fuzzed(settings: Settings) -> None:
    app = create_app(settings)
    assert missing_routes(app) == set()
    assert {route.name for route in served_routes(app)} == set(ROUTES)
    # The console's HTML forms and pages are fuzzed from the forms themselves: tests/console/test_form_fuzz.py.


def _send(http: TestClient, kwargs: dict[str, Any]) -> httpx.Response:
    """A generated request (Schemathesis' ``requests`` arguments) sent through the test client."""
    sent: dict[str, Any] = {
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params") or None,
        "cookies": kwargs.get("cookies") or None,
    }
    if "json" in kwargs:
        sent["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        sent["content"] = data
    elif data is not None:
        sent["data"] = data
    if kwargs.get("files"):
        sent["files"] = kwargs["files"]
    try:
        built = http.build_request(kwargs["method"], kwargs["url"], **sent)
        built.read()  # encoded here, so that what cannot be encoded never reaches the server as its own failure
    except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError, TypeError, ValueError, AttributeError):
        # What no HTTP client can put on the wire (a non-Latin-1 header, a form part that is a number): a server
        # never sees it.
        reject()
    return http.send(built)


def _check_answer(route: str, path: str, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{route}: {response.status_code} {response.text}"
    if response.status_code < 400:
        return
    body = response.json()
    if path.startswith("/v3/"):
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "title", "message"}, body
        assert body["error"]["code"] == response.status_code, body
        return
    assert set(body) == {"error_code", "error_msg"}, body
    assert BCS_CODE.match(body["error_code"]), body
    assert int(body["error_code"][4:7]) == response.status_code, body
    assert 2 <= len(body["error_msg"]) <= 512, body


@pytest.mark.parametrize("name", ALL_ROUTES)
def test_no_answer_is_a_server_error(name: str, client: TestClient, world: World, tally: Tally) -> None:
    routes = [route for route in served_routes(client.app) if route.name == name]  # type: ignore[arg-type]
    schema = schemathesis.openapi.from_dict(document(routes, world.path_values(name)))
    for route in routes:
        operation = schema[route.path][route.method]
        cases = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )
        _fuzz(client, route, cases, world.credentials(name), tally)


def _fuzz(http: TestClient, route: Route, cases: st.SearchStrategy[Any], auth: dict[str, str], tally: Tally) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("OPENBCS_FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **auth}
        response = _send(http, kwargs)
        tally.count(route.name, response.status_code)
        _check_answer(route.name, route.path, response)

    run()
