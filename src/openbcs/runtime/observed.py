"""What the supervisor writes back about nodes, each in a short transaction of its own: a node's observed state, and
what follows when it changes: the node's status as the API shows it, an event, and the node's alarm raised when it
goes down (its process exited, its health check fails, it does not start) and cleared when it is back. One event per
change, never one per look."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.engine.models import ACTIVE, Operation
from openbcs.kernel.clock import now_ns
from openbcs.network.guards import NODE_ABNORMAL, NODE_NORMAL, record_event
from openbcs.network.models import Instance, Node, Organization
from openbcs.runtime.models import Observed, RuntimeNode

NODE_ALARM = "NodeAbnormal"


def alarm_key(node_id: int) -> str:
    """The key of a node's alarm (one per node, active while it is down)."""
    return f"node-{node_id}"


def _rows(session: Session, node_id: int) -> tuple[RuntimeNode, Node, Instance] | None:
    row = session.get(RuntimeNode, node_id)
    node = session.get(Node, node_id)
    instance = session.get(Instance, row.blockchain_id) if row is not None else None
    if row is None or node is None or instance is None:
        return None
    return row, node, instance


def _org_status(session: Session, node: Node) -> None:
    """An organisation is Normal while all its nodes are, AbNormal while one is down (only between these two: an
    organisation being added or deleted keeps the status its operation gave it)."""
    org = session.get_one(Organization, node.org_id)
    if org.status not in (NODE_NORMAL, NODE_ABNORMAL):
        return
    # The node just changed is flushed first (autoflush): the statuses are read as they are now.
    statuses = session.scalars(select(Node.status).where(Node.org_id == org.id)).all()
    org.status = NODE_ABNORMAL if NODE_ABNORMAL in statuses else NODE_NORMAL


def up(session: Session, node_id: int, pid: int | None) -> int:
    """The node runs and answers its health check: its status Normal again and its alarm cleared, if it was down."""
    found = _rows(session, node_id)
    if found is None:
        return 0
    row, node, instance = found
    row.observed, row.message, row.pid, row.restarts, row.updated_time = Observed.RUNNING, "", pid, 0, now_ns()
    if node.status == NODE_ABNORMAL:
        node.status = NODE_NORMAL
        _org_status(session, node)
    events.clear_alarms(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        keys=[alarm_key(node_id)],
        reason=f"{node.name} runs and answers its health check",
    )
    due_now(session, Operation.blockchain_id == instance.id)
    return 1


def down(session: Session, node_id: int, observed: Observed, reason: str, *, restarts: int | None = None) -> int:
    """The node is down (``reason`` says how): its status AbNormal and its alarm raised, once per change."""
    found = _rows(session, node_id)
    if found is None:
        return 0
    row, node, instance = found
    changed = row.observed != observed or row.message != reason
    row.observed, row.message, row.updated_time = observed, reason, now_ns()
    if restarts is not None:
        row.restarts = restarts
    if node.status == NODE_NORMAL:
        node.status = NODE_ABNORMAL
        _org_status(session, node)
    if changed:
        events.raise_alarm(
            session,
            blockchain_id=instance.id,
            project_id=instance.project_id,
            key=alarm_key(node_id),
            name=NODE_ALARM,
            severity="major",
            message=f"{node.name}: {reason}",
            metadata={"resource": node.name, "reason": reason},
        )
    due_now(session, Operation.blockchain_id == instance.id)
    return 1


def removed(session: Session, node_id: int) -> int:
    """The node stopped for good and its folder went."""
    row = session.get(RuntimeNode, node_id)
    if row is None:
        return 0
    row.observed, row.message, row.pid, row.updated_time = Observed.REMOVED, "removed", None, now_ns()
    due_now(session, Operation.blockchain_id == row.blockchain_id)
    return 1


def event(session: Session, node_id: int, name: str, message: str) -> None:
    """An event of the node's instance."""
    found = _rows(session, node_id)
    if found is not None:
        _, node, instance = found
        record_event(session, instance, name, message, resource=node.name)


def not_started_yet(session: Session) -> None:
    """What an earlier server saw no longer holds: its nodes stopped with it."""
    session.execute(
        update(RuntimeNode)
        .where(RuntimeNode.observed.in_((Observed.RUNNING, Observed.UNHEALTHY)))
        .values(observed=Observed.PENDING, pid=None, restarts=0)
    )


def due_now(session: Session, which: ColumnElement[bool]) -> None:
    """Operations that may be waiting for what just changed look now rather than at their next retry (the worker is
    woken once this commits)."""
    session.execute(update(Operation).where(which, Operation.status.in_(ACTIVE)).values(due_at=now_ns()))
