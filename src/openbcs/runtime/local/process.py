"""One Fabric node as a child process: start it from a ``NodeLaunch``, ask ``/healthz``, stop it, read its log.

Each node runs in its own session (its own process group), so a signal for the node reaches whatever it started
and nothing of the server's group. The kernel kills a node with SIGKILL when the server dies (Linux
``PR_SET_PDEATHSIG``), so no node outlives the server, even after a ``kill -9`` of the server.

Caveat: the kernel sends that signal when the *thread* that forked the child exits, not the process. Start nodes
from a thread that lives as long as the nodes should (the main thread, or a long-lived supervisor thread), never
from a short-lived worker thread, or the nodes die with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from openbcs.runtime.local.render import NodeLaunch

POLL_INTERVAL = 0.1  # seconds between checks in every wait loop
START_LOG_LINES = 20  # log lines carried by a NodeStartError
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

try:  # looked up once here: the child, between fork and exec, should do as little as possible
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux: nodes are then not tied to the server's life
    _prctl = None


class NodeStartError(Exception):
    """A node exited or did not become healthy in time. Carries its exit code (None: still running) and the
    last lines of its log, which say why (Fabric logs the failing setting before it exits)."""

    def __init__(self, message: str, exit_code: int | None, log_tail: list[str]) -> None:
        super().__init__(message + ("\n" + "\n".join(log_tail) if log_tail else ""))
        self.exit_code = exit_code
        self.log_tail = log_tail


class NodeProcess:
    """A node's process, started at most once at a time; ``start`` again after ``stop`` or a crash."""

    def __init__(self) -> None:
        self._popen: subprocess.Popen[bytes] | None = None
        self._launch: NodeLaunch | None = None

    @property
    def pid(self) -> int | None:
        """The process id of the last start (also its process group id), None if never started."""
        return None if self._popen is None else self._popen.pid

    @property
    def launch(self) -> NodeLaunch | None:
        """What the last ``start`` ran."""
        return self._launch

    def start(self, launch: NodeLaunch) -> None:
        """Start the node; its stdout and stderr are appended to ``launch.log_path``. Returns at once (see
        ``wait_healthy``). Call from a long-lived thread (see the module's caveat)."""
        if self.running():
            raise RuntimeError(f"already running as pid {self.pid}")
        launch.log_path.parent.mkdir(parents=True, exist_ok=True)
        with launch.log_path.open("ab") as log:
            # A marker line: the log spans restarts, and tail() must show which run a line belongs to.
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            log.write(f"--- openbcs: {stamp} starting {' '.join(launch.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(  # noqa: S603 - argv comes from render.write_node, no shell
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with(os.getpid()),  # prctl, getppid only: safe after fork
                close_fds=True,
            )
        self._launch = launch

    def running(self) -> bool:
        """True while the process has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def exit_code(self) -> int | None:
        """The exit status once exited (negative: killed by that signal, as ``subprocess`` reports it), else None."""
        return None if self._popen is None else self._popen.poll()

    def healthy(self, timeout: float = 1.0) -> tuple[bool, str]:
        """Ask the node's ``/healthz``: (True, "OK") on 200, else False and why (failed checks, no answer, exited)."""
        if self._launch is None or self._popen is None:
            return False, "not started"
        if not self.running():
            return False, f"exited with code {self.exit_code()}"
        return check_health(self._launch.health_url, timeout)

    def wait_healthy(self, deadline_seconds: float) -> None:
        """Wait until ``/healthz`` answers 200; raise ``NodeStartError`` if the node exits or the time runs out.

        The node is left running after a time-out: the caller decides whether to stop it.
        """
        deadline = time.monotonic() + deadline_seconds
        why = "not asked yet"
        while True:
            if self._popen is None:
                raise NodeStartError("node not started", None, [])
            if not self.running():
                code = self.exit_code()
                raise NodeStartError(
                    f"{self._name()} exited with code {code} before it was healthy; last log lines:",
                    code,
                    self.tail(START_LOG_LINES),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NodeStartError(
                    f"{self._name()} not healthy after {deadline_seconds:g} s ({why}); last log lines:",
                    None,
                    self.tail(START_LOG_LINES),
                )
            ok, why = self.healthy(timeout=max(0.05, min(1.0, remaining)))
            if ok:
                return
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the node's process group, SIGKILL it after ``timeout`` seconds; return the exit code (None if
        never started). Whatever else is left in the group is killed too."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not _exited_unreaped(popen.pid) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
            # Still unreaped, the leader keeps its group id reserved: killing the group cannot hit a stranger.
            # SIGKILL ends the leader if it ignored SIGTERM and sweeps any child it left behind.
            if popen.returncode is None:
                _signal_group(popen.pid, signal.SIGKILL)
        return popen.wait()

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines of the node's log (all runs), without line ends."""
        if self._launch is None:
            return []
        return tail_file(self._launch.log_path, lines)

    def _name(self) -> str:
        return Path(self._launch.argv[0]).name if self._launch else "node"


def check_health(url: str, timeout: float) -> tuple[bool, str]:
    """GET a Fabric operations ``/healthz``: 200 ``{"status":"OK"}``, or 503 with ``failed_checks``.

    Plain ``http.client``: no proxy settings of the environment apply to a loopback node.
    """
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        return False, f"no answer at {url}: {error}"
    finally:
        connection.close()
    if response.status == http.client.OK:
        return True, "OK"
    try:
        answer = json.loads(body)
        failed = [f"{check.get('component')}: {check.get('reason')}" for check in answer.get("failed_checks") or []]
        message = "; ".join(failed) or str(answer.get("status"))
    except (ValueError, AttributeError):
        message = body.decode(errors="replace").strip()[:200]
    return False, f"{response.status} {message}"


def port_is_free(host: str, port: int) -> bool:
    """True if a listener could bind ``host:port`` now (SO_REUSEADDR, as Go's listeners: TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def tail_file(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a file, reading it backwards in blocks (logs grow large); [] if absent."""
    if lines <= 0:
        return []
    try:
        with path.open("rb") as file:
            position = file.seek(0, os.SEEK_END)
            data = b""
            while position > 0 and data.count(b"\n") <= lines:
                step = min(64 * 1024, position)
                position -= step
                file.seek(position)
                data = file.read(step) + data
    except FileNotFoundError:
        return []
    return data.decode(errors="replace").splitlines()[-lines:]


def _die_with(parent: int) -> Callable[[], None]:
    """The child's last step before exec: ask for SIGKILL when the parent (thread) dies."""

    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # The node is its session's leader (start_new_session), so its pid is its process group id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _exited_unreaped(pid: int) -> bool:
    """True once ``pid`` exited (left as a zombie: WNOWAIT), or is already reaped."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already (e.g. by a concurrent poll())
        return True
    return info is not None
