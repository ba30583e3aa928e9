"""The server the pytest fixtures talk to, and the accounts they create on it, all through HTTP (the admin API and
IAM), so a server of the plugin's own and a running one named by ``--openbcs-url`` behave the same."""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "cn-north-4"
_AK = string.ascii_uppercase + string.digits
_SK = string.ascii_letters + string.digits


class OpenBCSError(RuntimeError):
    """An admin or IAM call the server refused."""


@dataclass
class OpenBCSAccount:
    """A fresh account: its ids, password and key pair, and a ready SDK client."""

    server: OpenBCSServer
    name: str
    password: str
    access_key: str
    secret_key: str
    domain_id: str
    project_id: str
    user_id: str
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        """A ``huaweicloudsdkbcs.v2.BcsClient`` signing with this account's AK/SK, pointed at the server."""
        if self._client is None:
            from huaweicloudsdkbcs.v2 import BcsClient
            from huaweicloudsdkcore.auth.credentials import BasicCredentials

            credentials = BasicCredentials(self.access_key, self.secret_key, self.project_id)
            self._client = (
                BcsClient.new_builder().with_credentials(credentials).with_endpoints([self.server.url]).build()
            )
        return self._client

    def token(self) -> str:
        """A fresh IAM token (``X-Auth-Token``) of this account's user."""
        return self.server.token(self.name, self.password)[0]


class OpenBCSServer:
    """A server the fixtures use: ``url`` and its admin token."""

    def __init__(self, url: str, admin_token: str | None) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any, Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - the server under test
                return answer.status, answer.headers, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise OpenBCSError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from exc

    def admin(self, method: str, path: str, body: bytes | None = None, media: str = "application/json") -> Any:
        """A call of the admin API (``/openbcs/admin/...``)."""
        if not self.admin_token:
            raise OpenBCSError(
                f"{self.url} needs its admin token for accounts and resets: run it with --admin-token and give the "
                "same token to pytest (--openbcs-admin-token or OPENBCS_ADMIN_TOKEN)"
            )
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": media}
        return self._call(method, f"/openbcs/admin/{path}", body, headers)[2]

    def reset(self) -> dict[str, int]:
        """Delete every account, instance, operation, event and certificate."""
        return dict(self.admin("POST", "reset")["deleted"])

    def apply(self, seed: str) -> dict[str, Any]:
        """Apply a seed document (YAML or JSON, as ``openbcs apply`` reads it)."""
        return dict(self.admin("POST", "apply", seed.encode(), "application/yaml"))

    def token(self, name: str, password: str) -> tuple[str, dict[str, Any]]:
        """An IAM token of account ``name``'s own user, with the token body (its ids)."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": name, "password": password, "domain": {"name": name}}},
                },
                "scope": {"project": {"name": REGION}},
            }
        }
        _, headers, answer = self._call(
            "POST", "/v3/auth/tokens?nocatalog=true", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        return headers["X-Subject-Token"], answer["token"]

    def create_account(self, name: str | None = None, *, quota: int | None = None) -> OpenBCSAccount:
        """A new account with a known password and key pair (through a seed document)."""
        name = name or f"test-{secrets.token_hex(5)}"
        password = secrets.token_urlsafe(12)
        access_key = "".join(secrets.choice(_AK) for _ in range(20))
        secret_key = "".join(secrets.choice(_SK) for _ in range(40))
        account: dict[str, Any] = {
            "name": name,
            "password": password,
            "access_keys": [{"access_key": access_key, "secret_key": secret_key}],
        }
        if quota is not None:
            account["quota"] = quota
        self.apply(json.dumps({"accounts": [account]}))
        _, token = self.token(name, password)
        return OpenBCSAccount(
            self, name, password, access_key, secret_key, token["project"]["domain"]["id"], token["project"]["id"],
            token["user"]["id"],
        )  # fmt: skip


class LocalServer:
    """OpenBCS on a free loopback port in a thread of the test process, on a temporary SQLite database."""

    def __init__(self, data_dir: Path) -> None:
        import uvicorn

        from openbcs.app import create_app
        from openbcs.kernel.settings import Settings

        self.admin_token = secrets.token_urlsafe(24)
        settings = Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'openbcs.db'}",
            operation_step_seconds=0,
            worker_poll_seconds=0.05,
            admin_token=self.admin_token,
            log_level="WARNING",
        )
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="openbcs-server", daemon=True)
        self.url = ""

    def start(self) -> OpenBCSServer:
        """Start and wait until it listens."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise OpenBCSError("the OpenBCS server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return OpenBCSServer(self.url, self.admin_token)

    def stop(self) -> None:
        """Stop the server (its operation worker and database with it)."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
