"""Request logs: one line per request (JSON lines with ``log_format=json``, ``key=value`` text otherwise) carrying the
request id, method, path, status, duration, project and operation — and never a password, token or secret key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.monitoring.helpers import captured_log
from tests.support.accounts import token_body
from tests.support.servers import sdk_signed_headers

BOGUS_TOKEN = "MIIbogus-token-that-must-not-be-logged-0123456789"
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "project_id", "operation")


def _script(
    client: TestClient, make_account: Any
) -> tuple[list[tuple[str, str, int, str | None, str | None, str]], list[str]]:
    """A few requests; ``(method, path, status, project id, operation, request id)`` of each, and the secrets that
    went over the wire."""
    account = make_account()
    done: list[tuple[str, str, int, str | None, str | None, str]] = []

    response = client.post(
        "/v3/auth/tokens",
        content=token_body(account.name, account.password, account.name),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    done.append(
        ("POST", "/v3/auth/tokens", 201, None, "KeystoneCreateUserTokenByPassword", response.headers["x-request-id"])
    )

    records = f"/v2/{account.project_id}/operation/record"
    response = client.get(records, headers={"X-Auth-Token": token})
    assert response.status_code == 200
    done.append(("GET", records, 200, account.project_id, "ListOpRecord", response.headers["x-request-id"]))

    response = client.get(records, headers={"X-Auth-Token": BOGUS_TOKEN})
    assert response.status_code == 401
    done.append(("GET", records, 401, None, "ListOpRecord", response.headers["x-request-id"]))

    url = f"http://testserver{records}"
    signed = sdk_signed_headers(method="GET", url=url, ak=account.ak, sk=account.sk, project_id=account.project_id)
    response = client.get(records, headers=signed)
    assert response.status_code == 200, response.text
    done.append(("GET", records, 200, account.project_id, "ListOpRecord", response.headers["x-request-id"]))

    events = f"/v2/{account.project_id}/blockchains/00000000-0000-4000-8000-000000000000/events"
    response = client.post(
        events, json={"time_range": "-1.-1.5", "step": 60000}, headers={"X-Auth-Token": token}, params={"type": "x"}
    )
    assert response.status_code == 400
    done.append(("POST", events, 400, account.project_id, "ListBcsEvents", response.headers["x-request-id"]))

    response = client.get("/nowhere")
    assert response.status_code == 404
    done.append(("GET", "/nowhere", 404, None, None, response.headers["x-request-id"]))
    return done, [account.password, token, account.sk, BOGUS_TOKEN, signed["Authorization"].rsplit("=", 1)[1]]


def test_json_lines_one_per_request(settings: Settings, make_account: Any) -> None:
    app = create_app(settings.model_copy(update={"log_format": "json"}))
    with captured_log() as lines, TestClient(app, raise_server_exceptions=False) as client:
        done, secrets = _script(client, make_account)

    entries = [json.loads(line) for line in lines]  # every line is a JSON object
    requests = [e for e in entries if e["logger"] == "openbcs.request"]
    assert len(requests) == len(done)
    for entry, (method, path, status, project_id, operation, request_id) in zip(requests, done, strict=True):
        assert entry["message"] == "request"
        assert entry["level"] == "INFO"
        assert (entry["request_id"], entry["method"], entry["path"], entry["status"]) == (
            request_id,
            method,
            path,
            status,
        )
        assert entry.get("project_id") == project_id
        assert entry.get("operation") == operation
        assert isinstance(entry["duration_ms"], float | int)
        assert entry["duration_ms"] >= 0
        expected = {"time", "level", "logger", "message", *FIELDS}
        expected -= {k for k, v in (("project_id", project_id), ("operation", operation)) if v is None}
        assert set(entry) == expected
    assert len({e["request_id"] for e in requests}) == len(requests)
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text


def test_text_lines_one_per_request(settings: Settings, make_account: Any) -> None:
    app = create_app(settings.model_copy(update={"log_format": "text"}))
    with captured_log() as lines, TestClient(app, raise_server_exceptions=False) as client:
        done, secrets = _script(client, make_account)

    requests = [line for line in lines if " openbcs.request: request " in line]
    assert len(requests) == len(done)
    for line, (method, path, status, project_id, operation, request_id) in zip(requests, done, strict=True):
        tail = line.split(" openbcs.request: request ", 1)[1]
        fields = dict(part.split("=", 1) for part in tail.split(" "))
        expected = {"request_id": request_id, "method": method, "path": path, "status": str(status)}
        if project_id is not None:
            expected["project_id"] = project_id
        if operation is not None:
            expected["operation"] = operation
        duration = fields.pop("duration_ms")
        assert float(duration) >= 0
        assert fields == expected
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_crash_is_logged_with_its_request_id(
    settings: Settings, make_account: Any, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    from openbcs.monitoring import views

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(views, "events", boom)
    app = create_app(settings.model_copy(update={"log_format": fmt}))
    with captured_log() as lines, TestClient(app, raise_server_exceptions=False) as client:
        account = make_account()
        token = client.post(
            "/v3/auth/tokens",
            content=token_body(account.name, account.password, account.name),
            headers={"Content-Type": "application/json"},
        ).headers["X-Subject-Token"]
        response = client.post(
            f"/v2/{account.project_id}/blockchains/x/events",
            json={"time_range": "-1.-1.5", "step": 60000},
            headers={"X-Auth-Token": token},
        )
        assert (response.status_code, response.json()["error_code"]) == (500, "BCS.5000500")
        request_id = response.headers["x-request-id"]

    text = "\n".join(lines)
    assert token not in text
    if fmt == "json":
        entries = [json.loads(line) for line in lines]
        (crash,) = [e for e in entries if "exception" in e]
        assert request_id in crash["message"]
        assert "RuntimeError: unexpected" in crash["exception"]
        (request,) = [e for e in entries if e.get("request_id") == request_id]
        assert (request["status"], request["operation"]) == (500, "ListBcsEvents")
    else:
        assert any(f"unexpected error in request {request_id}" in line for line in lines)
        assert "RuntimeError: unexpected" in text
        assert any(f"request_id={request_id}" in line and "status=500" in line for line in lines)
