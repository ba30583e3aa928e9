"""``Tenant``: one account's BCS API over one httpx client — the ``client`` fixture (a ``TestClient``), a frozen app's
``TestClient``, or ``httpx.Client(base_url=live_server.url)``. ``tenant.call(method, path, body)`` sends ``body``
as JSON with the account's token; ``tenant.ok(...)`` asserts 200. With ``drive`` (a ``Database``) set,
:meth:`Tenant.wait` runs pending operations itself, for apps whose worker is stopped or frozen."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount, issue_token
from tests.support.bodies import CHANNEL, create_body, invite_body
from tests.support.operations import drive_operations


@dataclass
class Tenant:
    """The BCS API of one account over one httpx client."""

    http: httpx.Client | Any
    account: TestAccount
    token: str
    drive: Database | None = None

    @property
    def project_id(self) -> str:
        return self.account.project_id

    @property
    def domain_id(self) -> str:
        return self.account.domain_id

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    @property
    def base(self) -> str:
        """``/v2/<project id>``."""
        return f"/v2/{self.project_id}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        project_id: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        **params: Any,
    ) -> httpx.Response:
        """``method /v2/<project><path>`` with the token; ``body`` as JSON (``raw`` bytes instead, if given)."""
        sent = {**self.headers, **(headers or {})}
        content = raw
        if body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
        return self.http.request(  # type: ignore[no-any-return]
            method, f"/v2/{project_id or self.project_id}{path}", content=content, params=params or None, headers=sent
        )

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """``call`` that must answer 200; its JSON."""
        response = self.call(method, path, body, **params)
        assert response.status_code == 200, response.text
        return response.json()

    # --- instances --------------------------------------------------------------------------------------------------

    def start_creation(self, body: dict[str, Any]) -> dict[str, Any]:
        """CreateNewBlockchain (asserts 200); the answer (id, name, operation id)."""
        return dict(self.ok("POST", "/blockchains", body))

    def create_instance(self, body: dict[str, Any] | str | None = None, *, wait: bool = True, **overrides: Any) -> str:
        """CreateNewBlockchain of ``body`` (or ``create_body(name, **overrides)``); waits until it finished (and the
        instance is ``Normal``) unless ``wait=False``; the instance id."""
        if not isinstance(body, dict):
            body = create_body(body or "bcs-test", **overrides)
        created = self.start_creation(body)
        if wait:
            self.wait(created["operation_id"])
        return str(created["blockchain_id"])

    def update(self, blockchain_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}", body)

    def delete_instance(self, blockchain_id: str) -> httpx.Response:
        return self.call("DELETE", f"/blockchains/{blockchain_id}")

    def detail(self, blockchain_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}"))

    def status(self, blockchain_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}/status"))

    def nodes(self, blockchain_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}/nodes")["node_orgs"])

    def instance_ids(self) -> list[str]:
        """Ids of ListBlockchains (asserts 200 and that ``count`` matches)."""
        body = self.ok("GET", "/blockchains")
        assert body["count"] == len(body["blockchains"])
        return [b["id"] for b in body["blockchains"]]

    def quota(self) -> dict[str, Any]:
        """The instance quota of ListQuotas (asserts 200 and that it is the only resource)."""
        (resource,) = self.ok("GET", "/quotas")["resources"]
        return dict(resource)

    # --- channels ---------------------------------------------------------------------------------------------------

    def channels(self, blockchain_id: str) -> list[dict[str, Any]]:
        return list(self.ok("GET", f"/blockchains/{blockchain_id}/channels")["channels"])

    def channel(self, blockchain_id: str, name: str = CHANNEL) -> dict[str, Any]:
        (found,) = [c for c in self.channels(blockchain_id) if c["name"] == name]
        return found

    def history(self, blockchain_id: str, channel: str = CHANNEL) -> dict[str, Any]:
        """The channel's configuration history (OpenBCS extension)."""
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}/channels/{channel}/config-history"))

    def create_channels(self, blockchain_id: str, *names: str, description: str | None = None) -> httpx.Response:
        entries = [{"channel_name": n, **({"channel_description": description} if description else {})} for n in names]
        return self.call("POST", f"/blockchains/{blockchain_id}/channels", {"channels": entries})

    def add_peers(self, blockchain_id: str, channel: str, peers: dict[str, int]) -> httpx.Response:
        body = {"channel_peers": [{"channel_name": channel, "peers": peers}]}
        return self.call("POST", f"/blockchains/{blockchain_id}/channels/peers", body)

    def remove_peers(self, blockchain_id: str, channel: str, org: str, peers: int) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}/{channel}/peers/quit", {"org_name": org, "peers": peers})

    def remove_orgs(self, blockchain_id: str, channel: str, orgs: list[str]) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}/{channel}/orgs/quit", {"org_names": orgs})

    def delete_channel(self, blockchain_id: str, channel: str) -> httpx.Response:
        return self.call("DELETE", f"/blockchains/{blockchain_id}/channel/{channel}")

    def create_channel(self, blockchain_id: str, name: str, *, orgs: dict[str, int] | None = None) -> None:
        """BatchCreateChannels of one channel, then (if ``orgs``) BatchAddPeersToChannel; waits for both."""
        self.run(self.create_channels(blockchain_id, name))
        if orgs:
            self.run(self.add_peers(blockchain_id, name, orgs))

    # --- operations -------------------------------------------------------------------------------------------------

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """ListOpRecord (asserts 200 and ``count``)."""
        body = self.ok("GET", "/operation/record", **filters)
        assert body["count"] == len(body["operation_records"])
        return list(body["operation_records"])

    def record(self, operation_id: str) -> dict[str, Any]:
        (found,) = self.records(operation_id=operation_id)
        return found

    def wait(self, operation_id: str, *, timeout: float = 60, expect: str = "finished") -> dict[str, Any]:
        """The operation's record once it ended (driven from here when ``drive`` is set); it must be ``expect``."""
        if self.drive is not None:
            drive_operations(self.drive, operation_id=operation_id)
        deadline = time.monotonic() + timeout
        while True:
            record = self.record(operation_id)
            if record["operation_status"] not in ("waiting", "processing"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"operation {operation_id} still {record['operation_status']} after {timeout} s")
            time.sleep(0.01)
        assert record["operation_status"] == expect, record
        return record

    def run(self, response: httpx.Response) -> dict[str, Any]:
        """An accepted asynchronous call: 200 with only an operation id; its finished record."""
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["operation_id"], body
        return self.wait(body["operation_id"])

    # --- membership -------------------------------------------------------------------------------------------------

    def invite(self, bcs_id: str, channel: str, *names: str, invitor_username: str | None = None) -> httpx.Response:
        body = invite_body(bcs_id, channel, *names, invitor_username=invitor_username)
        return self.call("POST", "/members/invitations", body)

    def handle(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("POST", "/notification/handle", body)

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/notifications")["notifications"])

    def members(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/members")["members"])

    def delete_invites(self, bcs_id: str, channel: str, entries: list[dict[str, Any]]) -> httpx.Response:
        body = {"bcs_id": bcs_id, "channel_name": channel, "invited_userinfo": entries}
        return self.call("DELETE", "/members/invitations", body)

    def quit(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("PUT", "/members/quit", body)


def new_tenant(
    http: httpx.Client | Any, make_account: Any, name: str | None = None, *, drive: Database | None = None
) -> Tenant:
    """A fresh account (``make_account`` fixture) and a token for it, issued by ``http``."""
    account = make_account(name)
    return Tenant(http, account, issue_token(http, account), drive)
