"""Driving operations from the test thread, for apps whose worker is stopped (or frozen), so intermediate states
can be observed without timing assumptions; and reading operations straight from the database."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from openbcs import catalog
from openbcs.engine import engine
from openbcs.engine.kinds import Registry
from openbcs.engine.models import ACTIVE, Operation, OperationLock
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey

_REGISTRY: Registry | None = None


def registry() -> Registry:
    """Every kind the server runs, the engine's diagnostic kind included (as the apps under test have it)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = catalog.registry(diagnostic=True)
    return _REGISTRY


def suite_server_key() -> ServerKey:
    """The server key of the apps under test (``OPENBCS_SECRET_KEY``, set for the session by ``tests/conftest.py``);
    operations that issue certificates need it to protect the private keys."""
    return ServerKey(base64.urlsafe_b64decode(os.environ["OPENBCS_SECRET_KEY"]))


def stop_worker(client: TestClient) -> None:
    """Stop the operation worker of the app ``client`` runs (inside its ``with`` block); operations then only move
    when the test drives them. The app's shutdown stops it again harmlessly."""
    worker = client.app.state.worker  # type: ignore[attr-defined]
    assert worker.running
    client.portal.call(worker.stop)  # type: ignore[union-attr]
    assert not worker.running


def _advance(db: Database, operation_id: str, version: int, key: ServerKey) -> bool:
    return db.run_write(
        engine.advance,
        registry=registry(),
        operation_id=operation_id,
        version=version,
        now=now_ns(),
        step_seconds=0,
        server_key=key,
    )


def _active(session: Any, operation_id: str | None) -> list[Any]:
    query = select(Operation.id, Operation.version).where(Operation.status.in_(ACTIVE))
    if operation_id is not None:
        query = query.where(Operation.id == operation_id)
    return list(session.execute(query.order_by(Operation.record_time)))


def drive_operations(
    db: Database, *, operation_id: str | None = None, max_transitions: int = 500, server_key: ServerKey | None = None
) -> int:
    """Advance active operations (or only ``operation_id``) to their end, step time 0; how many transitions.

    A transition a running worker made meanwhile is simply re-read (the operations' optimistic lock).
    """
    key = server_key or suite_server_key()
    made = 0
    for _ in range(max_transitions):
        active = db.run_read(_active, operation_id)
        if not active:
            return made
        for row in active:
            made += _advance(db, row.id, row.version, key)
    raise AssertionError(f"operations still active after {max_transitions} transitions")


def step_operation(db: Database, operation_id: str, transitions: int, *, server_key: ServerKey | None = None) -> None:
    """Make exactly ``transitions`` transitions of one operation (step time 0), for an app whose worker is stopped.

    The first transition starts the operation (``processing``, first sub-step started); each further one completes
    the running sub-step and starts the next.
    """
    key = server_key or suite_server_key()
    made = 0
    while made < transitions:
        (row,) = db.run_read(_active, operation_id) or [None]
        assert row is not None, f"operation {operation_id} is not active"
        made += _advance(db, operation_id, row.version, key)


def operation_status(session: Any, operation_id: str) -> str | None:
    """The stored status of an operation."""
    return session.scalar(select(Operation.status).where(Operation.id == operation_id))


def wait_started(db: Database, operation_id: str, *, timeout: float = 30) -> None:
    """On a frozen app: wait until its worker made the operation's first transition (``waiting`` → ``processing``),
    its only one for an hour, so that a snapshot taken now stays still unless a call under test changes it."""
    deadline = time.monotonic() + timeout
    while db.run_read(operation_status, operation_id) == "waiting":
        assert time.monotonic() < deadline, f"the worker did not start {operation_id}"
        time.sleep(0.01)


def _rows(session: Any) -> list[tuple[str, str, str, str, str | None]]:
    return [
        (o.id, o.kind, o.status, o.project_id, o.blockchain_id)
        for o in session.scalars(select(Operation).order_by(Operation.record_time, Operation.id))
    ]


def operation_rows(db: Database) -> list[tuple[str, str, str, str, str | None]]:
    """``(id, kind, status, project_id, blockchain_id)`` of every operation, oldest first."""
    return db.run_read(_rows)


def _locks(session: Any, operation_id: str | None) -> list[tuple[str, str, str | None]]:
    query = select(OperationLock.resource, OperationLock.operation_id, OperationLock.label)
    if operation_id is not None:
        query = query.where(OperationLock.operation_id == operation_id)
    rows = session.execute(query.order_by(OperationLock.resource))
    return [(row.resource, row.operation_id, row.label) for row in rows]


def operation_locks(db: Database, operation_id: str | None = None) -> list[tuple[str, str, str | None]]:
    """``(resource, holding operation id, label)`` of every row of ``operation_locks`` (or only those
    ``operation_id`` holds), by resource: what running operations hold, straight from the database."""
    return db.run_read(_locks, operation_id)
