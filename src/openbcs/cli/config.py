"""``openbcs config``: the effective settings and where each comes from; and ``--config FILE`` on every command.

Every command builds its settings with :func:`~openbcs.cli.common.make_settings`, which reads the settings file
(:mod:`openbcs.kernel.config_file`). The root command group (:class:`openbcs.cli.group.Commands`) gives every command
a ``--config`` option (before or after the command's name).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from openbcs.cli.common import (
    AsJson,
    DatabaseUrl,
    DataDir,
    fail,
    from_environment,
    make_settings,
    settings_file,
)
from openbcs.kernel.settings import Settings

config_app = typer.Typer(
    help="The settings file (openbcs.toml) and the effective settings (docs/configuration.md).", no_args_is_help=True
)

SECRETS = ("secret_key", "admin_token")
_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
MASK = "********"


def _masked_url(url: str | None) -> str | None:
    if url is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL; not shown)"


def effective(settings: Settings, flags: set[str]) -> dict[str, dict[str, Any]]:
    """Each setting's value (secrets masked) and source: ``flag``, ``env``, ``file`` (with ``where``, FILE:LINE) or
    ``default``."""
    config = settings_file()
    values = settings.model_dump(mode="json")
    shown: dict[str, dict[str, Any]] = {}
    for name in Settings.model_fields:
        value = values[name]
        if name in SECRETS and value is not None:
            value = MASK
        elif name == "database_url":
            value = _masked_url(value)
        elif isinstance(value, str):  # e.g. a prometheus_url with a password in it
            value = _USERINFO_PASSWORD.sub(r"\1***@", value)
        entry: dict[str, Any] = {"value": value}
        if name in flags:
            entry["source"] = "flag"
        elif from_environment(name):
            entry["source"] = "env"
        elif config and name in config.values:
            entry.update(source="file", where=config.where(name))
        else:
            entry["source"] = "default"
        shown[name] = entry
    return shown


@config_app.command("show")
def config_show(
    ctx: typer.Context, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Print every setting's effective value and its source (flag, env, file, default); secrets masked."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    flags = {
        name
        for name in ("data_dir", "database_url")
        if (source := ctx.get_parameter_source(name)) is not None and source.name == "COMMANDLINE"
    }
    shown = effective(settings, flags)
    config = settings_file()
    if as_json:
        typer.echo(json.dumps({"config_file": str(config.path) if config else None, "settings": shown}))
        return
    typer.echo(f"# settings file: {config.path if config else 'none'}")
    width = max(len(name) for name in shown)
    for name, entry in shown.items():
        source = entry.get("where", entry["source"])
        value = "(none)" if entry["value"] is None else json.dumps(entry["value"])
        typer.echo(f"{name.ljust(width)} = {value}  # {source}")


TABLE_BEGIN = "<!-- begin: the output of `openbcs config reference` -->\n"
TABLE_END = "<!-- end -->\n"


@config_app.command("reference", hidden=True)
def config_reference(
    update: Annotated[
        Path | None,
        typer.Option("--update", help="Replace the table between the markers of this file (docs/configuration.md)."),
    ] = None,
) -> None:
    """Print the table of settings kept in docs/configuration.md (or update it there)."""
    table = reference_table()
    if update is None:
        typer.echo(table, nl=False)
        return
    text = update.read_text()
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if start < 0 or end < start:
        fail(f"{update}: no table markers ({TABLE_BEGIN.strip()} ... {TABLE_END.strip()})")
    update.write_text(text[: start + len(TABLE_BEGIN)] + table + text[end:])


# What the settings without a flag do (the others are described by their flag's help).
UNFLAGGED_HELP = {
    "worker_poll_seconds": "How often the operation worker looks for work, in seconds.",
    "secret_key": "The server key (base64 of 32 bytes); default: DATA_DIR/server.key, made on first start.",
    "metrics_queries_file": "PromQL queries per metric for --metrics-source prometheus (docs/monitoring.md).",
    "event_retention_days": "Keep events and cleared alarms this many days.",
    "operation_records_kept": "Keep at most this many finished operations per project.",
    "console_enabled": "Serve the web console at /console.",
    "enable_test_kinds": "Register the engine's diagnostic operation kind (the engine's tests only).",
}


def _flags_by_setting() -> dict[str, tuple[list[str], str]]:
    """The flags that set each setting over every command (a flag's environment variable names its setting), with
    the help of the first one found."""
    from openbcs.cli import app

    found: dict[str, tuple[list[str], str]] = {}
    pending: list[Any] = [typer.main.get_command(app)]
    while pending:
        command = pending.pop(0)
        pending.extend(getattr(command, "commands", {}).values())
        for param in command.params:
            envvar = param.envvar if isinstance(param.envvar, str) else None
            if envvar and envvar.startswith("OPENBCS_") and param.opts:
                flags, _ = found.setdefault(envvar.removeprefix("OPENBCS_").lower(), ([], param.help or ""))
                flags.extend(opt for opt in param.opts if opt.startswith("--") and opt not in flags)
    return found


def reference_table() -> str:
    """Markdown: every setting with its TOML key, flag, environment variable, default and what it does."""
    flags = _flags_by_setting()
    rows = [
        "| key (openbcs.toml) | flag | environment | default | what |",
        "|---|---|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        default = "none" if info.default is None else json.dumps(_jsonable(info.default))
        given, text = flags.get(name, ([], UNFLAGGED_HELP.get(name, "")))
        flag = ", ".join(f"`{f}`" for f in given) or "—"
        what = " ".join(text.split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {flag} | `OPENBCS_{name.upper()}` | `{default}` | {what} |")
    return "\n".join(rows) + "\n"


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, os.PathLike) else value
