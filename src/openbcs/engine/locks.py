"""Resource locks of running operations: taken by :func:`openbcs.engine.engine.start`, released when the operation
finishes or fails. Domains only read them (is this instance busy, and with what?)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openbcs.engine.models import OperationLock
from openbcs.kernel import errors


@dataclass(frozen=True)
class Lock:
    """A resource an operation changes, and what its holder is doing to it (``None``: nothing the API names)."""

    resource: str
    label: str | None = None


@dataclass(frozen=True)
class Holder:
    """The operation holding a resource."""

    operation_id: str
    label: str | None


class ResourceBusy(errors.BCSError):
    """A start named a resource another operation holds (the domains' guards normally refuse earlier, with the
    code for what runs; this is the engine's own guarantee)."""

    def __init__(self, resource: str) -> None:
        super().__init__(errors.INSTANCE_BUSY)
        self.resource = resource


def holder(session: Session, resource: str) -> Holder | None:
    """Who holds ``resource``, if anyone."""
    row = session.execute(
        select(OperationLock.operation_id, OperationLock.label).where(OperationLock.resource == resource)
    ).first()
    return Holder(row.operation_id, row.label) if row else None


def labels(session: Session, resources: Iterable[str]) -> dict[str, str | None]:
    """``{resource: label}`` for those of ``resources`` that are held."""
    wanted = list(resources)
    if not wanted:
        return {}
    rows = session.execute(
        select(OperationLock.resource, OperationLock.label).where(OperationLock.resource.in_(wanted))
    )
    return {row.resource: row.label for row in rows}


def acquire(session: Session, operation_id: str, locks: Sequence[Lock]) -> None:
    """Take every lock for ``operation_id``, or none (the caller's transaction rolls back on ResourceBusy)."""
    if not locks:
        return
    held = labels(session, (lock.resource for lock in locks))  # one statement for all of them
    for lock in locks:
        if lock.resource in held:  # held by another operation, or named twice here
            raise ResourceBusy(lock.resource)
        held[lock.resource] = lock.label
        session.add(OperationLock(resource=lock.resource, operation_id=operation_id, label=lock.label))
    session.flush()


def release(session: Session, operation_id: str) -> None:
    """Give back every lock the operation holds."""
    session.execute(delete(OperationLock).where(OperationLock.operation_id == operation_id))
