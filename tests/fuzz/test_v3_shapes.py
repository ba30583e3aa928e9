"""Issue 21 item 7: every ``/v3`` error answers in Keystone's shape, ``{"error": {"code", "title", "message"}}``
(docs/api.md), whichever layer refuses it: a query parameter over its length, a body over the size limit (declared
or streamed), an unknown path or method, a crash. The generated requests of test_fuzz.py check the same shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from openbcs.http.middleware import MAX_BODY_BYTES
from openbcs.iam import routes as iam_routes
from tests.fuzz.test_fuzz import _check_answer
from tests.support.accounts import JSON, TestAccount, issue_token, token_body


def _keystone(response: httpx.Response, status: int, title: str, message: str) -> None:
    _check_answer("v3", "/v3/", response)
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"code": status, "title": title, "message": message}}
    assert response.headers["X-Request-Id"]


def test_an_over_long_project_name_is_refused_in_keystone_shape(
    client: TestClient, make_account: Callable[..., TestAccount]
) -> None:
    account = make_account()
    headers = {"X-Auth-Token": issue_token(client, account)}
    answer = client.get("/v3/projects", params={"name": "n" * 65}, headers=headers)
    _keystone(answer, 400, "Bad Request", "Invalid Parameter name : String should have at most 64 characters")
    # At the limit it is a lookup like any other (no such project: an empty list).
    answer = client.get("/v3/projects", params={"name": "n" * 64}, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"projects": []})


def test_a_declared_over_size_token_body_is_refused_in_keystone_shape(client: TestClient) -> None:
    headers = {**JSON, "Content-Length": str(MAX_BODY_BYTES + 1)}
    request = client.build_request("POST", "/v3/auth/tokens", content=b"{}", headers=headers)
    _keystone(client.send(request), 400, "Bad Request", "request body is too large")


def test_a_streamed_over_size_token_body_is_refused_in_keystone_shape(
    client: TestClient, make_account: Callable[..., TestAccount]
) -> None:
    account = make_account()

    def chunks() -> Iterator[bytes]:
        yield token_body(account.name, account.password, account.name)[:-1]
        for _ in range(13):
            yield b" " * (1024 * 1024)

    answer = client.post("/v3/auth/tokens", content=chunks(), headers=JSON)
    _keystone(answer, 400, "Bad Request", "request body is too large")
    assert "X-Subject-Token" not in answer.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v3/nothing-here"), ("DELETE", "/v3/projects"), ("GET", "/v3/auth/tokens"), ("GET", "/v3")],
)
def test_unknown_paths_and_methods_under_v3_answer_in_keystone_shape(
    client: TestClient, method: str, path: str
) -> None:
    _keystone(client.request(method, path), 404, "Not Found", "Not Found:the url is not found")


def test_bcs_paths_keep_the_bcs_shape(client: TestClient) -> None:
    answer = client.get("/v2/nothing-here")
    assert (answer.status_code, answer.json()) == (
        404,
        {"error_code": "BCS.4040404", "error_msg": "Not Found:the url is not found"},
    )
    answer = client.get("/v3x/projects")  # only /v3 itself and what is under it is IAM's
    assert answer.json()["error_code"] == "BCS.4040404"


def test_a_crash_under_v3_answers_500_in_keystone_shape(
    client: TestClient, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account()
    headers = {"X-Auth-Token": issue_token(client, account)}

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(iam_routes.service, "projects_named", broken)
    answer = client.get("/v3/projects", headers=headers)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": 500, "title": "Internal Server Error", "message": "Internal Server Error"}
    }
    assert "boom" not in answer.text
