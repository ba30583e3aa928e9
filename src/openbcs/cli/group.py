"""The root ``openbcs`` group, :class:`Commands`: it imports a command's module only when that command is run or
listed (``--help``), so ``openbcs --version`` or ``openbcs serve`` does not pay for SQLAlchemy's ORM, the seed loader
or the Fabric code that other commands need (issue 22: ``--version`` in under 0.2 s). It also gives every command a
``--config`` option (before or after the command's name) and shows boolean flags as flags in ``--help``.

Start-up runs without the cyclic garbage collector (:func:`openbcs.cli.main` turns it off, :func:`start_up_done`
back on): importing the modules and building the app makes ~200,000 objects that live as long as the process, and
collecting while they are made cost ~15 % of ``serve``'s start (docs/benchmarks.md, start-up).

This module imports Typer and nothing else of OpenBCS: it is loaded by every run of the command.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

# The same name as openbcs.kernel.config_file.CONFIG_ENV (a test checks): importing that module here would load
# pydantic-settings on every run, --version included.
CONFIG_ENV = "OPENBCS_CONFIG"

# The settings file named by --config on the command line (set by its option below); None: not given.
CONFIG_GIVEN: ContextVar[Path | None] = ContextVar("openbcs_config_given", default=None)


def _given_to_group(value: Path | None) -> Path | None:
    CONFIG_GIVEN.set(value)  # every run passes here first: None clears a value left by an earlier run in this process
    return value


def _given_to_command(value: Path | None) -> Path | None:
    if value is not None:  # a command's own --config wins over the group's
        CONFIG_GIVEN.set(value)
    return value


def _config_option(remember: Callable[[Path | None], Path | None]) -> Any:
    """The ``--config`` option, made by Typer itself from a one-option probe command (so it renders like the
    others), and not passed to the commands' functions."""
    probe = typer.Typer()

    @probe.command()
    def _probe(  # the option is the default, not in Annotated[...]: annotations are strings read at module level
        config: Path | None = typer.Option(
            None,
            "--config",
            help="Settings file (TOML; default ./openbcs.toml if present). Flags and environment win over it.",
            envvar=CONFIG_ENV,
            show_envvar=True,
            callback=remember,
            is_eager=True,
        ),
    ) -> None: ...

    option = next(p for p in typer.main.get_command(probe).params if p.name == "config")
    option.expose_value = False
    return option


def _flag_shown_as_flag(command: Any) -> None:
    """Show boolean flags as ``--version``, not ``--version <bool>``: Typer's rich help prints an option's type unless
    it has a metavar, even for a flag (which takes no value). ``--help`` is made on demand, then kept."""
    params = list(command.params)
    help_option = command.get_help_option(command.context_class(command))
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def start_up_done() -> None:
    """End the start-up begun by :func:`openbcs.cli.main`: what was built so far (modules, classes, the app) is moved
    out of the collector's generations (``gc.freeze``: later full collections need not walk it again), and the
    collector is turned back on. The few cycles start-up left as garbage stay (a ``gc.collect()`` here would cost
    what was saved). Nothing happens when the collector is on (the CLI run in process, by the tests)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _nothing() -> None:
    """The callback of the holder app in :func:`load`: it makes Typer build a group, whatever the target is."""


def load(name: str, target: str) -> Any:
    """The click command ``name`` from ``target`` (``module:attribute``, a ``typer.Typer`` group or a command
    function), built by Typer exactly as ``app.add_typer(group, name=name)`` or ``app.command(name)(function)`` on
    the root app would build it."""
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    holder.callback()(_nothing)
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name)(found)
    return typer.main.get_group(holder).commands[name]


class LazyCommands(MutableMapping[str, Any]):
    """A group's ``commands``: every name in ``table`` is listed, and its command is loaded (:func:`load`, then
    ``prepare``) the first time it is looked up. Click, Typer's help and suggestions all go through this mapping."""

    def __init__(self, table: Mapping[str, str], prepare: Callable[[Any], None]) -> None:
        self._table = dict(table)
        self._prepare = prepare
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._table:
                raise KeyError(name)
            command = load(name, self._table[name])
            self._prepare(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._table and name not in self._loaded:
            raise KeyError(name)
        self._table.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._table, *self._loaded]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._table, *self._loaded]))

    def __contains__(self, name: object) -> bool:
        return name in self._table or name in self._loaded


class Commands(TyperGroup):
    """The ``openbcs`` group: its commands are those of :attr:`lazy` (name: ``module:attribute``, in ``--help``'s
    order), each loaded when first looked up; adds ``--config`` to itself and to every command below it, and shows
    flags as flags."""

    lazy: Mapping[str, str] = {}
    # The commands that call start_up_done() themselves, later (serve: once its app is built); every other command
    # ends the start-up when it is resolved, before it runs.
    own_start_up: frozenset[str] = frozenset()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.params.append(_config_option(_given_to_group))
        _flag_shown_as_flag(self)
        self._command_config = _config_option(_given_to_command)
        eager = dict(self.commands)
        self.commands = LazyCommands(self.lazy, self._prepare)
        for name, command in eager.items():
            self._prepare(command)
            self.commands[name] = command

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in self.own_start_up:
            start_up_done()
        return name, command, rest

    def _prepare(self, command: Any) -> None:
        """Give ``command`` and every command below it ``--config`` and flags shown as flags."""
        pending: list[Any] = [command]
        while pending:
            current = pending.pop()
            pending.extend(getattr(current, "commands", {}).values())
            if not any("--config" in p.opts for p in current.params):
                current.params.append(self._command_config)
            _flag_shown_as_flag(current)
