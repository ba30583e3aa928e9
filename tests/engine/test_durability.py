"""Durability: a server killed in the middle of an operation; the restarted server finishes it from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from openbcs.engine import engine
from openbcs.engine.diagnostic import DIAGNOSTIC, DiagnosticPayload
from openbcs.iam import service as iam
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings
from tests.support.diagnostic import SUB_STEPS, StoredOperation, read_effects, stored, wait_for
from tests.support.servers import free_port

OPENBCS = str(Path(sys.executable).with_name("openbcs"))
TIMEOUT = 30


class _Server:
    """``openbcs serve`` in a child process, with the diagnostic kind and quick polling."""

    def __init__(self, data_dir: Path, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)  # carries OPENBCS_SECRET_KEY, set by the suite's conftest
        env.update({"OPENBCS_ENABLE_TEST_KINDS": "1", "OPENBCS_WORKER_POLL_SECONDS": "0.1"})
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [
                OPENBCS,
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--database-url",
                database_url,
                "--operation-step-seconds",
                "0.4",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self) -> dict[str, str]:
        def healthy() -> dict[str, str] | None:
            assert self.process.poll() is None, "server exited early"
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=1)
            except httpx.HTTPError:
                return None
            return response.json() if response.status_code == 200 else None

        return wait_for(healthy, timeout=TIMEOUT, interval=0.1, what="the server to become healthy")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)
        self._log.close()


@pytest.mark.slow
def test_a_killed_server_leaves_the_operation_processing_and_a_restarted_one_finishes_it(
    tmp_path: Path, database_url: str, db: Database, server_key: ServerKey, settings: Settings
) -> None:
    effects_file = tmp_path / "effects.log"
    data_dir = tmp_path / "server-data"
    log = tmp_path / "server.log"
    servers: list[_Server] = []
    try:
        first = _Server(data_dir, database_url, log)
        servers.append(first)
        assert first.wait_healthy() == {"status": "ok", "database": "migrated", "writes": "ok", "worker": "running"}

        account = db.run_write(
            iam.create_account,
            name="durable-tenant",
            password="a-good-passw0rd",
            region=settings.region,
            server_key=server_key,
        )
        operation_id = db.run_write(
            engine.start,
            DIAGNOSTIC,
            DiagnosticPayload(effects_file=str(effects_file)),
            domain_id=account.domain_id,
            project_id=account.project_id,
            blockchain_id="bc-durable",
        )

        def two_finished_still_processing() -> StoredOperation | None:
            op = stored(db, operation_id)
            finished = sum(s.status == "finished" for s in op.sub_steps)
            assert op.status in ("waiting", "processing"), "finished before it could be interrupted"
            return op if finished >= 2 and op.status == "processing" else None

        wait_for(two_finished_still_processing, timeout=TIMEOUT, what="two sub-steps of the first server")
        first.kill()
        assert first.process.returncode == -signal.SIGKILL

        at_kill = stored(db, operation_id)
        assert at_kill.status == "processing"
        done_before = [s.name for s in at_kill.sub_steps if s.status == "finished"]
        in_flight = [s.name for s in at_kill.sub_steps if s.status == "processing"]
        assert len(done_before) >= 2
        assert done_before == list(SUB_STEPS[: len(done_before)])
        assert in_flight == [SUB_STEPS[len(done_before)]], "exactly the next sub-step is in flight"
        assert {s.status for s in at_kill.sub_steps[len(done_before) + 1 :]} <= {"waiting"}
        lines_at_kill = read_effects(effects_file)

        second = _Server(data_dir, database_url, log)
        servers.append(second)
        second.wait_healthy()
        done = wait_for(
            lambda: (op := stored(db, operation_id)).status == "finished" and op,
            timeout=TIMEOUT,
            what="the restarted server to finish the operation",
        )
        second.kill()
    finally:
        for server in servers:
            server.kill()

    # Every sub-step finished, in order, each starting where the previous one ended.
    assert [(s.serial_num, s.name, s.status) for s in done.sub_steps] == [
        (serial, name, "finished") for serial, name in enumerate(SUB_STEPS, start=1)
    ]
    assert done.messages == []
    previous_end = done.record_time
    for sub_step in done.sub_steps:
        assert sub_step.start_time is not None
        assert sub_step.end_time is not None
        assert previous_end <= sub_step.start_time <= sub_step.end_time
        previous_end = sub_step.end_time
    assert done.payload["ran"] == list(SUB_STEPS)
    # The sub-steps the first server had committed are untouched by the second.
    assert done.sub_steps[: len(done_before)] == at_kill.sub_steps[: len(done_before)]

    # Side effects: once each, except that the sub-step in flight at the kill may have run twice.
    effects = read_effects(effects_file)
    first_pid, second_pid = servers[0].process.pid, servers[1].process.pid
    assert {e.operation_id for e in effects} == {operation_id}
    assert effects[: len(lines_at_kill)] == lines_at_kill
    counts = Counter(e.sub_step for e in effects)
    assert set(counts) == set(SUB_STEPS)
    for name in SUB_STEPS:
        pids = [e.pid for e in effects if e.sub_step == name]
        if name in done_before:
            assert pids == [first_pid], name
        elif name in in_flight:
            assert pids in ([second_pid], [first_pid, second_pid]), name
        else:
            assert pids == [second_pid], name
    assert [e.sub_step for e in effects if e.pid == second_pid] == list(SUB_STEPS[len(done_before) :])
