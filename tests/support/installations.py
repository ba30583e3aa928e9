"""Whole OpenBCS installations for the backup, restore and upgrade tests: a data directory with a database of the
suite's kind (a SQLite file in it, or a PostgreSQL database created for the test), and the ``openbcs`` command."""

from __future__ import annotations

import dataclasses
import json
import secrets
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from openbcs.admin import backup as backups
from openbcs.cli import app
from openbcs.kernel.db import Base, Database
from tests.support.snapshots import snapshot

EVERY_TABLE = tuple(Base.metadata.tables)


def cli(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    """``openbcs ARGS`` in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def refused(result: Result) -> str:
    """A refusal: exit 1, nothing on stdout, one line on stderr; that line."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


@dataclasses.dataclass
class Place:
    """An OpenBCS installation: its data directory and database URL (None: the data directory's SQLite file)."""

    data_dir: Path
    url: str | None

    @property
    def args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), *(["--database-url", self.url] if self.url else [])]

    @property
    def resolved(self) -> str:
        return self.url or f"sqlite:///{self.data_dir / 'openbcs.db'}"

    def rows(self, tables: tuple[str, ...] = EVERY_TABLE) -> dict[str, list[tuple[Any, ...]]]:
        db = Database(self.resolved)
        try:
            return snapshot(db, tables)
        finally:
            db.dispose()

    def relations(self) -> int:
        """Tables in the target: 0 for a new one (a SQLite file that does not exist is not created)."""
        if self.url is None and not (self.data_dir / "openbcs.db").exists():
            return 0
        db = Database(self.resolved)
        try:
            return len(sa.inspect(db.engine).get_table_names())
        finally:
            db.dispose()


def places(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Place]]:
    """For a fixture ``new_place``: ``new_place(name)`` makes an empty installation of the suite's database kind, a
    new data directory and, on PostgreSQL, a database created for the test (dropped afterwards)."""
    created: list[tuple[str, str]] = []
    is_sqlite = make_url(database_url).get_backend_name() == "sqlite"

    def make(name: str) -> Place:
        data_dir = tmp_path / name
        if is_sqlite:
            return Place(data_dir, None)
        database = f"restore_{name.replace('-', '_')}_{secrets.token_hex(3)}"
        admin = _create_database(database_url, database)
        created.append((admin, database))
        return Place(data_dir, make_url(database_url).set(database=database).render_as_string(hide_password=False))

    yield make
    for admin, database in created:
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


def _create_database(database_url: str, name: str) -> str:
    """Create database ``name`` owned by the suite's user, as that user or else as ``postgres`` (scripts/pg-throwaway
    trusts it); the URL that did it."""
    url = make_url(database_url)
    for admin in (url, url.set(username="postgres", password=None)):
        engine = sa.create_engine(admin.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}" OWNER "{url.username}"'))
            return admin.set(database="postgres").render_as_string(hide_password=False)
        except sa.exc.SQLAlchemyError:
            continue
        finally:
            engine.dispose()
    pytest.skip(f"neither {url.username} nor postgres may create a database on {url.host}:{url.port}")


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:gz") as tar:
        handle = tar.extractfile(backups.MANIFEST)
        assert handle is not None
        return dict(json.load(handle))
