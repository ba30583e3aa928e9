"""Helpers of the instance tests, also used by the channel, certificate and consortium tests: keep these names and
signatures stable.

- :data:`PASSWORD`, :data:`CLUSTER` — the resource password and CCE cluster of :func:`create_body`.
- :func:`create_body` — a valid CreateNewBlockchain body, with overrides.
- :func:`auth` / :func:`issue_token` / :func:`new_tenant` — who calls.
- :func:`start_creation`, :func:`create_instance` — create an instance (and wait for it to be ``Normal``).
- :func:`wait_for_operation` / :func:`op_records` — ListOpRecord.
- :func:`detail`, :func:`nodes`, :func:`status`, :func:`list_ids` — the read endpoints, asserting 200.
- :func:`stop_worker` — stop the operation worker of a started ``TestClient`` app.
- :func:`drive_operations` / :func:`step_operation` — make operations' transitions from the test thread, for apps
  whose worker is stopped, so intermediate states can be observed without timing assumptions.
- :func:`suite_server_key` — the server key of the apps under test (what driven operations issue certificates with).
- :func:`row_count` — rows of a table.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.engine import engine as operations
from openbcs.engine.models import Operation
from tests.support import TestAccount, token_body

PASSWORD = "Passw0rd!x"
CLUSTER = {"cluster_id": "cce-0001", "cluster_name": "cce-test", "cluster_platform_type": "VirtualMachine"}

_BASE_BODY: dict[str, Any] = {
    "name": "bcs-test",
    "version_type": 4,
    "blockchain_type": "private",
    "consensus": "etcdraft",
    "sign_algorithm": "ECDSA",
    "enterprise_project_id": "0",
    "volume_type": "evs",
    "evs_disk_type": "SSD",
    "org_disk_size": 100,
    "database_type": "goleveldb",
    "resource_password": PASSWORD,
    "orderer_node_number": 3,
    "cluster_type": "cce",
    "create_new_cluster": False,
    "cce_cluster_info": CLUSTER,
}


def create_body(name: str = "bcs-test", /, **overrides: Any) -> dict[str, Any]:
    """A valid CreateNewBlockchain body: private, etcdraft with 3 orderers, existing CCE cluster, evs SSD, version 4.

    Each override replaces a top-level field (``name=`` too, winning over the positional name); an override of
    ``None`` removes the field.
    """
    body = copy.deepcopy(_BASE_BODY)
    body["name"] = name
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def auth(token: str) -> dict[str, str]:
    """Request headers of a token holder."""
    return {"X-Auth-Token": token}


def issue_token(client: TestClient, account: TestAccount) -> str:
    """A token for ``account`` from ``POST /v3/auth/tokens`` of ``client`` (any app on the same database)."""
    response = client.post(
        "/v3/auth/tokens",
        content=token_body(account.name, account.password, account.name),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


@dataclass(frozen=True)
class Tenant:
    """An account with a token: ``tenant.headers``, ``tenant.project_id``, ``tenant.base`` (``/v2/<project>``)."""

    account: TestAccount
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)

    @property
    def project_id(self) -> str:
        return self.account.project_id

    @property
    def domain_id(self) -> str:
        return self.account.domain_id

    @property
    def base(self) -> str:
        return f"/v2/{self.account.project_id}"


def new_tenant(client: TestClient, make_account: Any, name: str | None = None) -> Tenant:
    """A fresh account (``make_account`` fixture) and a token for it issued by ``client``."""
    account = make_account(name)
    return Tenant(account, issue_token(client, account))


def op_records(client: TestClient, headers: dict[str, str], project_id: str, **filters: str) -> list[dict[str, Any]]:
    """ListOpRecord with optional filters; asserts 200 and returns ``operation_records``."""
    response = client.get(f"/v2/{project_id}/operation/record", headers=headers, params=filters)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["operation_records"])
    return list(body["operation_records"])


def wait_for_operation(
    client: TestClient, headers: dict[str, str], project_id: str, operation_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll ListOpRecord until the operation is ``finished`` or ``failed`` (at most ``timeout`` s); its record."""
    deadline = time.monotonic() + timeout
    while True:
        records = op_records(client, headers, project_id, operation_id=operation_id)
        assert len(records) == 1, f"operation {operation_id} not listed"
        if records[0]["operation_status"] in ("finished", "failed"):
            return records[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"operation {operation_id} still {records[0]['operation_status']} after {timeout} s")
        time.sleep(0.02)


def start_creation(
    client: TestClient, headers: dict[str, str], project_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST CreateNewBlockchain with ``body``; asserts 200 and returns the answer (id, name, operation id)."""
    response = client.post(
        f"/v2/{project_id}/blockchains",
        content=json.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def create_instance(
    client: TestClient, headers: dict[str, str], project_id: str, name: str = "bcs-test", **overrides: Any
) -> str:
    """Create an instance from ``create_body(name, **overrides)``, wait until it is ``Normal``; its id.

    Needs an app whose worker runs (the ``client`` fixture, step 0 s).
    """
    created = start_creation(client, headers, project_id, create_body(name, **overrides))
    record = wait_for_operation(client, headers, project_id, created["operation_id"])
    assert record["operation_status"] == "finished", record
    basic = detail(client, headers, project_id, created["blockchain_id"])["basic_info"]
    assert (basic["status"], basic["process_status"]) == ("Normal", "")
    return str(created["blockchain_id"])


def _get(client: TestClient, headers: dict[str, str], path: str) -> dict[str, Any]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def detail(client: TestClient, headers: dict[str, str], project_id: str, blockchain_id: str) -> dict[str, Any]:
    """ShowBlockchainDetail (asserts 200)."""
    return _get(client, headers, f"/v2/{project_id}/blockchains/{blockchain_id}")


def status(client: TestClient, headers: dict[str, str], project_id: str, blockchain_id: str) -> dict[str, Any]:
    """ShowBlockchainStatus (asserts 200)."""
    return _get(client, headers, f"/v2/{project_id}/blockchains/{blockchain_id}/status")


def nodes(client: TestClient, headers: dict[str, str], project_id: str, blockchain_id: str) -> dict[str, Any]:
    """ShowBlockchainNodes' ``node_orgs`` (asserts 200)."""
    return dict(_get(client, headers, f"/v2/{project_id}/blockchains/{blockchain_id}/nodes")["node_orgs"])


def list_ids(client: TestClient, headers: dict[str, str], project_id: str) -> list[str]:
    """Ids of ListBlockchains (asserts 200 and that ``count`` matches)."""
    body = _get(client, headers, f"/v2/{project_id}/blockchains")
    assert body["count"] == len(body["blockchains"])
    return [b["id"] for b in body["blockchains"]]


def stop_worker(client: TestClient) -> None:
    """Stop the operation worker of the app ``client`` runs (inside its ``with`` block); operations then only move
    when the test drives them. The app's shutdown stops it again harmlessly."""
    worker = client.app.state.ctx.worker  # type: ignore[attr-defined]
    assert worker is not None
    assert worker.running
    client.portal.call(worker.stop)  # type: ignore[union-attr]
    assert not worker.running


def suite_server_key() -> ServerKey:
    """The server key of the apps under test (``OPENBCS_SECRET_KEY``, set for the session by ``tests/conftest.py``).

    Operations that issue certificates need it to protect the private keys.
    """
    return ServerKey(base64.urlsafe_b64decode(os.environ["OPENBCS_SECRET_KEY"]))


def drive_operations(
    db: Database,
    *,
    operation_id: str | None = None,
    max_transitions: int = 500,
    server_key: ServerKey | None = None,
) -> int:
    """Advance active operations (or only ``operation_id``) to their end, step time 0; transitions made.

    For apps whose worker is stopped (a transition a running worker made meanwhile would simply be re-read: the
    operations' optimistic lock).
    ``server_key`` defaults to :func:`suite_server_key`.
    """
    key = server_key or suite_server_key()
    made = 0
    for _ in range(max_transitions):
        query = select(Operation.id, Operation.version).where(Operation.status.in_(operations.ACTIVE))
        if operation_id is not None:
            query = query.where(Operation.id == operation_id)
        active = db.run_read(lambda s, q=query: list(s.execute(q.order_by(Operation.record_time))))  # type: ignore[misc]
        if not active:
            return made
        for row in active:
            if db.run_write(
                lambda s, r=row: operations.advance(  # type: ignore[misc]
                    s, operation_id=r.id, version=r.version, now=now_ns(), step_seconds=0, server_key=key
                )
            ):
                made += 1
    raise AssertionError(f"operations still active after {max_transitions} transitions")


def row_count(db: Database, model: Any, *conditions: Any) -> int:
    """How many rows of ``model`` (optionally matching ``conditions``) the database holds."""
    query = select(func.count()).select_from(model)
    for condition in conditions:
        query = query.where(condition)
    return int(db.run_read(lambda s: s.scalar(query)) or 0)


def step_operation(db: Database, operation_id: str, transitions: int, *, server_key: ServerKey | None = None) -> None:
    """Make exactly ``transitions`` transitions of one operation (step time 0), for an app whose worker is stopped.

    The first transition starts the operation (``processing``, first sub-step started); each further one completes
    the running sub-step and starts the next.
    """
    key = server_key or suite_server_key()
    made = 0
    while made < transitions:
        row = db.run_read(
            lambda s: s.execute(select(Operation.version, Operation.status).where(Operation.id == operation_id)).one()
        )
        assert row.status in operations.ACTIVE, f"operation {operation_id} is {row.status}"
        if db.run_write(
            lambda s, v=row.version: operations.advance(  # type: ignore[misc]
                s, operation_id=operation_id, version=v, now=now_ns(), step_seconds=0, server_key=key
            )
        ):
            made += 1
