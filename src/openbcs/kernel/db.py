"""Database engine, sessions and the unit of work shared by every domain.

One write path for both databases: a service function receives a :class:`~sqlalchemy.orm.Session` and runs inside
exactly one transaction, opened by :meth:`Database.write` (or :meth:`Database.writing` outside the event loop). The
hottest reads (authentication, ListOpRecord, ListMembers) may instead receive :class:`~openbcs.kernel.rows.Rows`,
the raw driver connection of one transaction with statements compiled once (:mod:`openbcs.kernel.rows`).

SQLite is the embedded default. It has a single writer, so OpenBCS never lets threads contend for it: on SQLite the
unit of work runs on the event loop's own thread, one transaction after another (measured: thread-pool endpoints
fighting over SQLite's write lock gave p99 near one second, one connection used from the loop 35-50 ms). A
transaction on the loop must never *wait* for the lock, though: another process (``--workers 2``, the CLI, a backup)
may hold it for long. So the loop's transactions begin with SQLite's busy timeout at zero; when the database is
locked the attempt fails at once, the loop serves other requests, and the unit of work is retried after a short sleep
until ``lock_wait_seconds`` have passed — then it answers ``503 BCS.5030001`` (database busy). Writes start with
``BEGIN IMMEDIATE`` so they take the lock up front rather than failing half-way. PostgreSQL has real concurrent
writers, so there the same functions run in the thread pool, and a lock wait is bounded by ``lock_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from openbcs.kernel import errors
from openbcs.kernel.rows import Rows

T = TypeVar("T")
P = ParamSpec("P")

_WRITE = "openbcs_write"
_NOWAIT = "openbcs_nowait"  # begin with SQLite's busy timeout at zero (the loop's transactions)
DEFAULT_LOCK_WAIT_SECONDS = 30.0
_RETRY_FIRST_SECONDS, _RETRY_MAX_SECONDS = 0.002, 0.05
PROBE_SECONDS = 0.1  # how fresh the health check's view of SQLite's write lock is
_SQLITE_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_PG_LOCK_STATES = {"55P03"}  # lock_not_available (lock_timeout)
_PG_ROWS_POOL = 40  # Rows' pool, none beyond: anyio's default thread limit, so each reading thread may hold one
log = logging.getLogger("openbcs.db")


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


class DatabaseBusy(Exception):
    """The database is locked by someone else right now (SQLite's busy lock, PostgreSQL's lock timeout)."""


def is_lock_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked"/"busy" and PostgreSQL's lock timeout, wrapped or not."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlite_errorcode", None) in _SQLITE_BUSY_CODES:
        return True
    return getattr(orig, "sqlstate", None) in _PG_LOCK_STATES


def _configure_sqlite(engine: Engine, lock_wait_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides how each one starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={lock_wait_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        driver = connection.connection.driver_connection
        # Straight to the driver (a few µs): the loop's transactions never wait, everyone else waits as configured.
        driver.execute(f"PRAGMA busy_timeout={0 if options.get(_NOWAIT) else lock_wait_ms}")
        driver.execute("BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")


def _configure_postgresql(engine: Engine, lock_wait_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A write waiting on a row lock gives up after the bounded wait (then 503 database busy).
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_wait_ms}")
        dbapi_connection.commit()


class WriteHealth:
    """Whether writes go through: the last unit of work that gave up on a lock, until one commits again."""

    def __init__(self) -> None:
        self.blocked_since: float | None = None
        self.longest_hold_seconds = 0.0  # the longest a write transaction of this process held the database

    def blocked(self) -> None:
        if self.blocked_since is None:
            self.blocked_since = time.monotonic()

    def committed(self, held_seconds: float) -> None:
        self.blocked_since = None
        self.longest_hold_seconds = max(self.longest_hold_seconds, held_seconds)


class Database:
    """The engine plus the unit of work: one transaction per call, committed or rolled back as a whole.

    ``lock_wait_seconds`` bounds how long a unit of work waits for a lock held by someone else before
    ``BCS.5030001`` (database busy) answers it.
    """

    def __init__(self, url: str, *, lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.lock_wait_seconds = lock_wait_seconds
        lock_wait_ms = max(0, round(lock_wait_seconds * 1000))
        self._rows_engine: Engine | None = None
        if self.is_sqlite:
            engine = create_engine(
                parsed,
                hide_parameters=True,
                connect_args={"check_same_thread": False, "timeout": lock_wait_seconds},
            )
            _configure_sqlite(engine, lock_wait_ms)
        else:
            engine = create_engine(parsed, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _configure_postgresql(engine, lock_wait_ms)
            # Rows' own pool: each transaction ends with its own commit or rollback, so the pool neither pings a
            # connection when it is taken nor rolls it back when it is given back (two round trips of four). Its
            # transactions are REPEATABLE READ: a read of several statements (an operation list, then its
            # sub-steps) sees one snapshot, as SQLite's read transactions do, not rows committed in between. No
            # overflow, and as many as reading threads: an overflow connection was closed when given back and
            # PostgreSQL started a backend for the next one (measured: 439 backends in a 10 s run, 4.6x PostgreSQL's
            # CPU per ListMembers). Connections are opened only when that many reads run at once.
            self._rows_engine = create_engine(
                parsed,
                hide_parameters=True,
                pool_pre_ping=False,
                pool_reset_on_return=None,
                pool_size=_PG_ROWS_POOL,
                max_overflow=0,
                isolation_level="REPEATABLE READ",
            )
            _configure_postgresql(self._rows_engine, lock_wait_ms)
        self.engine = engine
        self.health = WriteHealth()
        # Run inside every write transaction, after its unit of work and before it commits (the operation worker
        # finishes zero-length operations there).
        self.before_commit: list[Callable[[Session], None]] = []
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(engine.execution_options(**{_WRITE: True}), expire_on_commit=False)
        self._loop_read_sessions = sessionmaker(engine.execution_options(**{_NOWAIT: True}), expire_on_commit=False)
        self._loop_write_sessions = sessionmaker(
            engine.execution_options(**{_WRITE: True, _NOWAIT: True}), expire_on_commit=False
        )
        self._loop_connection: Any = None  # SQLite: the loop's raw connection for Rows (busy timeout zero)
        self._probed_at, self._probe_blocked = -PROBE_SECONDS, False

    # --- sessions ------------------------------------------------------------------------------------------------

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

    def _unit(self, factory: sessionmaker[Session], write: bool, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        with factory() as session:
            with session.begin():
                started = time.perf_counter()
                result = fn(session, *args, **kwargs)
                if write:
                    for hook in list(self.before_commit):
                        hook(session)
            if write:
                self.health.committed(time.perf_counter() - started)
            return result

    def run_read(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a read transaction (blocking; waits for locks)."""
        return self._blocking(lambda: self._unit(self._read_sessions, False, fn, args, kwargs))

    def run_write(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args, **kwargs)`` in one write transaction (blocking; waits for locks)."""
        return self._blocking(lambda: self._unit(self._write_sessions, True, fn, args, kwargs), True)

    async def read(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, ...)`` in a read transaction from async code (inline on SQLite, never waiting for a
        lock there; thread pool on PostgreSQL). Routes name the service function itself, so a reader can follow
        the call to its SQL."""
        if self.is_sqlite:
            return await self._on_loop(lambda: self._unit(self._loop_read_sessions, False, fn, args, kwargs), False)
        return await self._in_thread(lambda: self.run_read(fn, *args, **kwargs))

    async def write(self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, ...)`` in one write transaction from async code (inline on SQLite, never waiting for
        a lock there; thread pool on PostgreSQL)."""
        if self.is_sqlite:
            return await self._on_loop(lambda: self._unit(self._loop_write_sessions, True, fn, args, kwargs), True)
        return await self._in_thread(lambda: self.run_write(fn, *args, **kwargs))

    async def _in_thread(self, call: Callable[[], T]) -> T:
        """PostgreSQL: run ``call`` in a worker thread (anyio's default limit; measured, fewer threads did not
        lower the CPU per request: ``docs/benchmarks.md``)."""
        return await anyio.to_thread.run_sync(call)

    # --- raw rows ------------------------------------------------------------------------------------------------

    async def read_rows(self, fn: Callable[Concatenate[Rows, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(rows, ...)`` in a read transaction on the raw driver connection (hot read paths)."""
        return await self._read_rows(fn, args, kwargs, autocommit=False)

    def run_read_rows(self, fn: Callable[Concatenate[Rows, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`read_rows`, blocking (outside the event loop)."""
        return self._blocking(lambda: self._pooled_rows(fn, args, kwargs))

    async def read_rows_autocommit(
        self, fn: Callable[Concatenate[Rows, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`read_rows` for a read whose statements need not see one snapshot together (authentication's one
        statement, ListMembers' two): on PostgreSQL each statement runs on its own, one round trip instead of
        BEGIN, the statements and COMMIT; each statement still sees one snapshot. On SQLite, as :meth:`read_rows`."""
        return await self._read_rows(fn, args, kwargs, autocommit=True)

    async def _read_rows(self, fn: Callable[..., T], args: Any, kwargs: Any, *, autocommit: bool) -> T:
        if self.is_sqlite:  # inline on the loop, never waiting for a lock (the module's docstring)
            return await self._on_loop(lambda: self._sqlite_rows(fn, args, kwargs), False)
        return await self._in_thread(
            lambda: self._blocking(lambda: self._pooled_rows(fn, args, kwargs, autocommit=autocommit))
        )

    def _loop_driver(self) -> Any:
        """SQLite: the raw connection the event loop's Rows transactions use (busy timeout zero: never waits)."""
        if self._loop_connection is None:
            self._loop_connection = self.engine.raw_connection()
            self._loop_connection.driver_connection.execute("PRAGMA busy_timeout=0")
        return self._loop_connection.driver_connection

    def _sqlite_rows(self, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        connection = self._loop_driver()
        connection.execute("BEGIN")
        try:
            result = fn(Rows(connection, self.engine.dialect), *args, **kwargs)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    def _pooled_rows(
        self, fn: Callable[..., T], args: Any, kwargs: Any, *, retry: bool = True, autocommit: bool = False
    ) -> T:
        engine = self._rows_engine or self.engine
        raw = engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            if self.is_sqlite:
                driver.execute(f"PRAGMA busy_timeout={round(self.lock_wait_seconds * 1000)}")
                driver.execute("BEGIN")
            elif autocommit:
                driver.autocommit = True  # given back to the pool as it was taken (below)
            try:
                result = fn(Rows(driver, engine.dialect), *args, **kwargs)
            except BaseException:
                if not getattr(driver, "broken", False):
                    driver.execute("ROLLBACK") if self.is_sqlite else driver.rollback()
                    raise
                # A connection the server dropped (Rows' pool does not ping): never pooled again, and this read
                # (reads only come here) is run once more on a fresh one.
                raw.invalidate()
                if not retry:
                    raise
                log.warning("a pooled database connection was closed by the server: reading again")
                return self._pooled_rows(fn, args, kwargs, retry=False, autocommit=autocommit)
            if self.is_sqlite:
                driver.execute("COMMIT")
            elif not autocommit:
                driver.commit()
            return result
        finally:
            if autocommit and not self.is_sqlite and not driver.closed:
                driver.autocommit = False
            raw.close()

    # --- waiting for locks -----------------------------------------------------------------------------------

    def _busy(self, write: bool) -> errors.BCSError:
        if write:
            self.health.blocked()
        return errors.BCSError(errors.DATABASE_BUSY)

    def _blocking(self, attempt: Callable[[], T], write: bool = False) -> T:
        """Run ``attempt`` (PostgreSQL and SQLite both wait inside the driver, up to the bounded wait)."""
        try:
            return attempt()
        except Exception as exc:
            if is_lock_error(exc):
                raise self._busy(write) from exc
            raise

    async def _on_loop(self, attempt: Callable[[], T], write: bool) -> T:
        """Run ``attempt`` inline; while the database is locked, sleep (serving others) and try again, up to the
        bounded wait. An attempt that met the lock was rolled back as a whole, so running it again is safe."""
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = _RETRY_FIRST_SECONDS
        while True:
            try:
                return attempt()
            except Exception as exc:
                if not is_lock_error(exc):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("the database stayed locked for %.1f s: answering busy", self.lock_wait_seconds)
                    raise self._busy(write) from exc
                if write:
                    self.health.blocked()
            # The last sleep ends at the deadline, for one more attempt then: the wait is the whole bound.
            await asyncio.sleep(min(remaining, delay * (0.5 + random.random())))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, _RETRY_MAX_SECONDS)

    def writes_blocked(self) -> bool:
        """True while writes cannot go through: on SQLite someone else holds the write lock (probed at most every
        :data:`PROBE_SECONDS`, without waiting); on either database, the last unit of work gave up on a lock and
        none has committed since."""
        if not self.is_sqlite:
            return self.health.blocked_since is not None
        now = time.monotonic()
        if now - self._probed_at >= PROBE_SECONDS:
            self._probed_at, self._probe_blocked = now, False
            driver = self._loop_driver()
            try:
                driver.execute("BEGIN IMMEDIATE")
            except Exception as exc:
                if not is_lock_error(exc):
                    raise
                self._probe_blocked = True
            else:
                driver.execute("ROLLBACK")
                self.health.blocked_since = None
        return self._probe_blocked

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        if self._rows_engine is not None:
            self._rows_engine.dispose()
        self.engine.dispose()
