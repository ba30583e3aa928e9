"""Safe retries (issue 12 item 9): ``X-Client-Token`` on a mutating call makes it happen at most once. A retry with the
same token and request within 24 hours gets the first answer (same ``operation_id``) without the work being done
again, also after a restart; the same token with another request is 409; refused and failed calls leave no trace."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from openbcs.app import create_app
from openbcs.channels import service as channel_service
from openbcs.http import client_tokens, idempotency
from openbcs.http.client_tokens import ClientToken
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.models import IssuedCert
from tests.support.bodies import create_body
from tests.support.errors import assert_error, assert_unauthorized
from tests.support.servers import LiveServer, race, request
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant, new_tenant

REUSED = (409, "BCS.4090409", "Conflict: the X-Client-Token was used for a different request")
IN_PROGRESS = (
    409,
    "BCS.4091001",
    "Conflict: the request with this X-Client-Token is still being processed; retry shortly",
)
NOT_KEPT = "Conflict: the request with this X-Client-Token was done, but its answer is not kept"
SCALE_DOWN = {"node_orgs": [{"name": "organization", "node_count": 1}]}


def token_rows(db: Database) -> list[dict[str, Any]]:
    """Every stored token row, oldest first."""
    with db.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(ClientToken.__table__.select().order_by(ClientToken.id))]


def with_token(
    tenant: Tenant, token: str | bytes, method: str, path: str, body: Any = None, **kw: Any
) -> httpx.Response:
    return tenant.call(method, path, body, headers={"X-Client-Token": token}, **kw)


def test_a_retry_gets_the_first_answer_and_nothing_is_done_twice(tenant: Tenant, db: Database) -> None:
    body = create_body("bcs-retry")
    first = with_token(tenant, "create-1", "POST", "/blockchains", body)
    assert first.status_code == 200, first.text
    assert "X-Client-Token-Replayed" not in first.headers
    tenant.wait(first.json()["operation_id"])
    before = snapshot(db)
    # The same request with its JSON spelled differently (key order, spacing) is the same request.
    spelled = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    for retry in (
        with_token(tenant, "create-1", "POST", "/blockchains", body),
        with_token(tenant, "create-1", "POST", "/blockchains", raw=spelled),
    ):
        assert retry.status_code == 200, retry.text
        assert retry.json() == first.json()
        assert retry.headers["X-Client-Token-Replayed"] == "true"
        assert retry.headers["content-type"] == "application/json"
    assert snapshot(db) == before
    assert tenant.instance_ids() == [first.json()["blockchain_id"]]
    assert [r["operation_id"] for r in tenant.records()] == [first.json()["operation_id"]]
    (row,) = token_rows(db)
    assert (row["project_id"], row["token"], row["operation"], row["status"]) == (
        tenant.project_id,
        "create-1",
        "CreateNewBlockchain",
        200,
    )
    assert json.loads(row["body"]) == first.json()
    # Only a keyed digest of the request is kept, not the body (its resource_password is a secret).
    assert len(row["request_digest"]) == 64
    assert "Passw0rd" not in repr(row)


def test_the_same_token_for_another_request_is_409_and_changes_nothing(
    tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    bid = tenant.create_instance()
    first = with_token(tenant, "tok", "PUT", f"/blockchains/{bid}", SCALE_DOWN)
    assert first.status_code == 200, first.text
    tenant.wait(first.json()["operation_id"])
    before = snapshot(db)
    for other in (
        with_token(
            tenant, "tok", "PUT", f"/blockchains/{bid}", {"node_orgs": [{"name": "organization", "node_count": 2}]}
        ),
        with_token(tenant, "tok", "DELETE", f"/blockchains/{bid}"),
        with_token(tenant, "tok", "POST", f"/blockchains/{bid}/channels", {"channels": [{"channel_name": "other"}]}),
    ):
        assert_error(other, *REUSED)
    assert snapshot(db) == before
    assert tenant.detail(bid)["peer_info"][0]["node_cnt"] == 1
    # A token belongs to its project: another tenant's identical token is its own.
    accepted = with_token(other_tenant, "tok", "POST", "/blockchains", create_body("bcs-other"))
    assert accepted.status_code == 200, accepted.text
    assert sorted(r["project_id"] for r in token_rows(db)) == sorted([tenant.project_id, other_tenant.project_id])


def test_a_refused_call_leaves_no_token_and_its_retry_is_judged_afresh(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    busy = tenant.update(bid, SCALE_DOWN)
    assert busy.status_code == 200, busy.text
    # While the scaling runs (the worker may be done already: then the count is simply 1 already).
    refused = with_token(tenant, "again", "PUT", f"/blockchains/{bid}", SCALE_DOWN)
    assert refused.status_code == 400, refused.text
    assert token_rows(db) == []
    tenant.wait(busy.json()["operation_id"])
    scale_up = {"node_orgs": [{"name": "organization", "node_count": 2}]}
    assert with_token(tenant, "bad-one", "PUT", f"/blockchains/{bid}", {"node_orgs": []}).status_code == 400
    accepted = with_token(tenant, "bad-one", "PUT", f"/blockchains/{bid}", scale_up)
    assert accepted.status_code == 200, accepted.text
    assert [r["token"] for r in token_rows(db)] == ["bad-one"]


def test_a_failed_call_is_not_cached(tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    bid = tenant.create_instance(channels=[])
    real = channel_service.batch_create
    calls: list[int] = []

    def fails_once(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(channel_service, "batch_create", fails_once)
    body = {"channels": [{"channel_name": "retried"}]}
    failed = with_token(tenant, "chan", "POST", f"/blockchains/{bid}/channels", body)
    assert_error(failed, 500, "BCS.5000500", "Internal Server Error")
    assert token_rows(db) == []
    assert tenant.channels(bid) == []
    done = with_token(tenant, "chan", "POST", f"/blockchains/{bid}/channels", body)
    assert done.status_code == 200, done.text
    tenant.wait(done.json()["operation_id"])
    again = with_token(tenant, "chan", "POST", f"/blockchains/{bid}/channels", body)
    assert again.json() == done.json()
    assert [c["name"] for c in tenant.channels(bid)] == ["retried"]
    assert len(calls) == 2


def test_a_retry_after_a_restart_gets_the_first_answer(settings: Settings, make_account: Any, db: Database) -> None:
    account = make_account()
    body = create_body("bcs-restart")
    with TestClient(create_app(settings), raise_server_exceptions=False) as first_server:
        first = with_token(new_tenant(first_server, lambda _name: account), "restart", "POST", "/blockchains", body)
        assert first.status_code == 200, first.text
    with TestClient(create_app(settings), raise_server_exceptions=False) as second_server:
        tenant = new_tenant(second_server, lambda _name: account)
        retry = with_token(tenant, "restart", "POST", "/blockchains", body)
        assert (retry.status_code, retry.json()) == (200, first.json())
        assert retry.headers["X-Client-Token-Replayed"] == "true"
        assert tenant.instance_ids() == [first.json()["blockchain_id"]]


def test_after_24_hours_a_token_is_forgotten(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    first = with_token(tenant, "daily", "PUT", f"/blockchains/{bid}", SCALE_DOWN)
    tenant.wait(first.json()["operation_id"])
    db.run_write(
        lambda s: s.execute(update(ClientToken).values(created_time=now_ns() - client_tokens.RETENTION_NS - 1))
    )
    # The same request is done again: now the organisation has that count already.
    assert_error(
        with_token(tenant, "daily", "PUT", f"/blockchains/{bid}", SCALE_DOWN),
        400,
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : organisation organization already has 1 peer(s)",
    )
    # And the token may name another request: the expired row is replaced.
    scale_up = {"node_orgs": [{"name": "organization", "node_count": 2}]}
    accepted = with_token(tenant, "daily", "PUT", f"/blockchains/{bid}", scale_up)
    assert accepted.status_code == 200, accepted.text
    (row,) = token_rows(db)
    assert json.loads(row["body"]) == accepted.json()


def test_an_answer_with_a_private_key_is_never_stored(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    path = f"/blockchains/{bid}/orgs/organization/usercert/alice001"
    first = with_token(tenant, "cert", "POST", path, {"security_mode": False})
    assert (first.status_code, first.headers["content-type"]) == (200, "application/zip"), first.text
    issued = row_count(db, IssuedCert)
    retry = with_token(tenant, "cert", "POST", path, {"security_mode": False})
    assert_error(retry, 409, "BCS.4091002", contains="it carried a private key, which is never stored twice")
    # Nothing issued again, and no answer kept.
    assert row_count(db, IssuedCert) == issued
    ((status, body),) = [(r["status"], r["body"]) for r in token_rows(db)]
    assert (status, body) == (200, None)


def test_a_twin_that_committed_first_gives_its_answer(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two identical requests both found no token: the one that commits second rolls its work back and answers
    with the first one's answer (here its work would have succeeded again: a new certificate each call)."""
    bid = tenant.create_instance()
    path = f"/blockchains/{bid}/orgs/organization/usercert/bob00001"
    first = with_token(tenant, "twin", "POST", path, {"security_mode": False})
    assert first.status_code == 200
    issued = row_count(db, IssuedCert)
    real_find = client_tokens.find
    lookups: list[int] = []

    def misses_first(*args: Any, **kwargs: Any) -> client_tokens.Stored | None:
        lookups.append(1)
        return None if len(lookups) == 1 else real_find(*args, **kwargs)

    monkeypatch.setattr(client_tokens, "find", misses_first)
    twin = with_token(tenant, "twin", "POST", path, {"security_mode": False})
    assert_error(twin, 409, "BCS.4091002", contains="private key")
    assert row_count(db, IssuedCert) == issued
    assert len(token_rows(db)) == 1


def test_an_answer_not_recorded_yet_is_waited_for_then_409(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.1)
    bid = tenant.create_instance()
    body = SCALE_DOWN
    first = with_token(tenant, "pending", "PUT", f"/blockchains/{bid}", body)
    tenant.wait(first.json()["operation_id"])
    # As if the first request's answer were still being recorded...
    db.run_write(lambda s: s.execute(update(ClientToken).values(status=None, body=None, media_type=None)))
    assert_error(with_token(tenant, "pending", "PUT", f"/blockchains/{bid}", body), *IN_PROGRESS)
    # ... and, a minute on, as if the server had stopped before recording it.
    old = now_ns() - idempotency.LOST_AFTER_NS - 1
    db.run_write(lambda s: s.execute(update(ClientToken).values(created_time=old)))
    lost = with_token(tenant, "pending", "PUT", f"/blockchains/{bid}", body)
    assert_error(lost, 409, "BCS.4091002", contains="the server stopped before recording it")
    assert [r["operation_id"] for r in tenant.records(operation_type="03")] == [first.json()["operation_id"]]


def test_the_header_is_checked_after_authentication_and_ignored_where_nothing_changes(
    tenant: Tenant, db: Database
) -> None:
    bid = tenant.create_instance()
    before = snapshot(db)
    unauthenticated = tenant.http.request(
        "PUT", f"/v2/{tenant.project_id}/blockchains/{bid}", json=SCALE_DOWN, headers={"X-Client-Token": "bad token"}
    )
    assert_unauthorized(unauthenticated)
    for bad in ("bad token", "x" * 65, "tok/1", "caf\u00e9".encode()):
        assert_error(
            with_token(tenant, bad, "PUT", f"/blockchains/{bid}", SCALE_DOWN),
            400,
            "BCS.4006014",
            "Invalid Parameter X-Client-Token : 1 to 64 characters: letters, digits, '-', '_', '.', ':'",
        )
    assert snapshot(db) == before
    # Reads ignore it, POSTs that read included.
    events = {"time_range": "-1.-1.60", "step": 60_000}
    for _ in range(2):
        assert with_token(tenant, "reader", "POST", f"/blockchains/{bid}/events", events).status_code == 200
        assert with_token(tenant, "reader", "GET", f"/blockchains/{bid}").status_code == 200
    assert token_rows(db) == []


@pytest.mark.slow
def test_identical_retries_at_the_same_moment_do_the_work_once(settings: Settings, make_account: Any, db: Database):
    with LiveServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        tenant = new_tenant(http, make_account)
        create = create_body("bcs-race")
        answers = race(
            server.url, [request(tenant, "POST", "/blockchains", create, headers={"X-Client-Token": "race"})] * 6
        )
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        assert len({a.text for a in answers}) == 1
        (bid,) = tenant.instance_ids()
        tenant.wait(answers[0].json()["operation_id"])
        # The instance lock makes the twins of an update fail first: they answer with the winner's answer too.
        answers = race(
            server.url,
            [request(tenant, "PUT", f"/blockchains/{bid}", SCALE_DOWN, headers={"X-Client-Token": "scale"})] * 6,
        )
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        assert len({a.json()["operation_id"] for a in answers}) == 1
        assert len(tenant.records(operation_type="03")) == 1
        assert sorted(r["token"] for r in token_rows(db)) == ["race", "scale"]
