"""What a quit costs the database, whatever the server holds: every statement of the quit's transaction — the call,
its operation and the channel's Fabric configuration change — finds its rows through an index. A quit that scans a
table gets slower as the server grows (the lookup of a channel's admins by MSP id once scanned every organisation).
Speed itself is measured in ``bench/bench_quit.py``, not here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.consortia import setup_consortium
from tests.support.snapshots import invitation_row

Statement = tuple[str, Any]


@contextmanager
def _statements() -> Iterator[list[Statement]]:
    """Every statement any engine of this process runs meanwhile, with its parameters."""
    seen: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _scans(db: Database, statements: list[Statement]) -> list[str]:
    """The statements whose SQLite query plan reads a whole table, with the plan's words. The test database has no
    statistics (no ANALYZE), so the planner plans as for large tables: it scans only where no index serves."""
    found = []
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            scans = [row[3] for row in plan if str(row[3]).startswith("SCAN")]
            if scans:
                found.append(f"{' '.join(statement.split())[:160]} -> {scans}")
    return found


def _quit_statements(client: TestClient, make_account: Callable[..., TestAccount], db: Database) -> list[Statement]:
    """The statements of one quit of a joined member (checked done: 200, the invitation quit)."""
    c = setup_consortium(client, make_account)
    assert c.agree().status_code == 200
    with _statements() as statements:
        answer = c.invitee.quit(c.quit_body())
    assert answer.status_code == 200, answer.text
    assert invitation_row(db)["status"] == "quit"
    return statements


def test_every_statement_of_a_quit_is_an_index_search(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    if not db.is_sqlite:
        pytest.skip("reads SQLite's query plans; PostgreSQL picks sequential scans for small tables by cost")
    statements = _quit_statements(client, make_account, db)
    tables = {"blockchain_orgs", "cert_issued", "channel_config_blocks", "consortium_invitations", "operations"}
    touched = {t for t in tables if any(f" {t}" in s for s, _ in statements)}
    assert touched == tables, "the quit's statements were recorded"
    assert _scans(db, statements) == []


def test_a_quit_reads_its_invitation_instances_and_locks_without_repeating_itself(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    # The call locks the invitation and each of its operation's steps (run in the same transaction when steps take
    # no time) asks for it again: only the first asks the database. The engine reads both instances' locks at once.
    flat = [" ".join(s.split()) for s, _ in _quit_statements(client, make_account, db)]
    by_id = [
        s
        for s in flat
        if s.startswith("SELECT") and "FROM consortium_invitations WHERE consortium_invitations.id =" in s
    ]
    assert len(by_id) == 1, by_id
    lock_reads = [s for s in flat if s.startswith("SELECT") and "FROM operation_locks" in s]
    # The guard's check of both instances, then the engine's own.
    assert len(lock_reads) == 2, lock_reads
    assert all(" IN (" in s for s in lock_reads)
    # The instances are loaded with their runtime (a deferred column), which the channel change reads.
    assert [s for s in flat if s.startswith("SELECT blockchains.runtime FROM")] == []
