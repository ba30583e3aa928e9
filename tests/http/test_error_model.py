"""The error model of item 5: every kind of bad input gets its documented code and changes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from openbcs.app import create_app
from openbcs.engine import engine
from openbcs.engine.diagnostic import DIAGNOSTIC, KIND, DiagnosticPayload
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body
from openbcs.http.middleware import MAX_BODY_BYTES
from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.support.accounts import TestAccount
from tests.support.diagnostic import all_stored
from tests.support.errors import assert_error, request_id_of
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant, new_tenant

DOCS = Path(__file__).parents[2] / "docs" / "error-codes.md"
AT_MOST = "String should have at most"


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
        caller: CurrentCaller, ctx: Context, body: Annotated[_Probe, Depends(json_body(_Probe))]
    ) -> dict[str, str]:
        operation_id = await ctx.db.write(
            engine.start,
            DIAGNOSTIC,
            DiagnosticPayload(),
            domain_id=caller.domain_id,
            project_id=caller.project_id,
            description=f"probe {body.name}",
        )
        return {"operation_id": operation_id}

    @router.get("/crash")
    async def crash(caller: CurrentCaller) -> None:
        raise RuntimeError("boom: internal detail that must not leak")

    return router


@pytest.fixture
def probe_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.include_router(_probe_router())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def prober(probe_client: TestClient, make_account: Callable[..., TestAccount]) -> Tenant:
    """An account with a token, on the app that has the probe endpoints."""
    return new_tenant(probe_client, make_account)


def _probe(prober: Tenant, content: bytes | str | Iterator[bytes], content_type: str = "application/json") -> Any:
    return prober.http.post(
        f"{prober.base}/probe", content=content, headers={**prober.headers, "Content-Type": content_type}
    )


def test_valid_body_is_accepted_and_starts_one_operation(prober: Tenant, db: Database) -> None:
    response = _probe(prober, json.dumps({"name": "ok", "count": 1}))
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["operation_id"]
    assert response.json()["operation_id"].startswith("BCSSVC01-98-")
    request_id_of(response)
    (operation,) = all_stored(db)
    assert (operation.id, operation.kind, operation.description) == (response.json()["operation_id"], KIND, "probe ok")
    assert (operation.domain_id, operation.project_id) == (prober.domain_id, prober.project_id)


WRONG_TYPE, MISSING, BROKEN_RULE = "BCS.4006003", "BCS.4006009", "BCS.4006014"


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ('{"name": "ok", "count": 1', WRONG_TYPE, "Invalid Parameter request body : not valid JSON"),
        ("[1, 2]", WRONG_TYPE, "Invalid Parameter request body : expected an object"),
        ('{"name": 5, "count": 1}', WRONG_TYPE, "Invalid Parameter name : expected a string"),
        ('{"name": "ok", "count": "1"}', WRONG_TYPE, "Invalid Parameter count : expected an integer"),
        (
            '{"name": "ok", "count": 1, "enabled": "false"}',
            WRONG_TYPE,
            "Invalid Parameter enabled : expected a boolean",
        ),
        ('{"name": "ok", "count": 1, "nested": []}', WRONG_TYPE, "Invalid Parameter nested : expected an object"),
        ('{"count": 1}', MISSING, "one of parameters is nil: name"),
        ('{"name": "", "count": 1}', MISSING, "one of parameters is nil: name"),
        ('{"name": "ok", "count": 1, "items": [{"label": ""}]}', MISSING, "one of parameters is nil: items[0].label"),
        ("", MISSING, "one of parameters is nil: request body"),
        ('{"name": "123456789", "count": 1}', BROKEN_RULE, f"Invalid Parameter name : {AT_MOST} 8 characters"),
        (
            '{"name": "ok", "count": 1, "nested": {"label": "toolong"}}',
            BROKEN_RULE,
            f"Invalid Parameter nested.label : {AT_MOST} 4 characters",
        ),
        ('{"name": "ok", "count": 1, "colour": "red"}', BROKEN_RULE, "Invalid Parameter colour : unknown field"),
    ],
)
def test_bad_bodies_get_their_code_and_change_nothing(
    prober: Tenant, db: Database, content: str, code: str, message: str
) -> None:
    before = snapshot(db)
    response = _probe(prober, content)
    # Malformed JSON also says where the parser stopped: "... not valid JSON (EOF while parsing ... column 25)".
    assert_error(response, 400, code, matches="^" + re.escape(message) + r"( \(.+\))?$")
    request_id_of(response)
    assert snapshot(db) == before


def test_wrong_content_type_is_refused(prober: Tenant, db: Database) -> None:
    before = snapshot(db)
    response = _probe(prober, "name=ok&count=1", content_type="application/x-www-form-urlencoded")
    assert_error(
        response,
        400,
        "BCS.4006014",
        "Invalid Parameter Content-Type : application/x-www-form-urlencoded is not supported, use application/json",
    )
    assert snapshot(db) == before


def test_authentication_comes_before_parsing(prober: Tenant, db: Database) -> None:
    before = snapshot(db)
    response = prober.http.post(
        f"{prober.base}/probe", content="{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 401, "BCS.4010401", "Incorrect token or token resolution failed")
    assert snapshot(db) == before


def test_declared_body_over_12_mb_is_refused_unread(prober: Tenant, db: Database) -> None:
    before = snapshot(db)
    response = _probe(prober, b"x" * (MAX_BODY_BYTES + 1))
    assert_error(response, 400, "BCS.4000013", "request body is too large")
    request_id_of(response)
    assert snapshot(db) == before


def test_streamed_body_over_12_mb_is_cut_off(prober: Tenant, db: Database) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY_BYTES // 3)

    before = snapshot(db)
    response = _probe(prober, chunks())
    assert_error(response, 400, "BCS.4000013", "request body is too large")
    assert snapshot(db) == before


def _openbcs_records(caplog: pytest.LogCaptureFixture, level: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` and return the distinct ``openbcs.request`` log records it left at ``level`` or above."""
    with caplog.at_level(level):
        logging.getLogger("openbcs").propagate = True
        try:
            action()
        finally:
            logging.getLogger("openbcs").propagate = False
    # pytest may hand the same record to caplog twice; count distinct records.
    return list({id(r): r for r in caplog.records if r.name == "openbcs.request" and r.levelno >= level}.values())


def test_unexpected_exception_is_a_500_without_details(prober: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    answers: list[httpx.Response] = []
    logged = _openbcs_records(caplog, logging.ERROR, lambda: answers.append(prober.call("GET", "/crash")))
    (response,) = answers
    assert_error(response, 500, "BCS.5000500", "Internal Server Error")
    assert "boom" not in response.text
    assert "Traceback" not in response.text
    request_id = request_id_of(response)
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
        ("PATCH", "/v2/p/blockchains"),
    ],
)
def test_unknown_url_or_method_is_bcs_404(client: TestClient, method: str, path: str) -> None:
    # Under /v3 the same 404 answers in Keystone's shape: tests/fuzz/test_v3_shapes.py.
    response = client.request(method, path)
    assert_error(response, 404, "BCS.4040404", "Not Found:the url is not found")
    request_id_of(response)


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {request_id_of(client.get("/healthz")) for _ in range(5)}
    assert len(ids) == 5


def test_every_code_fits_the_documented_shape() -> None:
    for entry in errors.CATALOG.values():
        assert entry.code.startswith("BCS.")
        assert 8 <= len(entry.code) <= 36
        assert 2 <= len(entry.message) <= 512
        assert entry.status == int(entry.code[4:7])


def test_long_messages_are_cut_to_512_characters() -> None:
    error = errors.invalid_parameter("name", "x" * 1000)
    assert error.body() == {"error_code": "BCS.4006014", "error_msg": ("Invalid Parameter name : " + "x" * 1000)[:512]}


def test_docs_error_table_matches_the_code() -> None:
    """``docs/error-codes.md`` is the table ``openbcs errors`` prints, and it names this test as its keeper."""
    assert DOCS.read_text() == errors.catalog_markdown(), "regenerate with: openbcs errors > docs/error-codes.md"
    assert f"`tests/http/{Path(__file__).name}`" in DOCS.read_text()
    for entry in errors.CATALOG.values():
        assert f"| {entry.status} | {entry.code} | {entry.message} |" in DOCS.read_text()


def test_a_client_that_disconnects_mid_body_is_not_an_error(
    prober: Tenant, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A client gone while its body is read is logged as 499 at INFO, without a traceback, and nothing starts."""
    path = f"{prober.base}/probe"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"x-auth-token", prober.token.encode()), (b"content-type", b"application/json"), (b"host", b"t")],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    before = snapshot(db)
    records = _openbcs_records(caplog, logging.INFO, lambda: asyncio.run(prober.http.app(scope, receive, send)))
    assert [(r.levelno, r.status, r.exc_info) for r in records] == [(logging.INFO, 499, None)]
    assert sent == []
    assert snapshot(db) == before
