"""``openbcs serve`` as a process: a taken port fails before anything claims to listen; the "listening" line comes
once the port is bound and the database migrated, a "stopped" line at the end; ``--seed`` applies a file first."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from openbcs.cli import app
from tests.support.servers import MODULE, free_port, serve_env, start_serve, stop_serve, wait_healthy


def test_taken_port_fails_before_any_listening_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert "listening" not in result.output
    assert not (tmp_path / "data").exists()  # failed before touching the database


def test_unknown_host_fails_before_any_listening_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "no-such-host.invalid", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot listen on no-such-host.invalid:8080: ")
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_listening_line_then_stopped_line_and_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("accounts:\n  - name: seeded-corp\n    password: Seeded-Passw0rd\n")
    port = free_port()
    process = start_serve(
        ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--seed", str(seed)], cwd=tmp_path
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        token = httpx.post(
            f"http://127.0.0.1:{port}/v3/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": "seeded-corp",
                                "password": "Seeded-Passw0rd",
                                "domain": {"name": "seeded-corp"},
                            }
                        },
                    },
                    "scope": {"project": {"name": "cn-north-4"}},
                }
            },
            timeout=10,
        )
        assert token.status_code == 201, token.text
    finally:
        # SIGTERM, as a service manager stops it (the other serve tests send SIGINT, as Ctrl-C does).
        err = stop_serve(process, signal.SIGTERM).stderr
    lines = [line for line in err.splitlines() if line.startswith(("OpenBCS", "seed", "error"))]
    database = tmp_path / "data" / "openbcs.db"
    assert lines == [
        f"seed {seed}: 1 change(s) (account seeded-corp); 0 already as the file says",
        f"OpenBCS listening on http://127.0.0.1:{port} (database {database.resolve()})",
        f"OpenBCS API reference http://127.0.0.1:{port}/docs, console http://127.0.0.1:{port}/console",
        "OpenBCS stopped",
    ]
    assert process.returncode == 0
    assert oct(database.stat().st_mode & 0o777) == "0o600"


def test_seed_file_with_a_mistake_stops_serve(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("accounts:\n  - name: seeded-corp\n    pasword: typo-Passw0rd\n")
    result = subprocess.run(
        [*MODULE, "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), "--seed", str(seed)],
        env=serve_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == f"error: {seed}:2: accounts[0].password: Field required\n"
    assert "listening" not in result.stderr
