"""Read bounds of the HTTP server (``openbcs.serving.BoundedHttpProtocol``, docs/limits.md), with raw sockets against
a live server with short bounds: a connection whose headers or body do not arrive in time is closed, the server keeps
answering everyone else meanwhile, and past ``max_connections`` a request gets 503 in the BCS shape."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from openbcs.serving import ServingConfig
from tests.support.servers import free_port

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
# Upper bounds loose enough for a loaded 2-core machine: what they catch is a connection never closed, or a server
# that stops answering others while slow connections are open (either would wait forever, not seconds).
SLACK = 5.0
ANSWERED = 3.0
SLOW_LOGIN = (
    b"POST /v3/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{"
)


@contextmanager
def serving(settings: Settings, *, header: float, body: float, max_connections: int) -> Iterator[int]:
    """The app on a loopback port, served with the bounds given (as ``openbcs serve`` does); yields the port."""
    port = free_port()
    config = ServingConfig(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        request_header_timeout=header,
        request_body_timeout=body,
        max_connections=max_connections,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def port(settings: Settings) -> Iterator[int]:
    with serving(settings, header=HEADER_TIMEOUT, body=BODY_TIMEOUT, max_connections=1000) as bound:
        yield bound


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _closed_after(sock: socket.socket, started: float) -> tuple[bytes, float]:
    """Everything the server sent until it closed the connection, and the seconds from ``started`` to the close."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def _healthy(port: int) -> float:
    """Seconds a fresh client waits for a 200 from /healthz."""
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    return time.monotonic() - started


def test_connection_sending_nothing_or_partial_headers_is_closed(port: int) -> None:
    silent = _connect(port)
    partial = _connect(port)
    started = time.monotonic()
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    assert _healthy(port) < ANSWERED  # others are answered meanwhile
    for sock in (silent, partial):
        received, elapsed = _closed_after(sock, started)
        assert received == b""  # closed without an answer
        assert HEADER_TIMEOUT - 0.1 < elapsed < HEADER_TIMEOUT + SLACK
        sock.close()


def test_headers_arriving_in_pieces_within_the_bound_are_answered(port: int) -> None:
    with _connect(port) as sock:
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(HEADER_TIMEOUT / 10)
        received, _ = _closed_after(sock, time.monotonic())
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(received.partition(b"\r\n\r\n")[2])["status"] == "ok"


def test_next_request_on_a_kept_alive_connection_is_timed_too(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        time.sleep(HEADER_TIMEOUT * 1.5)  # idle between requests: uvicorn's keep-alive bound (5 s) applies, not ours
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        received, elapsed = _closed_after(sock, started)
    assert received == b""
    assert HEADER_TIMEOUT - 0.1 < elapsed < HEADER_TIMEOUT + SLACK


def test_slow_body_is_cut_at_the_bound_however_steadily_it_trickles(port: int) -> None:
    body = json.dumps({"auth": {"identity": {"methods": ["password"]}}}).encode()
    with _connect(port) as sock:
        sock.sendall(
            b"POST /v3/auth/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        started = time.monotonic()
        sent = 0
        try:
            for byte in body:  # one byte every 0.1 s: never idle long, but the whole body takes 5 s
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, elapsed = _closed_after(sock, started)
    assert received == b""
    assert sent < len(body)  # cut before the client finished
    assert BODY_TIMEOUT - 0.1 < elapsed < BODY_TIMEOUT + SLACK


def test_body_arriving_within_the_bound_is_answered(port: int) -> None:
    body = b'{"auth": {"identity": {"methods": ["password"]}}}'
    with _connect(port) as sock:
        sock.sendall(
            b"POST /v3/auth/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for index in range(0, len(body), 10):
            sock.sendall(body[index : index + 10])
            time.sleep(BODY_TIMEOUT / 20)
        received, _ = _closed_after(sock, time.monotonic())
    status, _, rest = received.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 Bad Request"  # the app read the whole body and judged it
    assert "error" in json.loads(rest.partition(b"\r\n\r\n")[2])


def test_many_slow_connections_are_all_closed_while_others_are_served(port: int) -> None:
    slow = [_connect(port) for _ in range(60)]
    started = time.monotonic()
    for index, sock in enumerate(slow):
        # Half stop inside their headers, half inside the body of a login (whose route waits for the whole body).
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if index % 2 else SLOW_LOGIN)
    waits = [_healthy(port) for _ in range(5)]
    assert max(waits) < ANSWERED
    for index, sock in enumerate(slow):
        received, elapsed = _closed_after(sock, started)
        if index % 2:
            assert received == b""
            assert HEADER_TIMEOUT - 0.1 < elapsed < HEADER_TIMEOUT + SLACK
        else:  # the app may answer a login early (429 past the per-source rate) but the body still never arrives
            assert received == b"" or received.startswith(b"HTTP/1.1 429 ")
            assert BODY_TIMEOUT - 0.1 < elapsed < BODY_TIMEOUT + SLACK
        sock.close()
    assert _healthy(port) < ANSWERED


def _status_within(url: str, wanted: int, seconds: float = 10) -> httpx.Response:
    """GET ``url`` until it answers ``wanted`` (the server may not have seen sockets open or close yet)."""
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(url, timeout=5)
        if response.status_code == wanted or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_connections_past_the_cap_are_answered_503_in_the_bcs_shape(settings: Settings) -> None:
    with serving(settings, header=30, body=30, max_connections=4) as bound:
        url = f"http://127.0.0.1:{bound}/healthz"
        held = [_connect(bound) for _ in range(4)]
        try:
            refused = _status_within(url, 503)
        finally:
            for sock in held:
                sock.close()
        assert refused.status_code == 503
        assert refused.json() == {
            "error_code": "BCS.5030503",
            "error_msg": "Service Unavailable: the server has too many connections open, retry the request later.",
        }
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["connection"] == "close"
        answered = _status_within(url, 200)  # the held connections are gone: served again
        assert answered.status_code == 200
        assert answered.json()["status"] == "ok"
