"""How ``openbcs serve`` runs uvicorn: ``--workers N`` with one listening socket per worker, and the HTTP protocol
with read timeouts and a connection cap (:class:`BoundedHttpProtocol`, configured by :class:`ServingConfig`).

uvicorn shares one listening socket between its workers, and a worker that wakes up accepts every connection
waiting on it: measured, when wrk opened 32 keep-alive connections at once one worker served all of them while the
other idled (``docs/benchmarks.md``). Here each worker gets its own socket bound with ``SO_REUSEPORT`` to the same
address, so the kernel spreads new connections over the workers. Everything else — starting, health pings, replacing
a dead worker, signals — is uvicorn's ``Multiprocess``; a replacement worker gets the socket of the one it replaces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from openbcs.kernel.errors import UNAVAILABLE, BCSError

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


# --- read timeouts and the connection cap (docs/limits.md) ----------------------------------------------------------


class ServingConfig(Config):
    """uvicorn's ``Config`` with OpenBCS's read bounds, which :class:`BoundedHttpProtocol` reads (a ``Config`` is
    what uvicorn hands a protocol, and what it pickles for each ``--workers`` process)."""

    def __init__(
        self,
        app: Any,
        *,
        request_header_timeout: float,
        request_body_timeout: float,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, http=BoundedHttpProtocol, **kwargs)
        self.request_header_timeout = request_header_timeout
        self.request_body_timeout = request_body_timeout
        self.max_connections = max_connections


TOO_MANY_CONNECTIONS = "Service Unavailable: the server has too many connections open, retry the request later."


async def too_many_connections(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The answer past ``--max-connections``: 503 in the BCS shape, and the connection closed after it."""
    body = json.dumps(BCSError(UNAVAILABLE, TOO_MANY_CONNECTIONS).body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), which waits for a request as long as a client keeps the connection
    open: slow or partial requests (1,200 sockets sending half a header) held a connection each, forever.

    Here a connection whose request headers are not complete ``request_header_timeout`` seconds after it opened (or
    after the first byte of a later request on it) is closed, and so is one whose body is not complete
    ``request_body_timeout`` seconds after its headers. Past ``max_connections`` open connections a request is
    answered 503 (:func:`too_many_connections`) instead of reaching the app — what uvicorn's ``limit_concurrency``
    does, but in the BCS shape."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "request_header_timeout", 10.0)
        self.body_timeout: float = getattr(config, "request_body_timeout", 30.0)
        self.max_connections: int | None = getattr(config, "max_connections", None)
        self.read_timer: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self.read_timer = self.loop.call_later(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _expired(self, what: str, seconds: float) -> None:
        self.read_timer = None
        logger.info("Closing a connection from %s: its %s did not arrive within %s s", self.client, what, seconds)
        self._drop()

    def _drop(self) -> None:
        """Close the connection now. Over TLS ``close()`` would wait up to 30 s (asyncio's ssl_shutdown_timeout)
        for the client's close_notify, which an idle pooled client never sends: the connection would still count
        against ``max_connections``, and stopping the server waited for it (measured: 30 s with one SDK client)."""
        if self.scheme == "https":
            self.transport.abort()
        elif not self.transport.is_closing():
            self.transport.close()

    def timeout_keep_alive_handler(self) -> None:
        self._drop()

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._drop()
        else:
            self.cycle.keep_alive = False  # uvicorn's rule: the answer being written is finished first

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection belongs to the WebSocket protocol from here
        super().handle_websocket_upgrade()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "request headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.read_timer is None:  # a later request on a kept-alive connection: its headers are timed too
            self._arm(self.header_timeout, "request headers")

    def on_headers_complete(self) -> None:
        # Timed from here to on_message_complete, which httptools calls at once for a request without a body.
        self._arm(self.body_timeout, "request body")
        if self.max_connections is None or len(self.connections) <= self.max_connections:
            super().on_headers_complete()
            return
        logger.warning(
            "Answered 503: %d connections open (--max-connections %d)", len(self.connections), self.max_connections
        )
        app, self.app = self.app, too_many_connections
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
