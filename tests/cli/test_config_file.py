"""The settings file (``openbcs.toml``, ``--config``, ``OPENBCS_CONFIG``): precedence flag > env > file > default for
every command, refusals naming the key and its line, ``openbcs config show`` with sources and masked secrets, the
table of docs/configuration.md, and ``--help`` showing flags as flags."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from openbcs.cli import app
from openbcs.cli.config import TABLE_BEGIN, TABLE_END, reference_table
from openbcs.kernel.settings import Settings
from tests.support.servers import free_port, start_serve, stop_serve, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPENBCS_* variable from the suite, and a working directory of the test's own (./openbcs.toml)."""
    for name in list(os.environ):
        if name.upper().startswith("OPENBCS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _show(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = _run("config", "show", "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        '# OpenBCS\nport = 8443\nregion = "file-region"\n\nlog_level = "DEBUG"\ndata_dir = "/srv/file-data"\n'
    )
    shown = _show("--config", str(config), "--data-dir", "/srv/flag-data", env={"OPENBCS_REGION": "env-region"})
    assert shown["config_file"] == str(config)
    settings = shown["settings"]
    assert settings["data_dir"] == {"value": "/srv/flag-data", "source": "flag"}
    assert settings["region"] == {"value": "env-region", "source": "env"}
    assert settings["port"] == {"value": 8443, "source": "file", "where": f"{config}:2"}
    assert settings["log_level"] == {"value": "DEBUG", "source": "file", "where": f"{config}:5"}
    assert settings["workers"] == {"value": 1, "source": "default"}
    assert list(settings) == list(Settings.model_fields)  # every setting, in the order of Settings


def test_env_given_flag_counts_as_env_and_text_output_names_sources(tmp_path: Path) -> None:
    config = tmp_path / "openbcs.toml"  # found in the working directory without --config
    config.write_text("workers = 3\n")
    shown = _show(env={"OPENBCS_DATA_DIR": "/srv/env-data"})
    assert shown["config_file"] == "openbcs.toml"
    assert shown["settings"]["data_dir"] == {"value": "/srv/env-data", "source": "env"}
    assert shown["settings"]["workers"] == {"value": 3, "source": "file", "where": "openbcs.toml:1"}
    text = _run("config", "show", env={"OPENBCS_DATA_DIR": "/srv/env-data"}).stdout
    assert text.startswith("# settings file: openbcs.toml\n")
    assert re.search(r"^workers += 3  # openbcs\.toml:1$", text, re.M)
    assert re.search(r"^database_url += \(none\)  # default$", text, re.M)
    assert re.search(r'^data_dir += "/srv/env-data"  # env$', text, re.M)


def test_config_given_by_environment_before_or_after_the_command(tmp_path: Path) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text("port = 1111\n")
    two.write_text("port = 2222\n")
    assert _show(env={"OPENBCS_CONFIG": str(one)})["settings"]["port"]["value"] == 1111
    result = _run("--config", str(one), "config", "show", "--json")
    assert json.loads(result.stdout)["settings"]["port"]["value"] == 1111
    result = _run("--config", str(one), "config", "show", "--json", "--config", str(two))  # the command's wins
    assert json.loads(result.stdout)["settings"]["port"]["value"] == 2222
    assert _show()["config_file"] is None  # nothing left over from the runs before


def test_every_command_reads_the_file(tmp_path: Path) -> None:
    data = tmp_path / "from-file"
    (tmp_path / "openbcs.toml").write_text(f'data_dir = "{data}"\n')
    result = _run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert (data / "openbcs.db").is_file()  # the file's data directory, not ./openbcs-data
    assert not (tmp_path / "openbcs-data").exists()
    result = _run("account", "create", "file-corp", "--password", "File-Passw0rd-1", "--json")
    assert result.exit_code == 0, result.output
    listed = _run("account", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert "file-corp" in listed.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "port = 8080\nprot = 1\n",
            "{f}:2: unknown setting 'prot' (did you mean 'port'?); 'openbcs config show' lists them",
        ),
        ("\n\nport = 70000\n", "{f}:3: port: Input should be less than or equal to 65535"),
        ('tls = "on"\n', "{f}:1: tls: Input should be 'off' or 'self-signed'"),
        ('node_ports = "1-2"\n', "{f}:1: node_ports: node_ports must lie within 1024-65535 and hold at least 9 ports"),
        ("workers = 2\n[server]\nport = 1\n", "{f}:2: unknown setting 'server'; 'openbcs config show' lists them"),
        ("log_level = 'x'\nworkers = = 2\n", "{f}:2: not valid TOML: Invalid value"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    data = tmp_path / "data"
    for args in (["config", "show"], ["db", "upgrade", "--data-dir", str(data)]):
        result = _run("--config", str(config), *args)
        assert result.exit_code == 2
        assert result.stderr == "error: " + expected.format(f=config) + "\n"
        assert result.stdout == ""
    assert not data.exists()  # refused before anything was created


def test_a_missing_file_is_refused() -> None:
    result = _run("config", "show", "--config", "nowhere.toml")
    assert result.exit_code == 2
    assert result.stderr == "error: --config nowhere.toml: cannot read it: No such file or directory\n"


def test_a_bad_value_that_the_environment_overrides_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "openbcs.toml").write_text("port = 70000\n")
    assert _show(env={"OPENBCS_PORT": "9000"})["settings"]["port"] == {"value": 9000, "source": "env"}
    result = _run("config", "show", env={"OPENBCS_PORT": "99999"})
    assert result.exit_code == 2
    assert result.stderr == "error: --port (OPENBCS_PORT): Input should be less than or equal to 65535\n"


def test_secrets_are_masked(tmp_path: Path) -> None:
    (tmp_path / "openbcs.toml").write_text(
        'admin_token = "admin-token-0123456789"\ndatabase_url = "postgresql+psycopg://bcs:pg-pass-42@db:5432/bcs"\n'
        'prometheus_url = "https://scraper:prom-pass-7@prom.example:9090"\n'
    )
    env = {"OPENBCS_SECRET_KEY": "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXktIQ=="}
    shown = _show(env=env)["settings"]
    assert shown["admin_token"] == {"value": "********", "source": "file", "where": "openbcs.toml:1"}
    assert shown["secret_key"] == {"value": "********", "source": "env"}
    assert shown["database_url"]["value"] == "postgresql+psycopg://bcs:***@db:5432/bcs"
    assert shown["prometheus_url"]["value"] == "https://scraper:***@prom.example:9090"
    text = _run("config", "show", env=env).stdout
    for secret in ("admin-token-0123456789", "pg-pass-42", "prom-pass-7", env["OPENBCS_SECRET_KEY"]):
        assert secret not in text
    assert re.search(r'^admin_token += "\*{8}"  # openbcs\.toml:1$', text, re.M)


@pytest.mark.slow
def test_serve_takes_port_workers_and_data_dir_from_the_file(tmp_path: Path) -> None:
    """Values from the file reach --workers processes too (serve hands them on through the environment)."""
    port = free_port()
    data = tmp_path / "served"
    (tmp_path / "openbcs.toml").write_text(f'port = {port}\nworkers = 2\ndata_dir = "{data}"\nregion = "cn-south-1"\n')
    process = start_serve([], cwd=tmp_path)  # the port, workers and data directory all from ./openbcs.toml
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        projects = httpx.get(f"http://127.0.0.1:{port}/v3/projects", timeout=5)  # any answer shows the app runs
        assert projects.status_code == 401
    finally:
        err = stop_serve(process).stderr
    assert f"OpenBCS listening on http://127.0.0.1:{port} (database {(data / 'openbcs.db').resolve()})" in err
    assert (data / "openbcs.db").is_file()
    assert process.returncode == 0


def test_configuration_doc_lists_every_setting() -> None:
    """docs/configuration.md holds the table `openbcs config reference` prints (regenerate it from there)."""
    doc = (ROOT / "docs" / "configuration.md").read_text()
    table = reference_table()
    assert TABLE_BEGIN + table + TABLE_END in doc, "regenerate: openbcs config reference --update docs/configuration.md"
    for name in Settings.model_fields:
        assert f"| `{name}` |" in table
        assert f"`OPENBCS_{name.upper()}`" in table
    assert "| `port` | `--port` | `OPENBCS_PORT` | `8080` |" in table
    assert '| `tls` | `--tls` | `OPENBCS_TLS` | `"off"` |' in table
    assert _run("config", "reference").stdout == table


def test_reference_table_is_updated_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"# Settings\n\n{TABLE_BEGIN}| old |\n{TABLE_END}\nAfter.\n")
    result = _run("config", "reference", "--update", str(doc))
    assert result.exit_code == 0, result.output
    assert doc.read_text() == f"# Settings\n\n{TABLE_BEGIN}{reference_table()}{TABLE_END}\nAfter.\n"
    doc.write_text("no markers\n")
    result = _run("config", "reference", "--update", str(doc))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {doc}: no table markers")
    assert doc.read_text() == "no markers\n"


def test_help_shows_boolean_flags_without_a_type() -> None:
    top = _run("--help")
    assert top.exit_code == 0
    assert "--version" in top.stdout
    assert "--config" in top.stdout
    serve = _run("serve", "--help")
    assert "--demo" in serve.stdout
    assert "--tls-cert" in serve.stdout
    for result in (top, serve, _run("config", "show", "--help")):
        assert "<bool>" not in result.stdout
    version = _run("--version")
    assert version.exit_code == 0
    assert version.stdout.startswith("openbcs ")
