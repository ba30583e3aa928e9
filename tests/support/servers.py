"""Live servers for the official SDK and signed requests made by the SDK's own signer."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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
