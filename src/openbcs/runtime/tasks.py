"""What operations ask of the runtime, from inside their transactions: nodes that should run (or be gone), and
one-shot tasks (join, leave, order) handed to the supervisor, with a way to wait for the outcome.

An action calls these and answers :class:`~openbcs.engine.kinds.Pending` until the supervisor has done the work;
a task that failed fails the operation with the runtime's own message. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from openbcs.engine.kinds import OperationFailed, Pending
from openbcs.kernel.clock import now_ns
from openbcs.network.models import Node, Organization
from openbcs.runtime.models import Desired, Observed, RuntimeNode, RuntimeTask, TaskKind, TaskStatus

# A node that failed to start this many times in a row fails the operation waiting for it.
MAX_START_FAILURES = 3
_WORK = "openbcs.runtime_work"
_listeners: list[Callable[[], None]] = []


def on_work(listener: Callable[[], None]) -> None:
    """Call ``listener`` (from any thread) after a transaction that asked the runtime for work commits."""
    _listeners.append(listener)


def off_work(listener: Callable[[], None]) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


@event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    if session.info.pop(_WORK, False):
        for listener in list(_listeners):
            listener()


def _node_rows(session: Session, blockchain_id: str, role: str | None) -> list[tuple[Node, RuntimeNode | None]]:
    query = (
        select(Node, RuntimeNode)
        .join(Organization, Organization.id == Node.org_id)
        .outerjoin(RuntimeNode, RuntimeNode.node_id == Node.id)
        .where(Organization.blockchain_id == blockchain_id)
        .order_by(Node.id)
    )
    if role is not None:
        query = query.where(Organization.role == role)
    return [(node, runtime) for node, runtime in session.execute(query).all()]


def want_running(session: Session, blockchain_id: str, *, role: str | None = None) -> int:
    """Ask for every node of the instance (of ``role``) to run; returns how many were newly asked for."""
    made = 0
    for node, runtime in _node_rows(session, blockchain_id, role):
        if runtime is None:
            session.add(
                RuntimeNode(
                    node_id=node.id,
                    blockchain_id=blockchain_id,
                    desired=Desired.RUNNING,
                    observed=Observed.PENDING,
                    message="",
                    restarts=0,
                    updated_time=now_ns(),
                )
            )
            made += 1
        elif runtime.desired != Desired.RUNNING:
            runtime.desired = Desired.RUNNING
            made += 1
    session.info[_WORK] = True
    return made


def nodes_ready(session: Session, blockchain_id: str, *, role: str | None = None) -> Pending | None:
    """None once every node asked for runs and answers its health check; a node that keeps failing to start
    fails the operation with what the supervisor saw."""
    waiting = []
    for node, runtime in _node_rows(session, blockchain_id, role):
        if runtime is None or runtime.desired != Desired.RUNNING:
            continue
        if runtime.observed == Observed.FAILED and runtime.restarts >= MAX_START_FAILURES:
            raise OperationFailed(f"node {node.name} did not start: {runtime.message}")
        if runtime.observed != Observed.RUNNING:
            waiting.append(node.name)
    if waiting:
        return Pending(f"waiting for {len(waiting)} node(s) to start: {', '.join(waiting[:3])}")
    return None


def want_removed(session: Session, node_ids: Sequence[int]) -> None:
    """Ask for these nodes to stop and their folders to go (a deleted instance or peer)."""
    for runtime in session.scalars(select(RuntimeNode).where(RuntimeNode.node_id.in_(node_ids))):
        runtime.desired = Desired.REMOVED
    session.info[_WORK] = True


def nodes_removed(session: Session, node_ids: Sequence[int]) -> Pending | None:
    """None once none of these nodes runs any more."""
    left = session.scalars(
        select(RuntimeNode.node_id).where(RuntimeNode.node_id.in_(node_ids), RuntimeNode.observed != Observed.REMOVED)
    ).all()
    return Pending(f"waiting for {len(left)} node(s) to stop") if left else None


def hand_off(
    session: Session,
    *,
    operation_id: str,
    step_key: str,
    blockchain_id: str,
    kind: TaskKind,
    channel: str,
    node_id: int | None = None,
    data: bytes | None = None,
    message: str = "",
) -> RuntimeTask:
    """Give the supervisor one task, done after this transaction commits; ``message`` (e.g. what the step will say
    once it is done) is kept unless the task fails."""
    task = RuntimeTask(
        operation_id=operation_id,
        step_key=step_key,
        blockchain_id=blockchain_id,
        kind=kind,
        channel=channel,
        node_id=node_id,
        data=data,
        status=TaskStatus.PENDING,
        message=message,
        created_time=now_ns(),
    )
    session.add(task)
    session.info[_WORK] = True
    return task


def handed_off(session: Session, operation_id: str, step_key: str) -> list[RuntimeTask]:
    """The tasks an operation's step handed off, in order."""
    return list(
        session.scalars(
            select(RuntimeTask)
            .where(RuntimeTask.operation_id == operation_id, RuntimeTask.step_key == step_key)
            .order_by(RuntimeTask.id)
        )
    )


def outcome(tasks: Sequence[RuntimeTask], what: str) -> Pending | None:
    """None when every task is done; Pending while some run; the first failure fails the operation."""
    for task in tasks:
        if task.status == TaskStatus.FAILED:
            raise OperationFailed(task.message)
    left = sum(1 for task in tasks if task.status == TaskStatus.PENDING)
    return Pending(f"{what}: {len(tasks) - left} of {len(tasks)} done") if left else None
