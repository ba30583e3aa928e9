"""Database engine, sessions and the unit of work shared by every domain.

One write path for both databases: a service function receives a :class:`~sqlalchemy.orm.Session` and runs inside
exactly one transaction, opened by :meth:`Database.write` (or :meth:`Database.writing` outside the event loop).

SQLite is the embedded default. It has a single writer, so OpenBCS never lets threads contend for it: on SQLite the
unit of work runs on the event loop's own thread, one transaction after another (measured: thread-pool endpoints
fighting over SQLite's write lock gave p99 near one second, one connection used from the loop 35-50 ms). Writes
start with ``BEGIN IMMEDIATE`` so a second process (``--workers 2``, the CLI) waits on the busy timeout instead of
failing half-way. PostgreSQL has real concurrent writers, so there the same functions run in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

T = TypeVar("T")
P = ParamSpec("P")

_WRITE = "openbcs_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable so migrations can refer to them."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides how each one starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """The engine plus the unit of work: one transaction per call, committed or rolled back as a whole."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            engine = create_engine(
                parsed, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.engine = engine
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(engine.execution_options(**{_WRITE: True}), expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads. Its transaction ends with a commit (nothing to write), not a rollback: a rollback
        would expire every loaded object, and callers read the objects they got after the transaction."""
        with self._read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose single transaction commits if the block succeeds and rolls back otherwise."""
        with self._write_sessions() as session, session.begin():
            yield session

    def run_read(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a read transaction (blocking)."""
        with self.reading() as session:
            return fn(session, *args, **kwargs)

    def run_write(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` in one write transaction (blocking)."""
        with self.writing() as session:
            return fn(session, *args, **kwargs)

    async def read(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, ...)`` in a read transaction from async code (inline on SQLite, thread pool on
        PostgreSQL). Routes name the service function itself, so a reader can follow the call to its SQL."""
        if self.is_sqlite:
            return self.run_read(fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: self.run_read(fn, *args, **kwargs))

    async def write(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, ...)`` in one write transaction from async code (inline on SQLite, thread pool on
        PostgreSQL)."""
        if self.is_sqlite:
            return self.run_write(fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: self.run_write(fn, *args, **kwargs))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
