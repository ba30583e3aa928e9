"""The worker inside the server that advances due operations: one transaction per transition, or per operation
when steps take no time (``--operation-step-seconds 0``), which it then also finishes before the starting call
answers. It also prunes finished operations past their retention (``Retention``), in small transactions of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from openbcs.engine import engine, records
from openbcs.engine.kinds import Registry
from openbcs.engine.models import Operation
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey

log = logging.getLogger("openbcs.worker")

_running: set[OperationWorker] = set()
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class Retention:
    """How long finished operations are kept (``--operation-retention``) and how many per project at most; pruned
    every ``interval_seconds`` (first when the worker starts)."""

    days: float
    per_project: int
    interval_seconds: float = 300.0


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    # A committed start() means work is due now: wake this process's workers instead of waiting for the poll.
    if session.info.pop("operations_started", False):
        for worker in list(_running):
            worker.notify()


class OperationWorker:
    """Runs as a task on the server's event loop; several workers (or processes) may share one database."""

    def __init__(
        self,
        db: Database,
        *,
        registry: Registry,
        step_seconds: float,
        poll_seconds: float,
        server_key: ServerKey | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.server_key = server_key
        self.step_seconds = step_seconds
        self.poll_seconds = poll_seconds
        self.transitions = 0
        self._backoff: dict[str, tuple[int, float]] = {}  # operation id -> (failures, retry not before)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self.retention = retention
        self._stopping = False

    @property
    def running(self) -> bool:
        """True while the worker's task is alive."""
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """Wake the worker (safe from any thread)."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        """Start the worker task on the running loop. When steps take no time, operations are also finished in the
        transaction that starts them, so they are done before the call that started them answers."""
        if self.step_seconds == 0:
            self.db.before_commit.append(self._finish_started)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="openbcs-operation-worker")
        if self.retention is not None:
            self._pruner = asyncio.create_task(self._prune_forever(self.retention), name="openbcs-operation-pruner")
        _running.add(self)

    async def stop(self) -> None:
        """Finish the current transition and stop."""
        _running.discard(self)
        if self._finish_started in self.db.before_commit:
            self.db.before_commit.remove(self._finish_started)
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
            self._pruner = None
        if self._task is not None:
            await self._task

    async def run_once(self) -> int:
        """Make every transition that is due now; return how many were made."""
        due = await self.db.read(engine.due, now=now_ns())
        made = 0
        for operation_id, version in due:
            if self._stopping:
                break
            if self._backoff.get(operation_id, (0, 0.0))[1] > time.monotonic():
                continue
            try:
                made += await self.db.write(self._advance, operation_id, version)
                self._backoff.pop(operation_id, None)
                # On SQLite each transition runs on the event loop: let waiting requests in between them.
                await asyncio.sleep(0)
            except Exception:
                # A transition whose transaction keeps failing (database trouble, a failing hook) is retried with
                # exponential backoff instead of in a tight loop; the operation stays due, so nothing is lost.
                failures = self._backoff.get(operation_id, (0, 0.0))[0] + 1
                delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**failures)
                self._backoff[operation_id] = (failures, time.monotonic() + delay)
                log.exception(
                    "advancing operation %s failed (%d times); retrying in %.1f s", operation_id, failures, delay
                )
        self.transitions += made
        return made

    async def prune(self, retention: Retention) -> int:
        """Delete the finished operations ``retention`` no longer keeps, a batch per transaction (requests get in
        between them); how many went."""
        older_than = now_ns() - int(retention.days * 86400 * 1e9)
        gone, run = 0, records.PruneRun()
        while not self._stopping:
            batch = await self.db.write(
                records.prune, older_than=older_than, keep_per_project=retention.per_project, run=run
            )
            gone += batch
            if batch < records.PRUNE_BATCH:
                break
            await asyncio.sleep(0)
        return gone

    async def _prune_forever(self, retention: Retention) -> None:
        while not self._stopping:
            try:
                gone = await self.prune(retention)
                if gone:
                    log.info("pruned %d finished operations past their retention", gone)
            except Exception:
                log.exception("pruning finished operations failed; trying again later")
            await asyncio.sleep(retention.interval_seconds)

    def _finish_started(self, session: Session) -> None:
        """Before a transaction that started operations commits: run them to their end in it (zero-length steps)."""
        self.transitions += engine.finish_started(session, registry=self.registry, server_key=self.server_key)

    def _advance(self, session: Session, operation_id: str, version: int) -> int:
        """One transition (or, when steps take no time, every remaining one) in this transaction; how many."""
        if self.step_seconds == 0:
            claimed = session.execute(select(Operation.version).where(Operation.id == operation_id)).scalar()
            if claimed != version:
                return 0  # someone else moved it since it was found due
            return engine.finish(session, registry=self.registry, operation_id=operation_id, server_key=self.server_key)
        return int(
            engine.advance(
                session,
                registry=self.registry,
                operation_id=operation_id,
                version=version,
                now=now_ns(),
                step_seconds=self.step_seconds,
                server_key=self.server_key,
            )
        )

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            # Cleared before looking, so a start() committed while we look still wakes the wait below.
            self._wake.clear()
            try:
                made = await self.run_once()
                if made:
                    await asyncio.sleep(0)  # let requests in between bursts of transitions
                    continue
                next_due = await self.db.read(engine.next_due_at)
            except Exception:
                log.exception("operation worker loop failed; retrying")
                next_due = None
            timeout = self.poll_seconds
            if next_due is not None:
                timeout = min(timeout, max(0.0, (next_due - now_ns()) / 1e9))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
