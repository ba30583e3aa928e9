"""The error model of item 5: every kind of bad input gets its documented code and changes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from openbcs.kernel import errors
from openbcs.http.deps import Caller, Context, json_body
from openbcs.app import create_app
from openbcs.kernel.db import Database
from openbcs.http.middleware import MAX_BODY_BYTES
from openbcs.engine import engine as operations
from openbcs.engine.models import Operation
from openbcs.engine.diagnostic import KIND
from openbcs.kernel.settings import Settings
from tests.support import error_of


class _Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=4)


class _Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=8)
    count: int
    enabled: bool = False
    nested: _Nested | None = None
    items: list[_Nested] = []


def _probe_router() -> APIRouter:
    """A mutating endpoint built from the same plumbing as every real one: it starts an operation."""
    router = APIRouter(prefix="/v2/{project_id}")

    @router.post("/probe")
    async def probe(
        caller: Caller, ctx: Context, body: Annotated[_Probe, Depends(json_body(_Probe))]
    ) -> dict[str, str]:
        operation_id = await ctx.db.write(
            lambda s: operations.start(
                s,
                kind=KIND,
                domain_id=caller.domain_id,
                project_id=caller.project_id,
                payload={"name": body.name},
            )
        )
        return {"operation_id": operation_id}

    @router.get("/crash")
    async def crash(caller: Caller) -> None:
        raise RuntimeError("boom: internal detail that must not leak")

    return router


@pytest.fixture
def probe_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.include_router(_probe_router())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _operation_count(db: Database) -> int:
    return db.run_read(lambda s: s.scalar(select(func.count()).select_from(Operation)))


@pytest.fixture
def caller(make_account, probe_client):
    account = make_account()
    response = probe_client.post(
        "/v3/auth/tokens",
        content=json.dumps(
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": account.name,
                                "password": account.password,
                                "domain": {"name": account.name},
                            }
                        },
                    },
                    "scope": {"project": {"id": account.project_id}},
                }
            }
        ),
        headers={"Content-Type": "application/json"},
    )
    return account, response.headers["X-Subject-Token"]


def _post(client: TestClient, caller, content: bytes | str, content_type: str = "application/json"):
    account, token = caller
    return client.post(
        f"/v2/{account.project_id}/probe",
        content=content,
        headers={"X-Auth-Token": token, "Content-Type": content_type},
    )


def test_valid_body_is_accepted_and_starts_one_operation(probe_client, caller, db):
    response = _post(probe_client, caller, json.dumps({"name": "ok", "count": 1}))
    assert response.status_code == 200
    assert response.json()["operation_id"].startswith("BCSSVC01-98-")
    assert response.headers["X-Request-Id"]
    assert _operation_count(db) == 1


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ('{"name": "ok", "count": 1', "BCS.4006003", "Invalid Parameter request body : not valid JSON"),
        ("[1, 2]", "BCS.4006003", "Invalid Parameter request body : expected an object"),
        ('{"name": 5, "count": 1}', "BCS.4006003", "Invalid Parameter name : expected a string"),
        ('{"name": "ok", "count": "1"}', "BCS.4006003", "Invalid Parameter count : expected an integer"),
        (
            '{"name": "ok", "count": 1, "enabled": "false"}',
            "BCS.4006003",
            "Invalid Parameter enabled : expected a boolean",
        ),
        (
            '{"name": "ok", "count": 1, "nested": []}',
            "BCS.4006003",
            "Invalid Parameter nested : expected an object",
        ),
        ('{"count": 1}', "BCS.4006009", "one of parameters is nil: name"),
        ('{"name": "", "count": 1}', "BCS.4006009", "one of parameters is nil: name"),
        (
            '{"name": "ok", "count": 1, "items": [{"label": ""}]}',
            "BCS.4006009",
            "one of parameters is nil: items[0].label",
        ),
        (
            '{"name": "123456789", "count": 1}',
            "BCS.4006014",
            "Invalid Parameter name : String should have at most 8 characters",
        ),
        (
            '{"name": "ok", "count": 1, "nested": {"label": "toolong"}}',
            "BCS.4006014",
            "Invalid Parameter nested.label : String should have at most 4 characters",
        ),
        (
            '{"name": "ok", "count": 1, "colour": "red"}',
            "BCS.4006014",
            "Invalid Parameter colour : unknown field",
        ),
        ("", "BCS.4006009", "one of parameters is nil: request body"),
    ],
)
def test_bad_bodies_get_their_code_and_change_nothing(probe_client, caller, db, content, code, message):
    response = _post(probe_client, caller, content)
    status, got_code, got_message = error_of(response)
    assert (status, got_code) == (400, code)
    # Malformed JSON also says where the parser stopped: "... not valid JSON (EOF while parsing ... column 25)".
    assert got_message == message or got_message.startswith(message + " (")
    assert response.headers["X-Request-Id"]
    assert _operation_count(db) == 0


def test_wrong_content_type_is_refused(probe_client, caller, db):
    response = _post(probe_client, caller, "name=ok&count=1", content_type="application/x-www-form-urlencoded")
    assert error_of(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter Content-Type : application/x-www-form-urlencoded is not supported, use application/json",
    )
    assert _operation_count(db) == 0


def test_authentication_comes_before_parsing(probe_client, caller, db):
    account, _token = caller
    response = probe_client.post(
        f"/v2/{account.project_id}/probe", content="{not json", headers={"Content-Type": "application/json"}
    )
    assert error_of(response) == (401, "BCS.4010401", "Incorrect token or token resolution failed")
    assert _operation_count(db) == 0


def test_declared_body_over_12_mb_is_refused_unread(probe_client, caller, db):
    account, token = caller
    received = []

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            received.append(1)
            yield b"x" * (MAX_BODY_BYTES // 2)

    big = b"x" * (MAX_BODY_BYTES + 1)
    response = probe_client.post(
        f"/v2/{account.project_id}/probe",
        content=big,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    assert error_of(response) == (400, "BCS.4000013", "request body is too large")
    assert response.headers["X-Request-Id"]
    assert _operation_count(db) == 0


def test_streamed_body_over_12_mb_is_cut_off(probe_client, caller, db):
    account, token = caller

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY_BYTES // 3)

    response = probe_client.post(
        f"/v2/{account.project_id}/probe",
        content=chunks(),
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    assert error_of(response) == (400, "BCS.4000013", "request body is too large")
    assert _operation_count(db) == 0


def test_unexpected_exception_is_a_500_without_details(probe_client, caller, caplog):
    account, token = caller
    with caplog.at_level(logging.ERROR):
        logging.getLogger("openbcs").propagate = True
        try:
            response = probe_client.get(f"/v2/{account.project_id}/crash", headers={"X-Auth-Token": token})
        finally:
            logging.getLogger("openbcs").propagate = False
    assert error_of(response) == (500, "BCS.5000500", "Internal Server Error")
    assert "boom" not in response.text
    assert "Traceback" not in response.text
    request_id = response.headers["X-Request-Id"]
    # pytest may hand the same record to caplog twice; count distinct records.
    logged = list(
        {id(r): r for r in caplog.records if r.name == "openbcs.request" and r.levelno == logging.ERROR}.values()
    )
    assert len(logged) == 1
    assert request_id in logged[0].getMessage()
    assert logged[0].exc_info is not None
    assert "boom" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/p/nothing-here"),
        ("GET", "/nowhere"),
        ("POST", "/v2/p/operation/record"),
        ("DELETE", "/v3/auth/tokens"),
        ("PATCH", "/v2/p/blockchains"),
    ],
)
def test_unknown_url_or_method_is_bcs_404(client, method, path):
    response = client.request(method, path)
    assert error_of(response) == (404, "BCS.4040404", "Not Found:the url is not found")
    assert response.headers["X-Request-Id"]


def test_request_ids_are_unique(client):
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_every_code_fits_the_documented_shape():
    for entry in errors.CATALOG.values():
        assert entry.code.startswith("BCS.")
        assert 8 <= len(entry.code) <= 36
        assert 2 <= len(entry.message) <= 512
        assert entry.status == int(entry.code[4:7])


def test_long_messages_are_cut_to_512_characters():
    error = errors.invalid_parameter("name", "x" * 1000)
    assert len(error.body()["error_msg"]) == 512


def test_docs_error_table_matches_the_code():
    from pathlib import Path

    documented = (Path(__file__).parent.parent / "docs" / "error-codes.md").read_text()
    assert documented == errors.catalog_markdown(), "regenerate with: openbcs errors > docs/error-codes.md"


def test_a_client_that_disconnects_mid_body_is_not_an_error(probe_client, caller, caplog):
    """A client gone while its body is read is logged as 499 at INFO, without a traceback, and nothing starts."""
    import asyncio

    account, token = caller
    app = probe_client.app
    sent: list[dict] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": f"/v2/{account.project_id}/probe", "raw_path": f"/v2/{account.project_id}/probe".encode(),
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"x-auth-token", token.encode()), (b"content-type", b"application/json"), (b"host", b"t")],
    }

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO):
        logging.getLogger("openbcs").propagate = True
        try:
            asyncio.run(app(scope, receive, send))
        finally:
            logging.getLogger("openbcs").propagate = False
    records = list({id(r): r for r in caplog.records if r.name == "openbcs.request"}.values())
    assert [r.levelno for r in records] == [logging.INFO]
    assert records[0].status == 499
    assert sent == []
