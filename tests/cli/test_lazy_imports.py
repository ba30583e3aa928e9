"""The ``openbcs`` command imports only what the command run needs (issue 22, start-up): ``--version`` loads neither
SQLAlchemy's ORM nor FastAPI, a command loads its own module and no other command's, the collector is on again once
the command runs; and every command is still listed and loads (the commands are found by name, :mod:`openbcs.cli`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from openbcs import __version__
from openbcs.cli import _Openbcs, app
from openbcs.cli.group import CONFIG_ENV
from openbcs.kernel import config_file, errors

# Imported or not after `openbcs ARGS` (reported by run_probe).
WATCHED = [
    "sqlalchemy",
    "sqlalchemy.orm",
    "fastapi",
    "pydantic_settings",
    "openbcs.app",
    "openbcs.cli.common",
    "openbcs.cli.serve",
    "openbcs.cli.accounts",
    "openbcs.cli.database",
    "openbcs.cli.governance",
]


def run_probe(tmp_path: Path, *args: str) -> tuple[str, dict[str, object]]:
    """``openbcs ARGS`` in a new interpreter: (its standard output before the report, the report)."""
    code = (
        "import gc, json, sys\n"
        "from openbcs.cli import main\n"
        "sys.argv = ['openbcs', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    status = exc.code or 0\n"
        "else:\n"
        "    status = 0\n"
        f"watched = {WATCHED!r}\n"
        "print(json.dumps({'status': status, 'imported': [m for m in watched if m in sys.modules],"
        " 'gc_enabled': gc.isenabled()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # no openbcs.toml from the working directory
        env=env,
    )
    assert done.returncode == 0, done.stderr
    output, _, report = done.stdout.rstrip("\n").rpartition("\n")
    return output, json.loads(report)


def test_version_imports_neither_the_orm_nor_fastapi(tmp_path: Path) -> None:
    output, report = run_probe(tmp_path, "--version")
    assert output == f"openbcs {__version__}"
    assert report["status"] == 0
    assert report["imported"] == []  # no SQLAlchemy, FastAPI, settings or command module at all


def test_a_command_loads_its_own_module_only_and_collects_again(tmp_path: Path) -> None:
    output, report = run_probe(tmp_path, "errors", "--json")
    assert {entry["error_code"] for entry in json.loads(output)} == set(errors.CATALOG)  # the command's real answer
    assert report["status"] == 0
    imported = report["imported"]
    assert isinstance(imported, list)
    assert "openbcs.cli.database" in imported  # the command's module
    assert not {"openbcs.cli.serve", "openbcs.cli.accounts", "openbcs.cli.governance", "openbcs.app"} & set(imported)
    assert report["gc_enabled"] is True  # start-up over: the collector runs again while the command works


def test_every_command_is_listed_and_loads() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    for name in _Openbcs.lazy:
        assert f" {name} " in listed.stdout, name
        shown = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (name, shown.output)
        assert "--config" in shown.stdout, name  # the group's option reaches every loaded command


def test_unknown_command_is_still_suggested_from_every_name() -> None:
    result = CliRunner().invoke(app, ["serv"])
    assert result.exit_code == 2
    assert "No such command 'serv'" in result.output
    assert "'serve'" in result.output


def test_config_env_is_the_settings_file_variable() -> None:
    assert CONFIG_ENV == config_file.CONFIG_ENV
