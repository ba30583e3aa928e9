"""``states.lock`` asks the database once per transaction for an invitation it already holds locked, but again once
the savepoint that locked it has ended (PostgreSQL releases the row locks of a savepoint rolled back)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from openbcs.consortium import states
from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.consortia import setup_consortium
from tests.support.snapshots import invitation_row


@contextmanager
def _reads_per_lock(session: Session, invitation_id: int) -> Iterator[Callable[[], int]]:
    """A function that locks the invitation and answers how many statements read it meanwhile."""
    reads: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM consortium_invitations" in statement:
            reads.append(statement)

    def lock() -> int:
        before = len(reads)
        invitation = states.lock(session, invitation_id)
        assert invitation.id == invitation_id
        return len(reads) - before

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield lock
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _locked_by_the_transaction(session: Session, invitation_id: int) -> list[int]:
    with _reads_per_lock(session, invitation_id) as lock:
        counts = [lock(), lock()]
        savepoint = session.begin_nested()
        counts.append(lock())  # the transaction's lock holds inside a savepoint
        savepoint.rollback()
        counts.append(lock())  # and after it
    return counts


def _locked_in_savepoints(session: Session, invitation_id: int) -> list[int]:
    with _reads_per_lock(session, invitation_id) as lock:
        rolled_back = session.begin_nested()
        counts = [lock(), lock()]
        rolled_back.rollback()
        counts.append(lock())  # that savepoint's lock is gone: asked again (now by the transaction)
        with session.begin_nested():
            counts.append(lock())
    with _reads_per_lock(session, invitation_id) as lock:
        committed = session.begin_nested()
        session.info.pop(states._LOCKED)  # forget the transaction's own lock
        counts.append(lock())
        committed.commit()
        counts.append(lock())  # a savepoint ended: asked again, whether its locks went to the transaction or not
    return counts


def test_an_invitation_is_read_again_only_when_its_lock_may_be_gone(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    c = setup_consortium(client, make_account)
    invitation_id = invitation_row(db)["id"]
    assert db.run_write(_locked_by_the_transaction, invitation_id) == [1, 0, 0, 0]
    assert db.run_write(_locked_in_savepoints, invitation_id) == [1, 0, 1, 0, 1, 1]
    # Nothing was changed by locking.
    assert invitation_row(db)["status"] == "waiting"
    assert c.agree().status_code == 200
    assert invitation_row(db)["status"] == "joined"
