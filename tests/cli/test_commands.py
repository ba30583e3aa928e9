"""The ``openbcs`` command's surface: ``--version``, ``python -m openbcs``, help with defaults and environment
variables, the flags the README promises, a header on ``account list``, no silent new database, reset, state."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from openbcs import __version__, migrations
from openbcs.cli import app
from openbcs.kernel.db import Database
from tests.iam.helpers import run_cli
from tests.support.accounts import TestAccount
from tests.support.snapshots import snapshot

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def cli(database_url: str, tmp_path: Path, db: Database) -> Callable[..., Result]:
    """``openbcs ARGS --database-url URL --data-dir DIR`` in-process, on the test database."""

    def run(*args: str) -> Result:
        return run_cli(database_url, tmp_path / "cli-data", *args)

    return run


def test_version_and_python_m() -> None:
    assert CliRunner().invoke(app, ["--version"]).stdout == f"openbcs {__version__}\n"
    result = subprocess.run(
        [sys.executable, "-m", "openbcs", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == f"openbcs {__version__}\n"


def test_serve_help_shows_defaults_and_environment_variables() -> None:
    text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).stdout
    for flag, env, default in (
        ("--port", "OPENBCS_PORT", "8080"),
        ("--host", "OPENBCS_HOST", "127.0.0.1"),
        ("--data-dir", "OPENBCS_DATA_DIR", "openbcs-data"),
        ("--operation-step-seconds", "OPENBCS_OPERATION_STEP_SECONDS", "0.5"),
        ("--admin-token", "OPENBCS_ADMIN_TOKEN", "none"),
    ):
        line = next(line for line in text.splitlines() if flag in line)
        block = text[text.index(line) : text.index(line) + 400]
        assert env in block, (flag, block)
        assert f"default: ({default})" in block, (flag, block)


def _commands_in_readme() -> list[list[str]]:
    table = README.read_text().split("## Operators' CLI")[1].split("## Settings")[0]
    found = []
    for cell in re.findall(r"^\| `openbcs ([a-z ]+?)(?: [A-Z\[\-]|`)", table, re.M):
        found.append(cell.split())
    return found


def test_every_command_takes_the_flags_the_readme_promises() -> None:
    commands = _commands_in_readme()
    assert ["serve"] in commands
    assert ["account", "list"] in commands
    assert ["errors"] in commands
    extra = {("channel", "verify"): [["channel", "fetch"]], ("key", "create"): [["key", "delete"]],
             ("quota", "set"): [["quota", "show"]], ("state", "export"): [["state", "import"]],
             ("docs", "openapi"): [["docs", "markdown"]]}  # fmt: skip
    for command in list(commands):
        commands += extra.get(tuple(command), [])
    for command in commands:
        text = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
        uses_database = command[0] not in ("errors", "docs")
        assert ("--data-dir" in text and "--database-url" in text) == uses_database, command
        assert ("--json" in text) == (command not in (["serve"], ["state", "export"], ["docs", "openapi"],
                                                      ["docs", "markdown"])), command  # fmt: skip


def test_errors_and_db_upgrade_as_json(cli: Callable[..., Result]) -> None:
    codes = json.loads(CliRunner().invoke(app, ["errors", "--json"]).stdout)
    assert {"error_code": "BCS.4010401", "status": 401, "error_msg": "Incorrect token or token resolution failed",
            "when": codes[[c["error_code"] for c in codes].index("BCS.4010401")]["when"]} in codes  # fmt: skip
    upgraded = cli("db", "upgrade", "--json")
    assert upgraded.exit_code == 0, upgraded.output
    assert json.loads(upgraded.stdout)["revision"] == migrations.HEAD


def test_commands_refuse_to_start_an_empty_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-a-server"
    for args in (["account", "list"], ["quota", "show", "x"], ["reset", "--yes"], ["channel", "verify"]):
        result = CliRunner().invoke(app, [*args, "--data-dir", str(elsewhere)])
        assert result.exit_code == 1, args
        assert result.stdout == ""
        database = (elsewhere / "openbcs.db").resolve()
        assert f"error: no OpenBCS database at {database} (from --data-dir {elsewhere})" in result.stderr
    assert not elsewhere.exists()
    created = CliRunner().invoke(app, ["db", "upgrade", "--data-dir", str(elsewhere)])
    assert created.exit_code == 0, created.output
    assert oct((elsewhere / "openbcs.db").stat().st_mode & 0o777) == "0o600"
    listed = CliRunner().invoke(app, ["account", "list", "--data-dir", str(elsewhere)])
    assert (listed.exit_code, listed.stdout) == (0, "no accounts\n")


def test_an_unmigrated_postgresql_database_is_refused_too(empty_database: Database) -> None:
    result = CliRunner().invoke(app, ["account", "list", "--database-url", empty_database.url])
    assert result.exit_code == 1
    if empty_database.is_sqlite:
        assert "no OpenBCS database at" in result.stderr
    else:
        assert "has no OpenBCS schema; pass the --database-url of your server" in result.stderr


def test_account_list_has_a_header_and_access_key_ids(
    cli: Callable[..., Result], make_account: Callable[..., TestAccount]
) -> None:
    first, second = make_account("acme-corp"), make_account("beta-corp")
    lines = cli("account", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DOMAIN_ID", "PROJECT_ID", "USER_ID", "ACCESS_KEYS"]
    assert lines[1].split() == ["acme-corp", first.domain_id, first.project_id, first.created.user_id, first.ak]
    assert lines[2].split() == ["beta-corp", second.domain_id, second.project_id, second.created.user_id, second.ak]
    assert first.sk not in "\n".join(lines)


def test_reset_asks_unless_yes(
    cli: Callable[..., Result], db: Database, make_account: Callable[..., TestAccount]
) -> None:
    make_account("acme-corp")
    before = snapshot(db)
    declined = CliRunner().invoke(app, ["reset", "--database-url", db.url], input="n\n")
    assert declined.exit_code == 1
    assert "Delete everything in" in declined.stderr
    assert "error: nothing deleted" in declined.stderr
    assert snapshot(db) == before
    done = cli("reset", "--yes", "--json")
    assert done.exit_code == 0, done.output
    deleted = json.loads(done.stdout)["deleted"]
    assert (deleted["iam_accounts"], deleted["iam_projects"], deleted["iam_users"], deleted["iam_access_keys"]) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert all(not rows for rows in snapshot(db).values())


def test_state_export_and_import(
    cli: Callable[..., Result], db: Database, make_account: Callable[..., TestAccount], tmp_path: Path
) -> None:
    make_account("acme-corp")
    before = snapshot(db)
    exported = tmp_path / "state.json"
    assert cli("state", "export", "--output", str(exported)).exit_code == 0
    assert oct(exported.stat().st_mode & 0o777) == "0o600"  # sealed keys and password hashes: owner-only
    assert cli("reset", "--yes").exit_code == 0
    imported = cli("state", "import", str(exported), "--yes", "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["imported"]["iam_accounts"] == 1
    assert snapshot(db) == before
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**json.loads(exported.read_text()), "server_key": "0" * 32}))
    refused = cli("state", "import", str(broken), "--yes")
    assert refused.exit_code == 1
    assert "exported by a server with another server key" in refused.stderr
    assert snapshot(db) == before
