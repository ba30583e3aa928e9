"""A transition whose transaction keeps failing is retried with backoff, never lost and never spun on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine import worker as worker_module
from openbcs.engine.kinds import OperationContext, OperationFailed, OperationKind, Payload, Registry, Step, SubStep
from openbcs.engine.models import PROCESSING, WAITING
from openbcs.engine.worker import OperationWorker
from openbcs.kernel.db import Database
from tests.support.diagnostic import new_project, stored

_attempts: list[str] = []


def _always_fails(_session: Session, _ctx: OperationContext[Payload]) -> str:
    raise OperationFailed("the action fails")


def _hook_raises(_session: Session, ctx: OperationContext[Payload], _message: str) -> None:
    _attempts.append(ctx.operation_id)
    raise RuntimeError("the failure hook itself breaks")


BROKEN: OperationKind[Payload] = OperationKind(
    name="test.broken-hook",
    resource_type="BCSSVC01",
    operation_type="97",
    payload=Payload,
    on_failure=_hook_raises,
    steps=(Step("Only", (SubStep("fail", _always_fails),)),),
)


@pytest.mark.parametrize(("step_seconds", "left"), [(1e-9, PROCESSING), (0, WAITING)])
def test_failing_transaction_backs_off_and_keeps_the_operation_due(
    db: Database, step_seconds: float, left: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The backoff's clock stands still, so the 20 passes are "immediate" however slowly a busy machine runs them
    # (on a loaded CI machine they once took longer than the first 0.2 s delay).
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(monotonic=lambda: 1_000.0))
    domain_id, project_id = new_project()
    operation_id = db.run_write(engine.start, BROKEN, Payload(), domain_id=domain_id, project_id=project_id)
    worker = OperationWorker(db, registry=Registry([BROKEN]), step_seconds=step_seconds, poll_seconds=0.05)
    _attempts.clear()

    async def drive() -> None:
        for _ in range(20):  # 20 passes; without backoff each one would retry the failing transition
            await worker.run_once()

    asyncio.run(drive())
    status = stored(db, operation_id).status
    # With steps of a nanosecond the first pass starts the sub-step and the second runs the action, whose failure
    # hook raises and rolls that transition back; with zero-length steps both are one transaction, rolled back as a
    # whole. The retry is then deferred (0.2 s, then 0.4 s, ...), so 20 immediate passes try it once.
    assert _attempts == [operation_id]
    assert status == left
    failures, _retry_at = worker._backoff[operation_id]
    assert failures == 1
