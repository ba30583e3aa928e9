"""Live servers: the app in a thread of the test process (``LiveServer``), ``openbcs serve`` as a process of its own
(``start_serve``, ``wait_healthy``, ``stop_serve``), signed requests made by the SDK's own signer, and races."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import uvicorn

from openbcs.app import create_app
from openbcs.kernel.settings import Settings

if TYPE_CHECKING:
    from tests.support.tenants import Tenant

RACE_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sdk_signed_headers(
    *,
    method: str,
    url: str,
    ak: str,
    sk: str,
    project_id: str | None,
    body: bytes = b"",
    content_type: str | None = "application/json",
    sdk_date: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers for ``url`` signed by the official SDK's own Signer (independent of OpenBCS's verifier)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    parts = urlsplit(url)
    query = []
    for item in parts.query.split("&") if parts.query else []:
        name, _, value = item.partition("=")
        from urllib.parse import unquote

        query.append((unquote(name), unquote(value)))
    headers: dict[str, str] = {"User-Agent": "openbcs-tests"}
    if content_type:
        headers["Content-Type"] = content_type
    if project_id:
        headers["X-Project-Id"] = project_id
    if sdk_date is not None:
        headers["X-Sdk-Date"] = sdk_date.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers.update(extra_headers or {})
    request = SdkRequest(
        method=method,
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=parts.path,
        query_params=query,
        header_params=headers,
        body=body,
    )
    Signer(BasicCredentials(ak, sk, project_id)).sign(request)
    return {k: v for k, v in request.header_params.items()}


class LiveServer:
    """An OpenBCS server on a loopback port, in a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


# --- `openbcs serve` as a process ----------------------------------------------------------------------------------

MODULE = [sys.executable, "-m", "openbcs"]  # the package of this interpreter, whatever PATH holds
CONSOLE_SCRIPT = [str(Path(sys.executable).with_name("openbcs"))]  # the command a user types, as installed
HEALTHY_SECONDS = 60.0  # a cold start on a busy machine: imports, migrations, --workers processes
STOP_SECONDS = 30.0


def serve_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``OPENBCS_*`` variable (the suite sets some), plus ``extra``: a server
    started with it reads only its flags, its settings file and what the test hands it."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPENBCS_")}
    environment.update(extra)
    return environment


def cli_env() -> dict[str, str | None]:
    """For ``CliRunner().invoke(..., env=...)``, which only adds to this process's environment: every ``OPENBCS_*``
    variable removed (``None``), as :func:`serve_env` leaves them out of a server process's."""
    return {k: None for k in os.environ if k.upper().startswith("OPENBCS_")}


def start_serve(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, command: list[str] = MODULE
) -> subprocess.Popen[str]:
    """``openbcs serve ARGS`` in ``cwd`` (where it looks for ``openbcs.toml`` and puts ``./openbcs-data``), with
    :func:`serve_env` plus ``env``. Both outputs are piped for :func:`stop_serve` to return (serve writes a few lines:
    no access log, warnings only, so the pipes never fill while the test runs)."""
    return subprocess.Popen(
        [*command, "serve", *args],
        cwd=cwd,
        env=serve_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that trusts only ``ca``."""
    return ssl.create_default_context(cafile=str(ca))


def wait_healthy(
    url: str, process: subprocess.Popen[str], *, ca: Path | None = None, timeout: float = HEALTHY_SECONDS
) -> None:
    """Wait until ``url``/healthz answers 200; over HTTPS trusting only ``ca`` (serve writes it once it starts, so
    the wait covers its appearing). Fails at once, with the server's output, if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited early: {process.communicate()}"
        if ca is None or ca.exists():
            try:
                verify: ssl.SSLContext | bool = trusting(ca) if ca else True
                if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"server never became healthy within {timeout}s")


@dataclasses.dataclass(frozen=True)
class ServeOutput:
    """What a stopped ``openbcs serve`` wrote."""

    stdout: str
    stderr: str


def stop_serve(
    process: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT, *, timeout: float = STOP_SECONDS
) -> ServeOutput:
    """Stop the server by its PID with ``sig`` (SIGINT as Ctrl-C does, SIGTERM as a service manager does): serve then
    shuts down as for a user and prints its "OpenBCS stopped" line, which a kill would not; its output. A server
    still running after ``timeout`` is killed (none is left behind) and fails the test."""
    process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"server did not stop within {timeout}s of {sig.name}: {err}") from None
    return ServeOutput(out, err)


# --- racing ---------------------------------------------------------------------------------------------------------

Request = Callable[[httpx.Client], httpx.Response]


def request(tenant: Tenant, method: str, path: str, body: Any = None, **kwargs: Any) -> Request:
    """A call of ``tenant``, to be sent later by any client (``kwargs`` as for ``Tenant.call``)."""
    return lambda client: dataclasses.replace(tenant, http=client).call(method, path, body, **kwargs)


def race(url: str, requests: list[Request]) -> list[httpx.Response]:
    """Fire the requests at the same moment, each from its own thread and its own warmed-up connection."""
    clients = [httpx.Client(base_url=url, timeout=RACE_TIMEOUT) for _ in requests]
    try:
        for client in clients:
            assert client.get("/healthz").status_code == 200
        barrier = threading.Barrier(len(requests))

        def fire(index: int) -> httpx.Response:
            barrier.wait(timeout=RACE_TIMEOUT)
            return requests[index](clients[index])

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(fire, range(len(requests))))
    finally:
        for client in clients:
            client.close()
