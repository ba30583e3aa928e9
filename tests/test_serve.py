"""``openbcs serve`` as a user starts it: the README's first command, --demo, --workers."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import uvicorn

from openbcs.cli import serve
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.support.accounts import TestAccount
from tests.support.diagnostic import all_stored, seed
from tests.support.servers import CONSOLE_SCRIPT, free_port, start_serve, stop_serve, wait_healthy


def _exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, re.M))


@pytest.mark.slow
def test_first_command_serves_demo_accounts(tmp_path: Path) -> None:
    """``openbcs serve --demo`` with every default but the port (any free one, so the suite needs no fixed port):
    SQLite in ./openbcs-data, owner-only files, demo credentials, a line when it listens and one when it stops."""
    from huaweicloudsdkbcs.v2 import BcsClient, ListOpRecordRequest
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_serve(["--demo"], cwd=tmp_path, env={"OPENBCS_PORT": str(port)}, command=CONSOLE_SCRIPT)
    try:
        wait_healthy(url, process, timeout=30)
    finally:
        first = stop_serve(process).stdout
    exports = _exports(first)
    assert exports["OPENBCS_ENDPOINT"] == url
    assert process.returncode == 0
    data = tmp_path / "openbcs-data"
    assert (data / "openbcs.db").exists()
    for name in ("openbcs.db", "server.key", "demo-credentials.json"):
        assert oct((data / name).stat().st_mode & 0o777) == "0o600", name
    for prefix in ("DEMO_INVITER", "DEMO_INVITEE"):
        assert re.fullmatch(r"[0-9a-f]{32}", exports[f"{prefix}_DOMAIN_ID"])
        assert re.fullmatch(r"[0-9a-f]{32}", exports[f"{prefix}_PROJECT_ID"])
        assert exports[f"{prefix}_PROJECT_NAME"] == "cn-north-4"
        assert re.fullmatch(r"[A-Z0-9]{20}", exports[f"{prefix}_AK"])
        assert len(exports[f"{prefix}_SK"]) == 40

    # A second start on the same data dir is idempotent: same accounts, same credentials, and they work.
    process = start_serve(["--demo"], cwd=tmp_path, env={"OPENBCS_PORT": str(port)}, command=CONSOLE_SCRIPT)
    try:
        wait_healthy(url, process, timeout=30)
        credentials = BasicCredentials(
            exports["DEMO_INVITER_AK"], exports["DEMO_INVITER_SK"], exports["DEMO_INVITER_PROJECT_ID"]
        )
        client = BcsClient.new_builder().with_credentials(credentials).with_endpoints([url]).build()
        assert client.list_op_record(ListOpRecordRequest()).count == 0
    finally:
        second = stop_serve(process).stdout
    assert _exports(second) == exports


@pytest.mark.slow
def test_two_worker_processes_share_the_database(
    tmp_path: Path,
    database_url: str,
    db: Database,
    make_account: Callable[..., TestAccount],
    token_for: Callable[[TestAccount], str],
) -> None:
    account = make_account()
    token = token_for(account)
    finished = db.run_write(seed, "finished", domain_id=account.domain_id, project_id=account.project_id)
    port = free_port()
    process = start_serve(
        ["--workers", "2", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--database-url", database_url],
        cwd=tmp_path,
        env={"OPENBCS_SECRET_KEY": os.environ["OPENBCS_SECRET_KEY"]},
        command=CONSOLE_SCRIPT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout=30)
        for _ in range(6):  # spread over both processes by the kernel: each reads the operation stored here
            response = httpx.get(
                f"http://127.0.0.1:{port}/v2/{account.project_id}/operation/record",
                headers={"X-Auth-Token": token},
                timeout=10,
            )
            assert response.status_code == 200
            body = response.json()
            assert body["count"] == 1
            assert [(r["operation_id"], r["operation_status"]) for r in body["operation_records"]] == [
                (finished, "finished")
            ]
    finally:
        stop_serve(process)
    assert [(op.id, op.status) for op in all_stored(db)] == [(finished, "finished")]


def test_serve_runs_on_the_standard_event_loop(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvloop served some connections seconds after others when calls held the loop for tens of milliseconds (the
    seed's quit: p99 5.0 s against the asyncio loop's 1.1 s at 32 clients, ``docs/benchmarks.md``): ``serve`` asks
    uvicorn for the standard library's loop, which uvicorn would not pick by itself where uvloop is installed."""
    configs: list[uvicorn.Config] = []

    class Recorded:
        started = True

        def __init__(self, config: uvicorn.Config) -> None:
            configs.append(config)

        def run(self, sockets: list[socket.socket]) -> None:
            assert len(sockets) == 1

    monkeypatch.setattr(uvicorn, "Server", Recorded)
    with socket.socket() as sock:
        serve._run(Settings(data_dir=tmp_path / "data", database_url=database_url), sock)
    assert [config.loop for config in configs] == ["asyncio"]
    assert uvicorn.Config(app=None).loop == "auto"  # uvicorn's own default, which chooses uvloop when installed
