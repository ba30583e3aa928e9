"""A local-runtime OpenBCS for the real-node tests: ``openbcs serve --fabric-runtime local`` in a process of its own
(so it can be stopped, started again and killed like a real deployment), two accounts, and the official SDK."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from openbcs import migrations
from openbcs.iam import service as iam
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.runtime.local.binaries import Binaries
from tests.support.accounts import TestAccount
from tests.support.diagnostic import wait_for
from tests.support.servers import free_port

OPENBCS = str(Path(sys.executable).with_name("openbcs"))


class LocalServer:
    """``openbcs serve`` with the local runtime on its own data directory (SQLite)."""

    def __init__(
        self,
        root: Path,
        binaries: Binaries,
        secret_key: str,
        *,
        worker_poll_seconds: float = 0.1,
        database_url: str | None = None,
    ) -> None:
        """``worker_poll_seconds``: the tests' quick polling (a benchmark of the idle server gives the default);
        ``database_url``: a database of its own (e.g. PostgreSQL) instead of the SQLite file in its data directory."""
        self.root, self.binaries, self.secret_key = root, binaries, secret_key
        self.worker_poll_seconds = worker_poll_seconds
        self.given_database_url = database_url
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return self.given_database_url or f"sqlite:///{self.data_dir / 'openbcs.db'}"

    def make_accounts(self, *names: str) -> list[TestAccount]:
        """Accounts made through the IAM service in the server's database (before it starts)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(self.database_url)
        migrations.upgrade(db)
        key = ServerKey(base64.urlsafe_b64decode(self.secret_key))
        made = []
        for name in names:
            password = f"password-{name}"
            created = db.run_write(
                iam.create_account, name=name, password=password, region="cn-north-4", server_key=key
            )
            made.append(TestAccount(created, password))
        db.dispose()
        return made

    def start(self) -> None:
        env = {
            **os.environ,
            "OPENBCS_SECRET_KEY": self.secret_key,
            "OPENBCS_WORKER_POLL_SECONDS": str(self.worker_poll_seconds),
        }
        command = [
            OPENBCS, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--operation-step-seconds", "0", "--fabric-runtime", "local",
            "--fabric-bin", str(self.binaries.peer.parent), "--fabric-config", str(self.binaries.config_dir),
        ]  # fmt: skip
        if self.given_database_url:
            command += ["--database-url", self.given_database_url]
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for(self._healthy, timeout=60, what="the server to answer /healthz")
        except BaseException:
            self.stop(signal.SIGKILL)  # never left running by a test that failed to start it
            raise

    def _healthy(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"server exited: {self.log()[-3000:]}"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: it stops its nodes; SIGKILL: they die with it)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(timeout=60)
        self.process = None

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def sdk(self, account: TestAccount) -> Any:
        from huaweicloudsdkbcs.v2 import BcsClient
        from huaweicloudsdkcore.auth.credentials import BasicCredentials

        credentials = BasicCredentials(account.ak, account.sk, account.project_id)
        return BcsClient.new_builder().with_credentials(credentials).with_endpoints([self.url]).build()

    def rows(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of the server's database, read directly (what it stored)."""
        with contextlib.closing(sqlite3.connect(self.data_dir / "openbcs.db")) as connection:
            return connection.execute(query, args).fetchall()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def node_pids(server: LocalServer) -> dict[str, int]:
    """``{node name: pid}`` of the nodes the supervisor says run (either database)."""
    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT n.name, r.pid FROM runtime_nodes r JOIN blockchain_nodes n ON n.id = r.node_id "
                    "WHERE r.observed = 'running' AND r.pid IS NOT NULL"
                )
            ).all()
    finally:
        engine.dispose()
    return {name: pid for name, pid in rows}


def fabric_children(server: LocalServer) -> list[int]:
    """Pids of the running Fabric processes (orderer, peer) whose parent is the server process."""
    assert server.process is not None
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            ours = fields.get("PPid", "").strip() == str(server.process.pid)
            # A zombie (a node that exited, not reaped yet: Python reaps a replaced Popen lazily) runs nothing.
            alive = not fields.get("State", "").startswith("Z")
            if ours and alive and fields.get("Name", "").strip() in ("orderer", "peer"):
                found.append(int(status.parent.name))
    return sorted(found)
