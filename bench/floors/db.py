"""The floor's database access, used the way OpenBCS uses each database: SQLite through one connection on the event
loop (WAL, ``synchronous=NORMAL``, reads in a deferred transaction, writes in ``BEGIN IMMEDIATE``); PostgreSQL through
raw psycopg connections from a small pool, in the thread pool. Statements are written with ``?`` placeholders."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio.to_thread

R = TypeVar("R")


def loads(value: Any) -> Any:
    """A JSON column's value: SQLite returns the text, psycopg the decoded value."""
    return json.loads(value) if isinstance(value, str) else value


class Query:
    """Runs statements on one connection inside the caller's transaction."""

    def __init__(self, connection: Any, *, pg: bool) -> None:
        self.connection, self.pg = connection, pg

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.connection.execute(self._sql(sql), params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(self._sql(sql), params).fetchone()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.execute(self._sql(sql), params)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.pg:
            with self.connection.cursor() as cursor:
                cursor.executemany(self._sql(sql), rows)
        else:
            self.connection.executemany(sql, rows)


class SqliteDatabase:
    """One connection, used inline on the event loop: SQLite has one writer, so threads would only contend."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.query = Query(self.connection, pg=False)

    def _run(self, begin: str, fn: Callable[[Query], R]) -> R:
        self.connection.execute(begin)
        try:
            result = fn(self.query)
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")
        return result

    async def read(self, fn: Callable[[Query], R]) -> R:
        return self._run("BEGIN", fn)

    async def write(self, fn: Callable[[Query], R]) -> R:
        return self._run("BEGIN IMMEDIATE", fn)


class PostgresDatabase:
    """Raw psycopg connections (opened on demand, at most ``size``), each call in the thread pool."""

    def __init__(self, url: str, size: int = 10) -> None:
        self.url, self.pool, self.size, self.opened = url, queue.LifoQueue[Any](), size, 0
        self.lock = threading.Lock()

    def _connection(self) -> Any:
        import psycopg

        try:
            return self.pool.get_nowait()
        except queue.Empty:
            with self.lock:
                full = self.opened >= self.size
                self.opened += 0 if full else 1
            return self.pool.get() if full else psycopg.connect(self.url)

    def _run(self, fn: Callable[[Query], R]) -> R:
        connection = self._connection()
        try:
            with connection.transaction():
                return fn(Query(connection, pg=True))
        finally:
            self.pool.put(connection)

    async def read(self, fn: Callable[[Query], R]) -> R:
        return await anyio.to_thread.run_sync(self._run, fn)

    async def write(self, fn: Callable[[Query], R]) -> R:
        return await anyio.to_thread.run_sync(self._run, fn)


def connect(database: str) -> SqliteDatabase | PostgresDatabase:
    """A PostgreSQL URL (``postgresql://...``) or the path of a SQLite file."""
    if database.startswith("postgresql://"):
        return PostgresDatabase(database)
    return SqliteDatabase(database)
