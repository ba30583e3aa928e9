"""A database locked by someone else (issue 12 item 6): a write waiting for the lock never blocks other requests,
gives up after ``--database-lock-wait-seconds`` with ``503 BCS.5030001`` and changes nothing, and ``/healthz`` says
``degraded`` meanwhile; an unusable data directory stops ``openbcs serve`` with one line and exit status 2.

The lock is held from outside the server: on SQLite another connection's ``BEGIN EXCLUSIVE`` (as a backup or a
second process would), on PostgreSQL another connection's ``LOCK TABLE operations IN EXCLUSIVE MODE`` (plain reads
still pass it, every insert of an operation waits).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from openbcs.app import data_dir_problem
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.models import Instance
from tests.support.accounts import TestAccount, issue_token
from tests.support.bodies import create_body
from tests.support.errors import request_id_of
from tests.support.servers import LiveServer
from tests.support.snapshots import row_count, snapshot

LOCK_WAIT = 3.0
PROMPT = LOCK_WAIT / 2  # "at once": well before the write gives up, even on a busy machine
BUSY = {
    "error_code": "BCS.5030001",
    "error_msg": "Service Unavailable: the database is busy, retry the request later.",
}


@contextmanager
def held_write_lock(db: Database) -> Iterator[None]:
    """Another connection holds the lock every write of the server needs, until the block ends."""
    if db.is_sqlite:
        path = db.engine.url.database
        assert path
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    with db.engine.connect() as other:
        other.execute(sa.text("LOCK TABLE operations IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            other.rollback()


@pytest.fixture
def busy_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings.model_copy(update={"database_lock_wait_seconds": LOCK_WAIT})) as server:
        yield server


def _create(server: LiveServer, account: TestAccount, token: str, name: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/v2/{account.project_id}/blockchains",
        json=create_body(name),
        headers={"X-Auth-Token": token},
        timeout=30,
    )
    return response, time.monotonic() - started


def _timed_get(url: str, headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, headers=headers or {}, timeout=30)
    return response, time.monotonic() - started


def test_a_write_waiting_for_a_lock_blocks_nobody_and_answers_busy(
    busy_server: LiveServer, make_account: Callable[..., TestAccount], db: Database
) -> None:
    writer, reader = make_account(), make_account()
    with httpx.Client(base_url=busy_server.url, timeout=30) as http:
        writer_token, reader_token = issue_token(http, writer), issue_token(http, reader)
    healthz, records = f"{busy_server.url}/healthz", f"{busy_server.url}/v2/{reader.project_id}/operation/record"
    before = snapshot(db)
    with held_write_lock(db), ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_create, busy_server, writer, writer_token, "blocked")
        time.sleep(0.2)  # the write is waiting for the lock now
        # Meanwhile other requests are answered at once: the health check and another account's read.
        health, health_seconds = _timed_get(healthz)
        read, read_seconds = _timed_get(records, {"X-Auth-Token": reader_token})
        assert not pending.done()
        assert health_seconds < PROMPT
        assert read_seconds < PROMPT
        assert read.status_code == 200, read.text
        assert read.json() == {"count": 0, "operation_records": []}
        assert health.status_code == 200
        if db.is_sqlite:  # SQLite's lock is seen at once; PostgreSQL's once a write gave up on it (below)
            assert health.json()["status"] == "degraded"
        answer, seconds = pending.result(30)
        assert answer.status_code == 503, answer.text
        assert answer.json() == BUSY
        request_id_of(answer)
        assert LOCK_WAIT <= seconds < LOCK_WAIT + 3
        health = httpx.get(healthz, timeout=5)
        assert (health.status_code, health.json()["status"], health.json()["writes"]) == (200, "degraded", "blocked")
        assert snapshot(db) == before
    # The lock is gone: writes go through again, and the health check follows.
    answer, _ = _create(busy_server, writer, writer_token, "after")
    assert answer.status_code == 200, answer.text
    assert row_count(db, Instance, Instance.name == "after") == 1
    health = httpx.get(healthz, timeout=5)
    assert (health.json()["status"], health.json()["writes"]) == ("ok", "ok")


DATA_DIR_CASES = {
    # sysfs refuses writes and new directories even to root, so these hold whoever runs the tests.
    "read-only": (Path("/sys/kernel"), "is not writable"),
    "missing": (Path("/sys/kernel/openbcs-missing/data"), "does not exist and cannot be created"),
}


@pytest.mark.parametrize("case", sorted(DATA_DIR_CASES))
def test_serve_refuses_an_unusable_data_dir_in_one_line(case: str, tmp_path: Path) -> None:
    data_dir, cause = DATA_DIR_CASES[case]
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux sysfs")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("openbcs")), "serve", "--data-dir", str(data_dir), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: data directory {data_dir} {cause}: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_data_dir_problem_names_the_directory_and_the_cause(tmp_path: Path) -> None:
    assert data_dir_problem(Settings(data_dir=tmp_path / "new" / "data")) is None  # created
    assert (tmp_path / "new" / "data").is_dir()
    assert list((tmp_path / "new" / "data").iterdir()) == []  # the write probe leaves nothing behind
    if Path("/sys/kernel").is_dir():
        problem = data_dir_problem(Settings(data_dir=Path("/sys/kernel")))
        assert problem is not None
        assert problem.startswith("data directory /sys/kernel is not writable: ")
    # With the database and the key given elsewhere, the data directory is not used at all.
    assert data_dir_problem(Settings(data_dir=Path("/sys/kernel/x"), database_url="sqlite://", secret_key="k")) is None
