"""How ``openbcs serve`` listens (issue 11): with ``--workers 2`` connections spread over the workers (each listens on
its own ``SO_REUSEPORT`` socket, so connections opened all at once do not all land on the worker that woke first),
and answers are never held back on their connection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from uvicorn.config import Config

from openbcs.serving import SpreadMultiprocess, reuse_port_socket
from tests.support.servers import free_port

OPENBCS = str(Path(sys.executable).with_name("openbcs"))
CONNECTIONS = 16
SEQUENTIAL, DELAYED_ACK_SECONDS = 30, 0.04


def test_each_worker_is_given_its_own_socket_on_the_same_address() -> None:
    first = reuse_port_socket("127.0.0.1", 0, 16)
    config = Config("openbcs.app:create_app_from_env", factory=True, workers=3)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        supervisor = SpreadMultiprocess(config, first)  # (uvicorn's supervisor installs signal handlers)
        slots = supervisor.slots
        assert slots[0] is first
        assert len(slots) == 3
        assert {s.getsockname() for s in slots} == {first.getsockname()}
        assert len({s.fileno() for s in slots}) == 3
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in slots)
        handed = [supervisor._process(i).process._kwargs["sockets"] for i in range(3)]  # type: ignore[attr-defined]
        assert handed == [[s] for s in slots]
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for sock in supervisor.slots if "supervisor" in locals() else [first]:
            sock.close()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _established_inodes(port: int) -> set[int]:
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # the server side of an ESTABLISHED connection
            inodes.add(int(fields[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_connections_opened_at_once_are_spread_over_both_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    process = subprocess.Popen(
        [OPENBCS, "serve", "--workers", "2", "--port", str(port), "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(CONNECTIONS)]
    try:
        deadline = time.monotonic() + 60
        while not _answers(clients[0]):
            assert time.monotonic() < deadline, "the workers never answered"
            time.sleep(0.2)
        for client in clients:  # each client keeps its one connection open
            assert client.get("/healthz").status_code == 200
        established = _established_inodes(port)
        held = {pid: len(_socket_inodes(pid) & established) for pid in _children(process.pid)}
        served = {pid: count for pid, count in held.items() if count}  # (spawn also starts a resource tracker)
        assert sum(served.values()) == CONNECTIONS
        assert len(served) == 2, held
    finally:
        for client in clients:
            client.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_answers_on_one_connection_are_not_held_back(tmp_path: Path, workers: int) -> None:
    """Each answer leaves at once (TCP_NODELAY): served from a socket uvicorn took as a file descriptor, the event
    loop saw a Unix socket and every answer waited ~40 ms for the client's delayed ACK."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    process = subprocess.Popen(
        [OPENBCS, "serve", "--workers", str(workers), "--port", str(port), "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while not _answers(client):
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
            started = time.monotonic()
            for _ in range(SEQUENTIAL):
                assert client.get("/healthz").status_code == 200
            elapsed = time.monotonic() - started
        assert elapsed < SEQUENTIAL * DELAYED_ACK_SECONDS / 2, f"{SEQUENTIAL} answers took {elapsed:.2f} s"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
