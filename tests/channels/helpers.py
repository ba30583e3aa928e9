"""Helpers of the channel tests: a small HTTP client of one account, instance bodies, waiting, stored state."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from openbcs.network.config_history import GENESIS_PREVIOUS_HASH, block_hash
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)
from tests.support import TestAccount, token_body

PASSWORD = "Passw0rd!x"
OPERATION_ID = r"^BCSSVC01-(04|06)-\d{19}$"
DEFAULT_ORG = "organization"
# Tables whose rows a refused call must leave exactly as they were.
MODEL_TABLES = (
    "blockchains",
    "blockchain_orgs",
    "blockchain_nodes",
    "channels",
    "channel_orgs",
    "channel_peers",
    "channel_config_blocks",
    "operations",
    "operation_sub_steps",
)


def create_body(
    name: str,
    *,
    peer_orgs: list[tuple[str, int]] | None = None,
    channels: list[tuple[str, list[str]]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid CreateNewBlockchain body (Fabric 2.2, etcdraft, 3 orderers, existing CCE cluster)."""
    body: dict[str, Any] = {
        "name": name,
        "version_type": 4,
        "enterprise_project_id": "0",
        "resource_password": PASSWORD,
        "cluster_type": "cce",
        "create_new_cluster": False,
        "cce_cluster_info": {
            "cluster_id": "cce-cluster-id",
            "cluster_name": "cce-cluster",
            "cluster_platform_type": "VirtualMachine",
        },
        "evs_disk_type": "SSD",
        "orderer_node_number": 3,
    }
    if peer_orgs is not None:
        body["peer_orgs"] = [{"name": n, "node_count": c} for n, c in peer_orgs]
    if channels is not None:
        body["channels"] = [{"name": n, "org_names": orgs} for n, orgs in channels]
    body.update(extra)
    return body


def org_hash(blockchain_id: str, org: str) -> str:
    """The organisation's ``name_hash`` as docs/instances.md defines it (computed here, not by OpenBCS)."""
    return hashlib.sha1(f"{blockchain_id}/{org}".encode(), usedforsecurity=False).hexdigest()


def msp_id(blockchain_id: str, org: str) -> str:
    return f"{org_hash(blockchain_id, org)}MSP"


def peer_names(blockchain_id: str, org: str, count: int, *, start: int = 0) -> list[str]:
    """``peer-<hash>-<n>`` for n in ``start .. start + count - 1``."""
    return [f"peer-{org_hash(blockchain_id, org)}-{n}" for n in range(start, start + count)]


def orderer_names(blockchain_id: str, count: int = 3) -> list[str]:
    return [f"orderer-{org_hash(blockchain_id, 'orderer')}-{n}" for n in range(count)]


def config_org(blockchain_id: str, org: str) -> dict[str, str]:
    """An organisation as a configuration block lists it."""
    return {"blockchain_id": blockchain_id, "name": org, "msp_id": msp_id(blockchain_id, org)}


def block_orgs(blockchain_id: str, *orgs: str) -> list[dict[str, str]]:
    """A block's org set: sorted by MSP id."""
    return sorted((config_org(blockchain_id, o) for o in orgs), key=lambda o: o["msp_id"])


def issue_token(client: httpx.Client, account: TestAccount) -> str:
    """A token of ``account`` from ``POST /v3/auth/tokens``."""
    response = client.post(
        "/v3/auth/tokens",
        content=token_body(account.name, account.password, account.name),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def error(response: httpx.Response) -> tuple[int, str]:
    """``(status, error_code)`` of an answer."""
    return response.status_code, response.json().get("error_code", "")


@dataclass
class Bcs:
    """The BCS API of one account, over a TestClient or an httpx client of a live server."""

    client: httpx.Client
    account: TestAccount
    token: str

    @property
    def project_id(self) -> str:
        return self.account.project_id

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.client.request(
            method,
            f"/v2/{self.project_id}{path}",
            json=body,
            params=params or None,
            headers={"X-Auth-Token": self.token},
        )

    # --- instances -----------------------------------------------------------------------------------------------

    def create_instance(self, name: str, *, wait: bool = True, **kwargs: Any) -> str:
        response = self.call("POST", "/blockchains", create_body(name, **kwargs))
        assert response.status_code == 200, response.text
        if wait:
            self.wait(response.json()["operation_id"])
        return str(response.json()["blockchain_id"])

    def update(self, blockchain_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}", body)

    def delete_instance(self, blockchain_id: str) -> httpx.Response:
        return self.call("DELETE", f"/blockchains/{blockchain_id}")

    def detail(self, blockchain_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/blockchains/{blockchain_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def nodes(self, blockchain_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/blockchains/{blockchain_id}/nodes")
        assert response.status_code == 200, response.text
        return dict(response.json()["node_orgs"])

    def instances(self) -> list[str]:
        response = self.call("GET", "/blockchains")
        assert response.status_code == 200, response.text
        return [b["id"] for b in response.json()["blockchains"]]

    def quota_used(self) -> int:
        response = self.call("GET", "/quotas")
        assert response.status_code == 200, response.text
        (resource,) = response.json()["resources"]
        return int(resource["used"])

    # --- channels ------------------------------------------------------------------------------------------------

    def create_channels(self, blockchain_id: str, *names: str, description: str | None = None) -> httpx.Response:
        channels = [
            {"channel_name": n, **({"channel_description": description} if description is not None else {})}
            for n in names
        ]
        return self.call("POST", f"/blockchains/{blockchain_id}/channels", {"channels": channels})

    def add_peers(self, blockchain_id: str, channel: str, peers: dict[str, int]) -> httpx.Response:
        body = {"channel_peers": [{"channel_name": channel, "peers": peers}]}
        return self.call("POST", f"/blockchains/{blockchain_id}/channels/peers", body)

    def remove_peers(self, blockchain_id: str, channel: str, org: str, peers: int) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}/{channel}/peers/quit", {"org_name": org, "peers": peers})

    def remove_orgs(self, blockchain_id: str, channel: str, orgs: list[str]) -> httpx.Response:
        return self.call("PUT", f"/blockchains/{blockchain_id}/{channel}/orgs/quit", {"org_names": orgs})

    def delete_channel(self, blockchain_id: str, channel: str) -> httpx.Response:
        return self.call("DELETE", f"/blockchains/{blockchain_id}/channel/{channel}")

    def channels(self, blockchain_id: str) -> list[dict[str, Any]]:
        response = self.call("GET", f"/blockchains/{blockchain_id}/channels")
        assert response.status_code == 200, response.text
        return list(response.json()["channels"])

    def channel(self, blockchain_id: str, name: str) -> dict[str, Any]:
        (found,) = [c for c in self.channels(blockchain_id) if c["name"] == name]
        return found

    def history(self, blockchain_id: str, channel: str) -> dict[str, Any]:
        response = self.call("GET", f"/blockchains/{blockchain_id}/channels/{channel}/config-history")
        assert response.status_code == 200, response.text
        return dict(response.json())

    # --- operations ----------------------------------------------------------------------------------------------

    def record(self, operation_id: str) -> dict[str, Any]:
        response = self.call("GET", "/operation/record", operation_id=operation_id)
        assert response.status_code == 200, response.text
        (record,) = response.json()["operation_records"]
        return dict(record)

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        response = self.call("GET", "/operation/record", **filters)
        assert response.status_code == 200, response.text
        return list(response.json()["operation_records"])

    def wait(self, operation_id: str, *, timeout: float = 60) -> dict[str, Any]:
        """The operation's record once it ended; the test fails unless it finished."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.record(operation_id)
            if record["operation_status"] not in ("waiting", "processing"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"operation {operation_id} still {record['operation_status']} after {timeout} s")
            time.sleep(0.01)
        assert record["operation_status"] == "finished", record
        return record

    def run(self, response: httpx.Response) -> dict[str, Any]:
        """An accepted channel call: 200 with only an operation id; its finished record."""
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["operation_id"], body
        return self.wait(body["operation_id"])


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the model's tables, by primary key."""
    tables = Base.metadata.tables
    with db.engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(select(tables[name]).order_by(*tables[name].primary_key.columns))]
            for name in MODEL_TABLES
        }


def count_rows(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return len(list(conn.execute(select(Base.metadata.tables[table]))))


def check_links(history: dict[str, Any]) -> None:
    """The blocks of a config-history answer are numbered from 0 and each names its predecessor's hash."""
    previous = GENESIS_PREVIOUS_HASH
    for number, block in enumerate(history["blocks"]):
        assert block["number"] == number
        assert block["previous_hash"] == previous
        assert len(block["hash"]) == 64
        previous = block["hash"]


def recompute_hashes(db: Database, blockchain_id: str, channel: str) -> list[tuple[str, str]]:
    """``(stored hash, recomputed hash)`` of every stored block of the channel, oldest first."""
    tables = Base.metadata.tables
    channels, blocks = tables["channels"], tables["channel_config_blocks"]
    with db.engine.connect() as conn:
        channel_id = conn.execute(
            select(channels.c.id).where(channels.c.blockchain_id == blockchain_id, channels.c.name == channel)
        ).scalar_one()
        rows = conn.execute(select(blocks).where(blocks.c.channel_id == channel_id).order_by(blocks.c.number))
        return [
            (
                row.hash,
                block_hash(
                    channel=f"{blockchain_id}/{channel}",
                    number=row.number,
                    previous_hash=row.previous_hash,
                    event=row.event,
                    orgs=row.orgs,
                    cause=row.cause,
                    time=row.time,
                ),
            )
            for row in rows
        ]
