"""Rows' PostgreSQL pool: its connections are neither pinged nor reset when taken or given back, so each read must
end its own transaction: a read sees what was committed while its connection waited in the pool (a read of several
statements still sees one snapshot: ``tests/engine/test_records_snapshot.py``)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, func, select

from openbcs.iam.models import Account
from openbcs.kernel.db import Database
from openbcs.kernel.rows import Rows, Statement

_COUNT = Statement(select(func.count()).select_from(Account).where(Account.name.like(bindparam("pattern"))))


def _add(db: Database, number: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Account).values(id=f"{number:032x}", name=f"pool-{number}", created_at=number))


def _count(rows: Rows) -> int:
    found = rows.first(_COUNT, pattern="pool-%")
    assert found is not None
    return int(found[0])


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite's reads open their own transaction each time")
    return db


def test_a_read_sees_what_was_committed_while_its_connection_waited_in_the_pool(pg: Database) -> None:
    assert pg.run_read_rows(_count) == 0  # the connection goes back to the pool
    _add(pg, 1)
    assert pg.run_read_rows(_count) == 1
    _add(pg, 2)
    assert pg.run_read_rows(_count) == 2


def _transaction_status(rows: Rows) -> str:
    rows.first(_COUNT, pattern="pool-%")
    return str(rows.connection.info.transaction_status.name)


def test_an_autocommit_read_runs_outside_a_transaction_and_gives_its_connection_back_as_taken(pg: Database) -> None:
    _add(pg, 1)
    # One statement, no BEGIN before it: the connection is idle again once it has answered (one round trip).
    assert asyncio.run(pg.read_rows_autocommit(_transaction_status)) == "IDLE"
    assert asyncio.run(pg.read_rows_autocommit(_count)) == 1
    # The pooled connection is back in transaction mode: the next read's statements share one transaction.
    assert asyncio.run(pg.read_rows(_transaction_status)) == "INTRANS"
    assert pg.run_read_rows(_transaction_status) == "INTRANS"


def test_a_failing_autocommit_read_gives_its_connection_back_as_taken(pg: Database) -> None:
    def failing(rows: Rows) -> None:
        rows.first(_COUNT, pattern="pool-%")
        raise LookupError("the read's own error")

    for _ in range(3):
        with pytest.raises(LookupError, match="the read's own error"):
            asyncio.run(pg.read_rows_autocommit(failing))
    assert pg.run_read_rows(_transaction_status) == "INTRANS"
