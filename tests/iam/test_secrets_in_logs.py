"""No password, secret key or token ever reaches the server's log or the CLI's output (apart from the one-time
output of ``account create``), while every request is logged with its request id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from openbcs.kernel.db import Database
from tests.iam.helpers import records_path, signed_request, user_of
from tests.support.accounts import token_body
from tests.support.errors import request_id_of
from tests.support.servers import free_port


def _openbcs_command() -> str:
    beside = Path(sys.executable).parent / "openbcs"
    return str(beside if beside.exists() else "/work/venv/bin/openbcs")


class ServerProcess:
    """``openbcs serve`` in a child process, its stderr and stdout in files."""

    def __init__(self, tmp_path: Path, database_url: str, log_format: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = tmp_path / "server.stderr"
        self.stdout_path = tmp_path / "server.stdout"
        self.command = [
            _openbcs_command(), "serve",
            "--port", str(self.port),
            "--data-dir", str(tmp_path / "server-data"),
            "--database-url", database_url,
            "--operation-step-seconds", "0",
            "--log-format", log_format,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)  # carries OPENBCS_SECRET_KEY, as set by the suite's conftest
        assert env.get("OPENBCS_SECRET_KEY")
        with self.stderr_path.open("wb") as stderr, self.stdout_path.open("wb") as stdout:
            self.process = subprocess.Popen(self.command, stdout=stdout, stderr=stderr, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.stderr_path.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become healthy:\n" + self.stderr_path.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.stderr_path.read_text() + self.stdout_path.read_text()


@pytest.fixture
def server_process(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, db: Database
) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path, database_url, request.param)
    try:
        yield server
    finally:
        server.stop()  # before the db fixture empties the tables


@pytest.mark.parametrize("server_process", ["text", "json"], indirect=True)
def test_secrets_never_logged(server_process: ServerProcess, cli: Callable[..., Result], db: Database) -> None:
    password, new_password = "Initial-Passw0rd-7Qx", "Changed-Passw0rd-9Zr"
    creation = cli("account", "create", "log-tenant", "--password", password, "--json")
    assert creation.exit_code == 0, creation.output
    account = json.loads(creation.stdout)
    ak, sk, project_id = account["access_key"], account["secret_key"], account["project_id"]
    wrong_sk = sk[::-1]
    assert wrong_sk != sk

    server_process.start()
    base = server_process.url
    path = records_path(project_id)
    exchanges: list[tuple[str, str, httpx.Response]] = []  # (method, path, response)

    def call(method: str, url_path: str, **kwargs: object) -> httpx.Response:
        response = httpx.request(method, base + url_path, timeout=10, **kwargs)  # type: ignore[arg-type]
        exchanges.append((method, url_path.split("?")[0], response))
        return response

    issued = call("POST", "/v3/auth/tokens", content=token_body("log-tenant", password, "log-tenant"))
    assert issued.status_code == 201, issued.text
    token = issued.headers["X-Subject-Token"]
    tampered = token[:50] + ("A" if token[50] != "A" else "B") + token[51:]

    refused = call("POST", "/v3/auth/tokens", content=token_body("log-tenant", new_password, "log-tenant"))
    assert refused.status_code == 401
    assert call("GET", path, headers={"X-Auth-Token": token}).status_code == 200
    assert call("GET", path, headers={"X-Auth-Token": tampered}).status_code == 401

    url, headers = signed_request(base, "GET", path + "?operation_status=finished", ak=ak, sk=sk, project_id=project_id)
    assert call("GET", url[len(base) :], headers=headers).status_code == 200
    url, headers = signed_request(base, "GET", path, ak=ak, sk=wrong_sk, project_id=project_id)
    assert call("GET", url[len(base) :], headers=headers).status_code == 401
    url, headers = signed_request(
        base, "GET", "/v3/projects?name=cn-north-4", ak=ak, sk=sk, project_id="", content_type=None
    )
    assert call("GET", url[len(base) :], headers=headers).status_code == 200

    version = user_of(db, "log-tenant").credential_version
    passwd = cli("user", "passwd", "log-tenant", "--password", new_password)
    assert passwd.exit_code == 0, passwd.output
    assert user_of(db, "log-tenant").credential_version == version + 1
    listing = cli("account", "list", "--json")
    assert listing.exit_code == 0, listing.output
    assert json.loads(listing.stdout)[0]["access_keys"] == [ak]

    assert call("GET", path, headers={"X-Auth-Token": token}).status_code == 401
    reissued = call("POST", "/v3/auth/tokens", content=token_body("log-tenant", new_password, "log-tenant"))
    assert reissued.status_code == 201, reissued.text
    token2 = reissued.headers["X-Subject-Token"]
    assert call("GET", path, headers={"X-Auth-Token": token2}).status_code == 200

    server_process.stop()
    assert server_process.process is not None
    assert server_process.process.returncode is not None
    log = server_process.log()

    secrets = {
        "password": password,
        "new password": new_password,
        "secret key": sk,
        "wrong secret key": wrong_sk,
        "token": token,
        "token head": token[:40],
        "token tail": token[-40:],
        "tampered token": tampered,
        "second token": token2,
        "server key": os.environ["OPENBCS_SECRET_KEY"],
    }
    for label, secret in secrets.items():
        assert secret not in log, f"{label} found in the server log"
        for output in (passwd.output, listing.output):
            assert secret not in output, f"{label} found in CLI output"

    # Every request left a line carrying its request id, method, path and status.
    request_lines = [line for line in log.splitlines() if "request_id" in line]
    assert len(request_lines) >= len(exchanges)
    for method, url_path, response in exchanges:
        request_id = request_id_of(response)
        matching = [line for line in request_lines if request_id in line]
        assert len(matching) == 1, (request_id, log)
        line = matching[0]
        if server_process.command[-1] == "json":
            entry = json.loads(line)
            assert entry["request_id"] == request_id
            assert (entry["method"], entry["path"], entry["status"]) == (method, url_path, response.status_code)
        else:
            assert f"request_id={request_id}" in line
            assert f"method={method} path={url_path} status={response.status_code}" in line
