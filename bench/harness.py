"""Processes and HTTP: free ports, ``openbcs serve`` and the floor app under the same uvicorn settings, health checks.

Every command runs with the interpreter that runs the bench (``sys.executable``): the ``openbcs`` console script
installed next to it, or ``python -m uvicorn`` for the floor. ``openbcs serve`` calls ``uvicorn.run`` with
``access_log=False, log_level="warning"`` and the default loop and HTTP implementations (uvloop, httptools); the floor
gets the same through uvicorn's command line (``--no-access-log --log-level warning``) and the same worker count.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HEALTH_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of child processes: no inherited ``OPENBCS_*`` settings, HOME in the bench's temp dir (the
    Huawei SDK writes ``$HOME/.huaweicloud``), unbuffered output, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def openbcs_command() -> list[str]:
    """The ``openbcs`` console script next to this interpreter, else the CLI through ``python -c``."""
    script = Path(sys.executable).parent / "openbcs"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from openbcs.cli import main; main()"]


def serve_command(
    data_dir: Path, port: int, *, workers: int = 1, database_url: str | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """``openbcs serve`` on loopback."""
    cmd = [*openbcs_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    cmd += ["--workers", str(workers)]
    if database_url:
        cmd += ["--database-url", database_url]
    return [*cmd, *extra]


def floor_command(port: int, *, workers: int = 1) -> list[str]:
    """The floor app (``bench/floors/app.py``) under uvicorn with ``openbcs serve``'s settings."""
    return [
        *(sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "bench.floors.app:app"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--no-access-log", "--log-level", "warning", "--loop", "asyncio"),
    ]


def floor_env(env: dict[str, str], *, database: str, server_key: Path, skew_seconds: int = 900) -> dict[str, str]:
    """The floor's configuration: the database (SQLite path or PostgreSQL URL) and the server key file."""
    return {
        **env,
        "FLOOR_DATABASE": database,
        "FLOOR_SERVER_KEY": str(server_key),
        "FLOOR_SKEW_SECONDS": str(skew_seconds),
    }


def run_cli(args: Sequence[str], *, env: dict[str, str], timeout: float = 300) -> str:
    """Run ``openbcs ARGS``; its standard output, or BenchError with its error output."""
    done = subprocess.run(
        [*openbcs_command(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"openbcs {' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


@dataclass
class Server:
    """A started server: its process (the root of its tree), port and log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    started_seconds: float = 0.0  # launch to healthy

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def http_call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 30.0,
) -> tuple[int, Any, dict[str, str]]:
    """One request on loopback: status, the body as JSON (or bytes when it is not JSON), headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        payload = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    try:
        return response.status, json.loads(payload) if payload else None, answer_headers
    except ValueError:
        return response.status, payload, answer_headers


def wait_healthy(port: int, path: str, proc: subprocess.Popen[bytes], started: float) -> float:
    """Poll ``path`` every 5 ms until it answers 200; the seconds since ``started``."""
    deadline = started + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with code {proc.returncode} before becoming healthy")
        try:
            status = http_call(port, "GET", path, timeout=1.0)[0]
        except OSError:
            status = 0
        if status == 200:
            return time.monotonic() - started
        time.sleep(0.005)
    raise BenchError(f"no 200 from {path} on port {port} within {HEALTH_TIMEOUT:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (uvicorn stops its workers), SIGKILL its process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def launch(name: str, cmd: list[str], *, env: dict[str, str], log: Path, port: int, health: str) -> Server:
    """Start ``cmd`` in its own session with output appended to ``log`` and wait until ``health`` answers 200."""
    with log.open("ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        seconds = wait_healthy(port, health, proc, started)
    except BaseException:
        stop(proc)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        print(f"--- {name} log (end) ---\n{tail}", file=sys.stderr)
        raise
    return Server(name, proc, port, log, seconds)


@contextmanager
def running(name: str, cmd: list[str], *, env: dict[str, str], log: Path, port: int, health: str) -> Iterator[Server]:
    """:func:`launch`, stopped when the block ends."""
    server = launch(name, cmd, env=env, log=log, port=port, health=health)
    try:
        yield server
    finally:
        stop(server.proc)


_HOLD = re.compile(r"longest write transaction held the database ([\d.]+) ms")


def longest_hold_ms(log: Path) -> float | None:
    """The longest write transaction of a stopped ``openbcs serve`` (it logs it when it stops), from its log."""
    found = _HOLD.findall(log.read_text(errors="replace")) if log.exists() else []
    return max(float(v) for v in found) if found else None


TOKEN_PATH = "/v3/auth/tokens?nocatalog=true"
TOKEN_HEADERS = {"Content-Type": "application/json;charset=utf8"}


def token_request(*, user: str, domain: str, password: str, region: str) -> str:
    """The body of ``POST /v3/auth/tokens`` with the password method, scoped to the region's project."""
    user_ref = {"name": user, "password": password, "domain": {"name": domain}}
    identity = {"methods": ["password"], "password": {"user": user_ref}}
    return json.dumps({"auth": {"identity": identity, "scope": {"project": {"name": region}}}})


def get_token(port: int, *, user: str, domain: str, password: str, region: str) -> str:
    """A project-scoped token from ``POST /v3/auth/tokens``."""
    body = token_request(user=user, domain=domain, password=password, region=region).encode()
    status, answer, headers = http_call(port, "POST", TOKEN_PATH, TOKEN_HEADERS, body)
    token = headers.get("x-subject-token")
    if status != 201 or not token:
        raise BenchError(f"POST /v3/auth/tokens answered {status}: {answer!r:.300}")
    return token
