"""The supervisor: one thread per server that makes what operations asked of the runtime true, outside any
transaction. It starts the nodes that should run (again after a restart of OpenBCS: from their ledgers), restarts
one that exits (with backoff, each time an event), stops and removes those that should go, and runs the handed-off
tasks (join, leave, order) in the order they were given, writing each outcome back for the waiting operation.

Nodes are this server's children and die with it (``process`` sets a parent-death signal), so a server that is
killed leaves none behind, and the next one starts them from their ledgers: never two of one node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network.models import Node, Organization
from openbcs.runtime import lease, nodespecs, observed, tasks
from openbcs.runtime.base import Runtime
from openbcs.runtime.config import RuntimeConfig
from openbcs.runtime.models import Desired, Observed, RuntimeNode, RuntimeTask, TaskKind, TaskStatus
from openbcs.runtime.specs import Client, NodeSpec

log = logging.getLogger("openbcs.runtime")

POLL_SECONDS = 1.0  # a pass when nothing woke it: a node that exited is noticed within this
# How often each running node's /healthz is asked: a node down shows within this plus the check's 1 s time-out, and
# 20 nodes cost a few requests a second.
HEALTH_SECONDS = 3.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class _Wanted:
    node_id: int
    name: str
    blockchain_id: str
    desired: str
    observed: str
    restarts: int
    pid: int | None
    message: str


class Supervisor:
    """Reconciles nodes and runs tasks on its own thread; ``notify`` wakes it, ``stop`` stops it and the nodes."""

    def __init__(
        self,
        db: Database,
        runtime: Runtime,
        *,
        config: RuntimeConfig,
        server_key: ServerKey,
        on_progress: Callable[[], None] = lambda: None,
    ) -> None:
        self.db, self.runtime, self.config, self.keys = db, runtime, config, server_key
        self.on_progress = on_progress
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._retry_at: dict[int, float] = {}  # node id -> when a failed start may be tried again
        self._health_at = 0.0  # when the nodes' health checks are next asked
        self.health_seconds = HEALTH_SECONDS
        self.owner = lease.owner_id()
        self.holding = False
        self._renew_at = 0.0
        self._held_until = 0.0

    def start(self) -> None:
        """Start the thread: once it holds the lease, it starts the nodes that should run."""
        tasks.on_work(self.notify)
        self._thread = threading.Thread(target=self._run, name="openbcs-runtime-supervisor", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Look again now (safe from any thread)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread, then every node (their ledgers stay), then give the lease up for a standby to take."""
        tasks.off_work(self.notify)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.runtime.close()
        if self.holding:
            try:
                self.db.run_write(lease.release, self.owner)
            except Exception:  # the database is gone: the lease expires by itself
                log.exception("giving the runtime lease up failed")
            self.holding = False

    @property
    def owned_nodes(self) -> int:
        """How many nodes this process runs now."""
        return sum(1 for name in self.runtime.names() if self.runtime.status(name).running) if self.holding else 0

    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                self._keep_lease()
                if self.holding:
                    progressed = self.reconcile() + self.run_tasks()
                    if progressed:
                        self.on_progress()
            except Exception:
                log.exception("runtime supervisor pass failed; retrying")
            self._wake.wait(POLL_SECONDS)

    def _keep_lease(self) -> None:
        """Renew the lease (or try to take it) every RENEW_SECONDS; nodes run only while it is held."""
        now = time.monotonic()
        if self.holding and now > self._held_until:
            # Not renewed in time (the database is unreachable): another server may take over, so stop first.
            log.warning("the runtime lease could not be renewed: stopping this server's nodes")
            self.runtime.close()
            self.holding = False
        if now < self._renew_at:
            return
        self._renew_at = now + lease.RENEW_SECONDS
        held = self.db.run_write(lease.hold, self.owner)
        if held:
            self._held_until = now + lease.TTL_SECONDS - lease.RENEW_SECONDS
        if held and not self.holding:
            log.info("this server supervises the local runtime's nodes (lease %s)", self.owner)
            self.db.run_write(observed.not_started_yet)  # whoever ran them before, they stopped with it
        elif not held and self.holding:
            log.warning("another server took the runtime lease: stopping this server's nodes")
            self.runtime.close()
        self.holding = held

    # --- nodes ---------------------------------------------------------------------------------------------------

    def reconcile(self) -> int:
        """Make each node's process what its row asks for, and note what changed; how many rows changed."""
        changed = 0
        rows = self.db.run_read(_wanted)
        for name in set(self.runtime.names()) - {wanted.name for wanted in rows}:
            self.runtime.forget(name)  # a deleted peer: its rows went with it
            changed += 1
        look = time.monotonic() >= self._health_at
        if look:
            self._health_at = time.monotonic() + self.health_seconds
        starting: list[_Wanted] = []
        for wanted in rows:
            if self._stopping:
                break
            if wanted.desired == Desired.REMOVED:
                if wanted.observed != Observed.REMOVED:
                    self.runtime.remove(self._spec(wanted.node_id))
                    changed += self.db.run_write(observed.removed, wanted.node_id)
                continue
            status = self.runtime.status(wanted.name)
            if status.running:
                changed += self._look_at(wanted, status.pid) if look else self._pid_changed(wanted, status.pid)
                continue
            if time.monotonic() < self._retry_at.get(wanted.node_id, 0.0):
                continue
            if wanted.observed in (Observed.RUNNING, Observed.UNHEALTHY):  # it ran and is gone: why, then restart
                self.db.run_write(observed.down, wanted.node_id, Observed.FAILED, status.message)
            try:
                self.runtime.start(self._spec(wanted.node_id))
            except Exception as exc:
                changed += self._failed(wanted, exc)
            else:
                starting.append(wanted)
        # Started side by side, then waited for: five nodes take about as long as the slowest one.
        for wanted in starting:
            changed += self._started(wanted)
        return changed

    def _pid_changed(self, wanted: _Wanted, pid: int | None) -> int:
        """A node restarted by a task (a peer leaving a channel) runs under a new pid."""
        if wanted.observed == Observed.RUNNING and wanted.pid == pid:
            return 0
        if wanted.observed == Observed.UNHEALTHY:
            return 0  # the next health look decides
        return self.db.run_write(observed.up, wanted.node_id, pid)

    def _look_at(self, wanted: _Wanted, pid: int | None) -> int:
        """Ask the node's own health check (every HEALTH_SECONDS): a change of answer is a change of state."""
        health = self.runtime.health(wanted.name)
        if health.running:
            if wanted.observed == Observed.RUNNING and wanted.pid == pid:
                return 0
            return self.db.run_write(observed.up, wanted.node_id, pid)
        if wanted.observed == Observed.UNHEALTHY and wanted.message == health.message:
            return 0
        return self.db.run_write(observed.down, wanted.node_id, Observed.UNHEALTHY, health.message)

    def _failed(self, wanted: _Wanted, exc: Exception) -> int:
        delay = min(MAX_BACKOFF_SECONDS, 2.0**wanted.restarts)
        self._retry_at[wanted.node_id] = time.monotonic() + delay
        log.warning("node %s did not start (retry in %.0f s): %s", wanted.name, delay, exc)
        reason = f"did not start: {_one_line(exc)}"
        return self.db.run_write(observed.down, wanted.node_id, Observed.FAILED, reason, restarts=wanted.restarts + 1)

    def _started(self, wanted: _Wanted) -> int:
        try:
            self.runtime.await_started(wanted.name)
        except Exception as exc:
            return self._failed(wanted, exc)
        self._retry_at.pop(wanted.node_id, None)
        if wanted.observed != Observed.PENDING:
            self.db.run_write(observed.event, wanted.node_id, "NodeRestarted", f"{wanted.name} started again")
        return self.db.run_write(observed.up, wanted.node_id, self.runtime.status(wanted.name).pid)

    def _spec(self, node_id: int) -> NodeSpec:
        return self.db.run_read(nodespecs.node_spec, node_id, keys=self.keys, nodes_dir=self.config.nodes_dir)

    # --- tasks ---------------------------------------------------------------------------------------------------

    def run_tasks(self) -> int:
        """Run the pending tasks in the order they were handed off; how many ended."""
        ended = 0
        for task_id in self.db.run_read(_pending_tasks):
            if self._stopping:
                break
            task = self.db.run_read(_task, task_id)
            try:
                result, message = self._perform(task), "done"
            except Exception as exc:
                log.warning("runtime task %s (%s %s) failed: %s", task.id, task.kind, task.channel, exc)
                self.db.run_write(_finish_task, task.id, TaskStatus.FAILED, _one_line(exc), None)
            else:
                self.db.run_write(_finish_task, task.id, TaskStatus.DONE, message, result)
            ended += 1
        return ended

    def _perform(self, task: RuntimeTask) -> bytes | None:
        if task.kind in (TaskKind.ORDER, TaskKind.SERVE):
            orderers, reader = self.db.run_read(
                nodespecs.orderers_of, task.blockchain_id, keys=self.keys, nodes_dir=self.config.nodes_dir
            )
            if task.kind == TaskKind.SERVE:
                self.runtime.await_channel(orderers, task.channel, reader)
                return None
            assert task.data is not None
            return self.runtime.order(orderers, task.channel, task.data, reader)
        assert task.node_id is not None
        node, admin = self.db.run_read(self._node_and_admin, task.node_id)
        if not self.runtime.status(node.name).running:  # a join may come before the node's first pass
            self.runtime.start(node)
            self.runtime.await_started(node.name)
        if task.kind == TaskKind.JOIN:
            assert task.data is not None
            self.runtime.join(node, task.channel, task.data, admin)
        else:
            self.runtime.leave(node, task.channel, admin)
        return None

    def _node_and_admin(self, session: Session, node_id: int) -> tuple[NodeSpec, Client]:
        node = session.get_one(Node, node_id)
        org = session.get_one(Organization, node.org_id)
        spec = nodespecs.node_spec(session, node_id, keys=self.keys, nodes_dir=self.config.nodes_dir)
        return spec, nodespecs.admin_client(session, org, keys=self.keys)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:900] or exc.__class__.__name__


def _wanted(session: Session) -> list[_Wanted]:
    rows = session.execute(
        select(RuntimeNode, Node.name).join(Node, Node.id == RuntimeNode.node_id).order_by(RuntimeNode.node_id)
    ).all()
    return [
        _Wanted(r.node_id, name, r.blockchain_id, r.desired, r.observed, r.restarts, r.pid, r.message)
        for r, name in rows
    ]


def _task(session: Session, task_id: int) -> RuntimeTask:
    return session.get_one(RuntimeTask, task_id)


def _pending_tasks(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(RuntimeTask.id).where(RuntimeTask.status == TaskStatus.PENDING).order_by(RuntimeTask.id).limit(50)
        )
    )


def _finish_task(session: Session, task_id: int, status: str, message: str, result: bytes | None) -> None:
    task = session.get_one(RuntimeTask, task_id)
    task.status, task.result = status, result
    if status == TaskStatus.FAILED or not task.message:
        task.message = message
    observed.due_now(session, Operation.id == task.operation_id)


def make_supervisor(
    db: Database,
    config: RuntimeConfig,
    server_key: ServerKey,
    *,
    on_progress: Callable[[], None],
    runtime: Runtime | None = None,
) -> Supervisor | None:
    """The supervisor of the local runtime's nodes (Fabric processes, unless ``runtime`` stands in for them); None
    for the modelled runtime, which runs nothing."""
    if not config.local:
        return None
    if runtime is None:
        from openbcs.runtime.local.backend import LocalRuntime
        from openbcs.runtime.local.binaries import find_binaries

        runtime = LocalRuntime(find_binaries(config.fabric_bin, config.fabric_config))
    return Supervisor(db, runtime, config=config, server_key=server_key, on_progress=on_progress)
