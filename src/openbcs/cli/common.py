"""What every ``openbcs`` command shares: the database options, opening the database, printing and failing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import typer

from openbcs import migrations
from openbcs.cli.group import CONFIG_GIVEN
from openbcs.kernel import config_file, errors
from openbcs.kernel.config_file import ConfigFile
from openbcs.kernel.db import Database
from openbcs.kernel.files import create_private_database, sqlite_path
from openbcs.kernel.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

P = ParamSpec("P")
T = TypeVar("T")


def setting_default(name: str) -> str:
    """The default of setting ``name`` as ``--help`` shows it."""
    default = Settings.model_fields[name].default
    return "none" if default is None else str(default)


def setting_option(name: str, help_text: str, *, flag: str | None = None) -> Any:
    """A ``typer.Option`` for setting ``name``: its environment variable and its default are shown by ``--help``.

    The option's own default stays None so that :class:`Settings` decides (flag, else environment, else default)."""
    return typer.Option(
        flag or f"--{name.replace('_', '-')}",
        help=help_text,
        envvar=f"OPENBCS_{name.upper()}",
        show_envvar=True,
        show_default=setting_default(name),
    )


DataDir = Annotated[
    Path | None, setting_option("data_dir", "Data directory (the SQLite file openbcs.db, the server key).")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db.",
        envvar="OPENBCS_DATABASE_URL",
        show_envvar=True,
        show_default="SQLite file openbcs.db in --data-dir",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (one document) instead of text.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def settings_file() -> ConfigFile | None:
    """The settings file of this command (``--config``, ``$OPENBCS_CONFIG`` or ``./openbcs.toml``), checked; a file
    that cannot be used ends the command with one line naming the file, the line and the key (exit 2)."""
    path = config_file.locate(CONFIG_GIVEN.get())
    if path is None:
        return None
    try:
        return config_file.load(path, Settings.model_fields)
    except config_file.ConfigFileError as exc:
        fail(str(exc), code=2)


def from_environment(name: str) -> bool:
    """Whether the environment sets setting ``name`` (``OPENBCS_<NAME>``, any case, as pydantic-settings reads)."""
    wanted = f"OPENBCS_{name}".upper()
    return any(key.upper() == wanted for key in os.environ)


def make_settings(**overrides: Any) -> Settings:
    """Settings from the flags given, else the environment, else the settings file, else the defaults; a value no
    setting takes ends the command with one line per problem naming the flag and its environment variable, or the
    file, line and key it came from (exit 2), never a traceback."""
    from pydantic import ValidationError

    flags = {k: v for k, v in overrides.items() if v is not None}
    config = settings_file()
    try:
        with config_file.applied(config):
            return Settings(**flags)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            if config and name in config.values and name not in flags and not from_environment(name):
                problems.append(f"{config.where(name)}: {name}: {message}")
            else:
                problems.append(f"--{name.replace('_', '-')} (OPENBCS_{name.upper()}): {message}")
        fail("; ".join(problems), code=2)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def emit(data: Any, as_json: bool, text: str) -> None:
    """Print ``data`` as one line of JSON, or ``text``."""
    typer.echo(json.dumps(data) if as_json else text)


def describe(settings: Settings) -> str:
    """The database of ``settings`` as a person recognises it (the path of a SQLite file, a URL without password)."""
    from sqlalchemy.engine import make_url

    path = sqlite_path(settings.resolved_database_url)
    if path is not None:
        return str(path)
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


@contextmanager
def open_database(settings: Settings, *, create: bool = False) -> Iterator[Database]:
    """The migrated database of ``settings``, closed when the command is done.

    Without ``create`` a database that does not exist yet (no SQLite file, or a PostgreSQL database OpenBCS never
    migrated) is refused, naming the database: a command run from the wrong folder must not quietly start an empty
    one. ``serve`` and ``db upgrade`` create it."""
    path = sqlite_path(settings.resolved_database_url)
    if not create and path is not None and not path.exists():
        fail(
            f"no OpenBCS database at {path} (from --data-dir {settings.data_dir}); pass the --data-dir or "
            "--database-url of your server, or create one with 'openbcs db upgrade'"
        )
    if create:
        create_private_database(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        if not create and path is None and migrations.current_revision(db) is None:
            fail(
                f"the database {describe(settings)} has no OpenBCS schema; pass the --database-url of your server, "
                "or create the schema with 'openbcs db upgrade'"
            )
        migrations.upgrade(db)
        yield db
    finally:
        db.dispose()


def read_or_fail(
    settings: Settings, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(session, *args, **kwargs)`` in one read transaction on the database of ``settings``; a refusal
    (:class:`~openbcs.kernel.errors.BCSError`: no such account, no such resource) ends the command with its message
    (exit 1), as the API would have answered it."""
    with open_database(settings) as db:
        try:
            return db.run_read(fn, *args, **kwargs)
        except errors.BCSError as exc:
            fail(exc.message)
