"""The raw driver path of the hottest reads (authentication, ListOpRecord, ListMembers): a Core statement compiled
once per dialect, run on the driver's own connection with named parameters, answering plain tuples. Measured, a
SQLAlchemy session with one small select costs ~200 µs of CPU, the driver ~30 µs (``docs/benchmarks.md``).
:class:`~openbcs.kernel.db.Database` opens the transactions these run in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


def json_value(value: Any) -> Any:
    """A JSON column's value as read through :class:`Rows`: SQLite gives the text, psycopg the decoded value."""
    return json.loads(value) if isinstance(value, str) else value


class Statement:
    """A Core statement compiled once per dialect into the driver's own SQL (``?`` or ``%(name)s``): parameters
    are passed by name and must already be the driver's values (no type processing). No ``IN`` over a list (SQLAlchemy
    expands those per execution): use a subquery, or ``or_`` of equalities for a fixed list."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[SQLCompiler, str, tuple[str, ...] | None]] = {}

    def prepared(self, dialect: Dialect) -> tuple[SQLCompiler, str, tuple[str, ...] | None]:
        """(compiled, SQL, positional parameter names or None for named parameters) for ``dialect``."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup is not None else None
            found = (compiled, compiled.string, names)
            self._compiled[dialect.name] = found
        return found


class Rows:
    """The raw driver connection of one read (a transaction, or statements each on its own: see
    ``Database.read_rows_autocommit``): :class:`Statement` and named parameters in, tuples out."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection, self.dialect = connection, dialect

    @classmethod
    def of(cls, session: Session) -> Rows:
        """The raw connection of a session's transaction: statements run in that same transaction (pending ORM
        changes are flushed first, so they are seen)."""
        session.flush()
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect)

    def _execute(self, statement: Statement, params: Mapping[str, Any]) -> Any:
        compiled, sql, names = statement.prepared(self.dialect)
        values = (compiled.construct_params(dict(params)) or {}) if compiled.binds else {}
        cursor = self.connection.cursor()
        cursor.execute(sql, tuple(values[n] for n in names) if names is not None else values)
        return cursor

    def all(self, statement: Statement, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of ``statement``."""
        return list(self._execute(statement, params).fetchall())

    def first(self, statement: Statement, **params: Any) -> tuple[Any, ...] | None:
        """The first row of ``statement``, or None."""
        row: tuple[Any, ...] | None = self._execute(statement, params).fetchone()
        return row

    def run(self, statement: Statement, **params: Any) -> int:
        """Execute ``statement``; the number of rows it changed."""
        return int(self._execute(statement, params).rowcount)
