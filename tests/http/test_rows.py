"""``Database.read_rows``: the raw driver path of the hottest reads — statements compiled once per dialect, named
parameters, plain tuples — on SQLite and PostgreSQL alike, and a read on a connection the server dropped."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, or_, select

from openbcs.iam.models import Account
from openbcs.kernel.db import Database
from openbcs.kernel.rows import Rows, Statement, json_value

_BY_NAME = Statement(select(Account.id, Account.name).where(Account.name == bindparam("name")))
_EITHER = Statement(select(Account.name).where(or_(Account.name == "a-one", Account.name == bindparam("other"))))


def _accounts(db: Database, *names: str) -> None:
    with db.engine.begin() as conn:
        for number, name in enumerate(names):
            conn.execute(sa.insert(Account).values(id=f"{number:032x}", name=name, created_at=number))


def test_statements_run_with_named_parameters_and_answer_tuples(db: Database) -> None:
    _accounts(db, "a-one", "a-two", "a-three")

    def read(rows: Rows) -> tuple[object, ...]:
        return (
            rows.first(_BY_NAME, name="a-two"),
            rows.first(_BY_NAME, name="nobody"),
            sorted(rows.all(_EITHER, other="a-three")),
        )

    assert db.run_read_rows(read) == (("0" * 31 + "1", "a-two"), None, [("a-one",), ("a-three",)])
    # The same statement object serves every dialect it meets, compiled once each.
    assert db.engine.dialect.name in _BY_NAME._compiled
    # A read needing no common snapshot (authentication) answers the same without a transaction around it.
    assert asyncio.run(db.read_rows_autocommit(read)) == db.run_read_rows(read)


def test_json_values_read_the_same_on_both_databases() -> None:
    assert json_value('{"a": [1]}') == {"a": [1]} == json_value({"a": [1]})
    assert json_value("[]") == [] == json_value([])


def test_a_pooled_connection_the_server_dropped_is_replaced_and_the_read_runs_again(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to drop a connection")
    _accounts(db, "a-one")

    def read(rows: Rows) -> tuple[object, ...] | None:
        return rows.first(_BY_NAME, name="a-one")

    def drop_pooled_connections() -> None:
        with db.engine.connect() as admin:
            dropped = admin.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = current_user"
                )
            ).scalar()
        assert dropped is not None
        assert dropped >= 1

    assert db.run_read_rows(read) is not None  # a pooled connection now
    drop_pooled_connections()
    assert db.run_read_rows(read) == ("0" * 32, "a-one")
    # The same without a transaction around the read (authentication); its fresh connection is pooled as usual.
    drop_pooled_connections()
    assert asyncio.run(db.read_rows_autocommit(read)) == ("0" * 32, "a-one")

    def in_transaction(rows: Rows) -> bool:
        read(rows)
        return bool(rows.connection.info.transaction_status.name == "INTRANS")

    assert db.run_read_rows(in_transaction)
