"""Exactly-once sub-steps: several workers, each with its own connection pool, race over the same operations."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.diagnostic import DIAGNOSTIC, DiagnosticPayload
from openbcs.engine.worker import OperationWorker
from openbcs.kernel.db import Database
from tests.support.diagnostic import (
    SUB_STEPS,
    TRANSITIONS,
    all_stored,
    effect_counts,
    new_project,
    read_effects,
    wait_for,
)
from tests.support.operations import registry

OPERATIONS = 8
DEADLINE_SECONDS = 30


def _start_many(session: Session, *, count: int, effects_file: Path) -> list[str]:
    domain_id, project_id = new_project()
    payload = DiagnosticPayload(effects_file=str(effects_file))
    return [
        engine.start(session, DIAGNOSTIC, payload, domain_id=domain_id, project_id=project_id) for _ in range(count)
    ]


def _start_batch(db: Database, effects_file: Path, count: int = OPERATIONS) -> list[str]:
    return db.run_write(_start_many, count=count, effects_file=effects_file)


def _assert_each_sub_step_ran_once(db: Database, effects_file: Path, ids: list[str]) -> None:
    counts = effect_counts(effects_file)
    assert counts == Counter({(i, name): 1 for i in ids for name in SUB_STEPS})
    # Per operation the sub-steps ran in their order.
    for operation_id in ids:
        assert [e.sub_step for e in read_effects(effects_file) if e.operation_id == operation_id] == list(SUB_STEPS)
    operations = all_stored(db)
    assert sorted(op.id for op in operations) == sorted(ids)
    for op in operations:
        assert op.status == "finished"
        assert op.version == TRANSITIONS, "every transition is made exactly once"
        assert op.payload["ran"] == list(SUB_STEPS)
        assert [s.status for s in op.sub_steps] == ["finished"] * len(SUB_STEPS)
        for earlier, later in zip(op.sub_steps, op.sub_steps[1:], strict=False):
            assert earlier.end_time is not None
            assert later.start_time == earlier.end_time


@pytest.mark.parametrize("racers", [2, 4])
def test_threads_with_their_own_databases_run_each_sub_step_once(
    db: Database, database_url: str, effects_file: Path, racers: int
) -> None:
    ids = _start_batch(db, effects_file)
    made = [0] * racers
    errors: list[BaseException] = []
    barrier = threading.Barrier(racers)

    def race(index: int) -> None:
        own = Database(database_url)
        try:
            barrier.wait(timeout=DEADLINE_SECONDS)
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                due = own.run_read(engine.due, now=time.time_ns())
                if not due and own.run_read(engine.count_active) == 0:
                    return
                for operation_id, version in due:
                    made[index] += own.run_write(
                        engine.advance,
                        registry=registry(),
                        operation_id=operation_id,
                        version=version,
                        now=time.time_ns(),
                        step_seconds=0,
                    )
            raise AssertionError("operations did not finish in time")
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS + 10)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sum(made) == OPERATIONS * TRANSITIONS
    _assert_each_sub_step_ran_once(db, effects_file, ids)
    assert {e.pid for e in read_effects(effects_file)} == {os.getpid()}


class _WorkerThread:
    """An OperationWorker on its own event loop in its own thread, with its own Database."""

    def __init__(self, database_url: str) -> None:
        self.db = Database(database_url)
        self.worker = OperationWorker(self.db, registry=registry(), step_seconds=0, poll_seconds=0.05)
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            await self.worker.start()
            self.started.set()
            deadline = time.monotonic() + DEADLINE_SECONDS
            while not self.stop.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await self.worker.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
        finally:
            self.db.dispose()


def test_two_operation_workers_on_separate_loops_run_each_sub_step_once(
    db: Database, database_url: str, effects_file: Path
) -> None:
    workers = [_WorkerThread(database_url), _WorkerThread(database_url)]
    try:
        for w in workers:
            w.thread.start()
        for w in workers:
            assert w.started.wait(timeout=DEADLINE_SECONDS)
            assert w.worker.running
        # Committing start() wakes both workers at once (the after-commit hook), so they race from the first step.
        ids = _start_batch(db, effects_file, count=12)
        wait_for(
            lambda: all(op.status == "finished" for op in all_stored(db)),
            timeout=DEADLINE_SECONDS,
            what="the workers to finish every operation",
        )
    finally:
        for w in workers:
            w.stop.set()
        for w in workers:
            w.thread.join(timeout=DEADLINE_SECONDS)
    assert [w.thread.is_alive() for w in workers] == [False, False]
    assert [w.error for w in workers] == [None, None]
    assert [w.worker.running for w in workers] == [False, False]
    assert sum(w.worker.transitions for w in workers) == len(ids) * TRANSITIONS
    _assert_each_sub_step_ran_once(db, effects_file, ids)
