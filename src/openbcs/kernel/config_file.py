"""The settings file, ``openbcs.toml``: every setting of :class:`~openbcs.kernel.settings.Settings` under its own
name (``port = 8443``), read with :mod:`tomllib` and remembered with the line of each key, so that an unknown key or
a bad value is refused as ``FILE:LINE: ...``.

Precedence is flag > environment > file > default: the file is a pydantic-settings source placed after the
environment (:class:`FileSettingsSource`). It is only consulted while :func:`applied` is active — the CLI turns it on
around building its settings (``cli.common.make_settings``) — so ``Settings()`` anywhere else (the app, the tests)
never reads a file from the working directory.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

CONFIG_ENV = "OPENBCS_CONFIG"
DEFAULT_FILE = Path("openbcs.toml")
_KEY_LINE = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[.=]""")
_TABLE_LINE = re.compile(r"""^\s*\[+\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))""")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


class ConfigFileError(Exception):
    """A settings file that cannot be used: one line starting ``FILE:LINE:`` (or ``FILE:``)."""


@dataclass(frozen=True)
class ConfigFile:
    """A parsed settings file: its values by setting name and the line each was given on."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """``FILE:LINE`` of ``key``."""
        return f"{self.path}:{self.lines.get(key, 1)}"


def locate(given: Path | None, *, environ: Mapping[str, str] | None = None) -> Path | None:
    """The settings file to read: ``given`` (``--config``), else ``$OPENBCS_CONFIG``, else ``./openbcs.toml`` if it
    exists, else none."""
    if given is not None:
        return given
    from_env = (os.environ if environ is None else environ).get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def key_lines(text: str) -> dict[str, int]:
    """The line (1-based) on which each top-level key or table first appears."""
    lines: dict[str, int] = {}
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        table = _TABLE_LINE.match(line)
        if table:
            in_table = True
            lines.setdefault(next(g for g in table.groups() if g is not None), number)
            continue
        key = _KEY_LINE.match(line)
        if key and not in_table:
            lines.setdefault(next(g for g in key.groups() if g is not None), number)
    return lines


def load(path: Path, known: Iterable[str]) -> ConfigFile:
    """Read and check the settings file at ``path``: TOML, and only keys that are settings (values are checked with
    the others when the settings are built; :func:`applied` gives them to that).

    :raises ConfigFileError: unreadable, not TOML, an unknown key or a table (naming the key and its line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigFileError(f"--config {path}: cannot read it: {cause}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = _TOML_POSITION.search(str(exc))
        message = _TOML_POSITION.sub("", str(exc)).strip()
        raise ConfigFileError(f"{path}:{position.group(1) if position else 1}: not valid TOML: {message}") from exc
    lines = key_lines(text)
    names = sorted(known)
    for key, value in data.items():
        where = f"{path}:{lines.get(key, 1)}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigFileError(f"{where}: unknown setting '{key}'{hint}; 'openbcs config show' lists them")
        if isinstance(value, dict):
            raise ConfigFileError(f"{where}: {key}: a setting takes one value, not a table")
    return ConfigFile(path, dict(data), {key: lines.get(key, 1) for key in data})


_active: ContextVar[ConfigFile | None] = ContextVar("openbcs_config_file", default=None)


@contextmanager
def applied(config: ConfigFile | None) -> Iterator[None]:
    """While active, :class:`Settings` built in this context take the values of ``config`` (below the
    environment)."""
    token = _active.set(config)
    try:
        yield
    finally:
        _active.reset(token)


class FileSettingsSource(PydanticBaseSettingsSource):
    """The values of the settings file made active by :func:`applied` (none otherwise)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.file = _active.get()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Field by field lookup, as the base class requires (``__call__`` answers for all of them at once)."""
        values = self.file.values if self.file else {}
        return values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.file.values) if self.file else {}
