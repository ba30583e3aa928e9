"""``openbcs serve --workers N``: uvicorn's process supervisor, with one listening socket per worker.

uvicorn shares one listening socket between its workers, and a worker that wakes up accepts every connection
waiting on it: measured, when wrk opened 32 keep-alive connections at once one worker served all of them while the
other idled (``docs/benchmarks.md``). Here each worker gets its own socket bound with ``SO_REUSEPORT`` to the same
address, so the kernel spreads new connections over the workers. Everything else — starting, health pings, replacing
a dead worker, signals — is uvicorn's ``Multiprocess``; a replacement worker gets the socket of the one it replaces.
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("uvicorn.error")


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``(host, port)`` that other sockets with ``SO_REUSEPORT`` may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class SpreadMultiprocess(Multiprocess):
    """``Multiprocess`` whose worker ``i`` serves only listening socket ``i``; ``first`` is already bound with
    ``SO_REUSEPORT`` (``openbcs serve`` binds before it migrates), the others join it on the same address."""

    def __init__(self, config: Config, first: socket.socket) -> None:
        host, port = first.getsockname()[:2]  # the port picked for "--port 0" too
        others = [reuse_port_socket(host, port, config.backlog) for _ in range(config.workers - 1)]
        super().__init__(config, sockets=[first, *others])
        self.slots = list(self.sockets)

    def _process(self, slot: int) -> Process:
        return Process(self.config, [self.slots[slot]])

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            process = self._process(slot)
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        # uvicorn's loop, with the dead worker's own socket handed to its replacement.
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set() or process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting it would fail the same way
                logger.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            replacement = self._process(slot)
            replacement.start()
            self.processes[slot] = replacement

    def restart_all(self) -> None:
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            replacement = self._process(slot)
            replacement.start()
            if not replacement.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                replacement.kill()
                replacement.join()
                return
            old.terminate()
            old.join()
            self.processes[slot] = replacement


def run_workers(config: Config, first: socket.socket) -> None:
    """Serve ``config`` (an import string app, ``config.workers`` > 1) on ``first`` and one more socket per further
    worker, until a signal stops the supervisor."""
    SpreadMultiprocess(config, first).run()
