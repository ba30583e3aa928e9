"""``scripts/pg-throwaway``: a free port when none is given, a directory left by an earlier run made anew (the old
cluster stopped first), a start that fails leaving nothing running. Needs Debian's PostgreSQL server (CI has it)."""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

SCRIPT = Path(__file__).parents[1] / "scripts" / "pg-throwaway"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A directory the ``postgres`` user can reach (pytest's tmp_path is root's alone)."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    parent = Path(tempfile.mkdtemp(prefix="openbcs-pg-throwaway-"))
    parent.chmod(0o755)
    try:
        yield parent / "pg"
    finally:
        _run("stop", str(parent / "pg"))
        shutil.rmtree(parent, ignore_errors=True)


def test_a_free_port_and_a_directory_made_anew(cluster_dir: Path) -> None:
    first = _run("start", str(cluster_dir))
    assert first.returncode == 0, first.stderr
    port = make_url(first.stdout.strip()).port
    assert port is not None
    assert _listening(port)
    again = _run("start", str(cluster_dir))  # the same directory: the running cluster is stopped, a new one made
    assert again.returncode == 0, again.stderr
    new_port = make_url(again.stdout.strip()).port
    assert new_port is not None
    assert _listening(new_port)
    if new_port != port:
        assert not _listening(port)
    assert _run("stop", str(cluster_dir)).returncode == 0
    assert not _listening(new_port)


def test_a_failed_start_says_why_and_leaves_nothing_running(cluster_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = _run("start", str(cluster_dir), str(port))
    assert failed.returncode == 1
    assert f"PostgreSQL did not start on port {port}; its log:" in failed.stderr
    assert "Address already in use" in failed.stderr
    assert not (cluster_dir / "data" / "postmaster.pid").exists()
