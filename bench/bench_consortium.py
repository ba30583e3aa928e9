"""Benchmark of consortium calls: quit throughput (PUT /members/quit) and member lists among foreign records.

Run by hand from the repository root:

    /work/venv/bin/python bench/bench_consortium.py [--memberships 3000] [--duration 10] [--connections 32]

Everything runs on loopback in fresh temporary data directories, and reuses ``bench_auth.py`` for servers, wrk,
RSS and CPU sampling.

1. **Quit throughput.** ``--memberships`` N joined memberships are written straight into the server's SQLite
   database before the server starts (not timed): invitee accounts through ``openbcs.iam.service.create_account``
   (password hashing monkeypatched in this process only: one scrypt hash computed once and reused), then, with
   SQLAlchemy Core inserts, for each membership an inviter consortium instance (peer and orderer organisations and
   their nodes) with channel ``channel`` (genesis block, then the ``org_added`` block of the member, hashes
   chained as ``openbcs.channels.service`` chains them), an invitee instance created for that inviter, its
   organisation and peers in the channel, and a ``joined`` invitation. Inviter instances are owned by a few inviter
   accounts but each membership has its own inviter *instance*: a quit marks the inviter instance busy until the
   quit operation ends, so quits of two members of one instance would refuse each other (``BCS.4001020``).
   One membership is checked by hand over HTTP (ListMembers of both sides, ListNotifications), one quit request is
   checked to answer 200 and its operation to end with the membership ``quit``.
   Then ``openbcs serve --operation-step-seconds 0`` is loaded with PUT ``/v2/{project_id}/members/quit`` signed
   with AK/SK (``SDK-HMAC-SHA256``, ``X-Sdk-Date`` now, valid for the 15-minute skew): every request quits a
   different membership; a generated wrk Lua script cycles through precomputed raw requests and stops wrk when
   they run out. The baseline is ``bench/baseline_write_app.py`` under the same uvicorn: a PUT with the same
   JSON body parsed and checked (the target's baseline), and the same plus one SQLite WAL insert (context).
   A warm-up of ``--warmup`` seconds uses memberships of its own. After the run: how long the operation worker
   needed to finish the quit operations left running, the final invitation states, ``openbcs channel verify``
   over every channel, two members of one inviter instance quitting at the same moment, and where a quit's
   server time goes (signature check, quit transaction, each transition of its operation, timed in-process on
   memberships the load did not reach).
2. **Lists among foreign records.** A tenant with 10 invitations as inviter (6 joined members, 2 waiting, 1
   rejected, 1 quit) and 6 notifications as invitee (3 joined, 2 waiting, 1 rejected), then 1,000 and later
   100,000 invitations of *other* tenants bulk-inserted into ``consortium_invitations``. ListMembers and
   ListNotifications with ``X-Auth-Token`` are loaded with wrk at both sizes, at ``--connections`` (saturated, so
   latency there is mostly queueing) and at 1 connection (unloaded latency); the server keeps running and the
   rows are inserted beside it. Also reported: the list functions timed in-process (``views.members`` /
   ``views.notifications``, no HTTP), their SQL statement counts, and each list's invitation query alone (raw
   sqlite3) with its ``EXPLAIN QUERY PLAN``.

Prints the report, writes it to ``bench/results/consortium-<timestamp>.md`` and exits non-zero if a load run saw an
unexpected answer (anything but 200 from the lists, anything but 200 from quit) or a socket error.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bench_auth import (
    BENCH_DIR,
    OPENBCS,
    REGION,
    USER_AGENT,
    VENV_BIN,
    BenchError,
    Row,
    RssSampler,
    WrkResult,
    clean_env,
    free_port,
    get_token,
    load_run,
    machine,
    machine_busy,
    parse_wrk,
    running,
    serve_cmd,
    tree_cpu_seconds,
    wait_quiet,
)
from sqlalchemy import Table, event, func, select
from sqlalchemy.orm import Session

from openbcs import migrations
from openbcs.instances import service as blockchains
from openbcs.network.models import Instance, Node, Organization
from openbcs.channels import service as channels
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, ConfigBlock
from openbcs.consortium import service as consortium
from openbcs.consortium import views as consortium_views
from openbcs.consortium.models import Invitation
from openbcs.consortium.schemas import QuitUnionFromMemberListRequestBody
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.iam import passwords, signing
from openbcs.iam import service as iam
from openbcs.kernel.keys import ServerKey, load_server_key
from openbcs.engine import kinds
from openbcs.engine import engine as operations
from openbcs.engine.models import Operation
from openbcs.kernel.settings import Settings

PASSWORD = "Bench-" + secrets.token_urlsafe(12)
INVITER_ACCOUNTS = 4
CHANNEL = "channel"
PEERS_PER_ORG = 2
ORDERERS = 3
FOREIGN_SIZES = (1_000, 100_000)
LIST_RATIO_TARGET = 1.2
DRAIN_TIMEOUT = 120.0
BREAKDOWN_QUITS = 40
# What each transition of a quit operation does (operations.advance with step_seconds=0).
TRANSITIONS = {
    1: "start the first sub-step",
    2: "the organisations leave the channel: config block",
    3: "membership quit, instances idle, events",
}
WRK_TIMEOUT = "30s"
RECORD_SEP = "\x1e"  # separates the precomputed raw requests in the file the Lua script reads


BLOCKCHAINS = cast(Table, Instance.__table__)
ORGS = cast(Table, Organization.__table__)
NODES = cast(Table, Node.__table__)
CHANNELS = cast(Table, Channel.__table__)
CHANNEL_ORGS = cast(Table, ChannelOrg.__table__)
CHANNEL_PEERS = cast(Table, ChannelPeer.__table__)
BLOCKS = cast(Table, ConfigBlock.__table__)
INVITATIONS = cast(Table, Invitation.__table__)


# --- building memberships in the database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    name: str
    domain_id: str
    project_id: str
    access_key: str
    secret_key: str

    def as_account(self) -> dict[str, str]:
        """The shape ``bench_auth.get_token`` wants."""
        return {"user_name": self.name, "domain_name": self.name, "project_id": self.project_id}


@dataclass
class Org:
    id: int
    blockchain_id: str
    name: str
    name_hash: str
    node_ids: list[int]

    def entry(self) -> dict[str, str]:
        """The org as a configuration block lists it (``channels._org_entry``)."""
        return {"blockchain_id": self.blockchain_id, "name": self.name, "msp_id": f"{self.name_hash}MSP"}


@dataclass
class Instance:
    id: str
    name: str
    tenant: Tenant
    peer_org: Org


@dataclass
class ChannelState:
    id: int
    instance: Instance
    name: str
    orgs: list[Org] = field(default_factory=list)
    number: int = -1
    last_hash: str = channels.GENESIS_PREVIOUS_HASH


@dataclass(frozen=True)
class Membership:
    inviter: Instance
    invitee: Instance
    channel: str

    def quit_body(self) -> dict[str, str]:
        return {
            "inviter_bcsid": self.inviter.id,
            "inviter_projectid": self.inviter.tenant.project_id,
            "inviter_domainid": self.inviter.tenant.domain_id,
            "inviter_username": self.inviter.tenant.name,
            "channel_name": self.channel,
            "invitee_bcsid": self.invitee.id,
            "invitee_projectid": self.invitee.tenant.project_id,
            "invitee_domainid": self.invitee.tenant.domain_id,
        }


class Builder:
    """Writes accounts through the IAM service and everything else with Core inserts, consistent with what the
    API would have produced (ids, name hashes, hash-chained configuration blocks)."""

    ORDER = (BLOCKCHAINS, ORGS, NODES, CHANNELS, CHANNEL_ORGS, CHANNEL_PEERS, BLOCKS, INVITATIONS)

    def __init__(self, db: Database, server_key: ServerKey) -> None:
        self.db = db
        self.server_key = server_key
        self.rows: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        with db.reading() as session:
            self.next_id = {
                table: int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
                for table in self.ORDER
                if table is not BLOCKCHAINS
            }
        self.instances = 0

    def _id(self, table: Table) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def accounts(self, names: Sequence[str]) -> list[Tenant]:
        """Accounts with projects and AK/SK pairs, through ``iam.create_account`` with the hash computed once."""
        hashed = passwords.hash_password(PASSWORD)
        real = iam.hash_password
        iam.hash_password = lambda _password: hashed  # type: ignore[assignment]  # this process only
        try:
            with self.db.writing() as session:
                created = [
                    iam.create_account(session, name=name, password=PASSWORD, region=REGION, server_key=self.server_key)
                    for name in names
                ]
        finally:
            iam.hash_password = real  # type: ignore[assignment]
        return [Tenant(a.domain_name, a.domain_id, a.project_id, a.access_key, a.secret_key) for a in created]

    def _org(self, blockchain_id: str, name: str, role: str, nodes: int, now: int) -> Org:
        org_id = self._id(ORGS)
        name_hash = blockchains.org_hash(blockchain_id, name)
        self.rows[ORGS].append(
            {
                "id": org_id,
                "blockchain_id": blockchain_id,
                "name": name,
                "role": role,
                "name_hash": name_hash,
                "pvc_name": f"pvc-{name_hash[:12]}",
                "status": blockchains.NODE_NORMAL,
                "created_time": now,
            }
        )
        node_ids = []
        for ordinal in range(nodes):
            node_id = self._id(NODES)
            node_ids.append(node_id)
            self.rows[NODES].append(
                {
                    "id": node_id,
                    "org_id": org_id,
                    "ordinal": ordinal,
                    "name": f"{role}-{name_hash}-{ordinal}",
                    "status": blockchains.NODE_NORMAL,
                }
            )
        return Org(org_id, blockchain_id, name, name_hash, node_ids)

    def instance(self, tenant: Tenant, *, inviter: Instance | None = None) -> Instance:
        """A Normal, idle union instance: an inviter (peer org, orderers) or an invitee of ``inviter``."""
        self.instances += 1
        blockchain_id = str(uuid.uuid4())
        name = f"{'member' if inviter else 'union'}{self.instances}"
        now = now_ns()
        self.rows[BLOCKCHAINS].append(
            {
                "id": blockchain_id,
                "project_id": tenant.project_id,
                "domain_id": tenant.domain_id,
                "name": name,
                "blockchain_type": "union",
                "fabric_version": "2.2",
                "consensus": "etcdraft",
                "sign_algorithm": "ECDSA",
                "version_type": 4,
                "database_type": "goleveldb",
                "is_invitee": inviter is not None,
                "invitor_tenant_id": inviter.tenant.domain_id if inviter else None,
                "invitor_project_id": inviter.tenant.project_id if inviter else None,
                "invitor_blockchain_id": inviter.id if inviter else None,
                "status": blockchains.NORMAL,
                "process_status": None,
                "deploy_status": blockchains.DEPLOYED,
                "busy_operation_id": None,
                "created_time": now,
                "settings": {
                    "name": name,
                    "version_type": 4,
                    "fabric_version": "2.2",
                    "blockchain_type": "union",
                    "consensus": "etcdraft",
                    "sign_algorithm": "ECDSA",
                    "enterprise_project_id": "0",
                    "volume_type": "evs",
                    "evs_disk_type": "SAS",
                    "database_type": "goleveldb",
                    "cluster_type": "cce",
                    "create_new_cluster": False,
                    "cluster_id": str(uuid.uuid4()),
                    "cluster_name": "bench-cce",
                    "cluster_platform_type": "VirtualMachine",
                    "is_invitee": inviter is not None,
                    **({} if inviter else {"orderer_node_number": ORDERERS}),
                },
            }
        )
        peer_org = self._org(blockchain_id, blockchains.DEFAULT_ORG_NAME, "peer", PEERS_PER_ORG, now)
        if inviter is None:
            self._org(blockchain_id, blockchains.ORDERER_ORG_NAME, "orderer", ORDERERS, now)
        return Instance(blockchain_id, name, tenant, peer_org)

    def _block(self, channel: ChannelState, event_name: str) -> None:
        channel.number += 1
        orgs = sorted((org.entry() for org in channel.orgs), key=lambda o: (o["msp_id"], o["name"]))
        cause = f"BCSSVC01-05-{now_ns():019d}"
        block_time = now_ns()
        digest = channels.block_hash(
            channel=f"{channel.instance.id}/{channel.name}",
            number=channel.number,
            previous_hash=channel.last_hash,
            event=event_name,
            orgs=orgs,
            cause=cause,
            time=block_time,
        )
        self.rows[BLOCKS].append(
            {
                "id": self._id(BLOCKS),
                "channel_id": channel.id,
                "number": channel.number,
                "previous_hash": channel.last_hash,
                "event": event_name,
                "orgs": orgs,
                "cause": cause,
                "time": block_time,
                "hash": digest,
            }
        )
        channel.last_hash = digest

    def _add_org(self, channel: ChannelState, org: Org) -> None:
        channel.orgs.append(org)
        self.rows[CHANNEL_ORGS].append(
            {"id": self._id(CHANNEL_ORGS), "channel_id": channel.id, "org_id": org.id, "joined_time": now_ns()}
        )
        for node_id in org.node_ids:
            self.rows[CHANNEL_PEERS].append(
                {"id": self._id(CHANNEL_PEERS), "channel_id": channel.id, "node_id": node_id}
            )

    def channel(self, instance: Instance) -> ChannelState:
        """Channel ``channel`` of an inviter instance with its own organisation and peers, and its genesis block."""
        state = ChannelState(self._id(CHANNELS), instance, CHANNEL)
        self.rows[CHANNELS].append(
            {
                "id": state.id,
                "blockchain_id": instance.id,
                "name": CHANNEL,
                "description": "",
                "created_time": now_ns(),
            }
        )
        self._add_org(state, instance.peer_org)
        self._block(state, "create")
        return state

    def invitation(
        self,
        channel: ChannelState,
        invitee_tenant: Tenant,
        status: str,
        *,
        invitee: Instance | None = None,
        notification_status: str | None = None,
    ) -> None:
        """An invitation row as the services leave it; with ``invitee`` the member's org joins the channel."""
        inviter = channel.instance
        if invitee is not None and status in (consortium.JOINED, consortium.QUITTING):
            self._add_org(channel, invitee.peer_org)
            self._block(channel, "org_added")
        now = now_ns()
        self.rows[INVITATIONS].append(
            {
                "id": self._id(INVITATIONS),
                "inviter_blockchain_id": inviter.id,
                "inviter_blockchain_name": inviter.name,
                "inviter_project_id": inviter.tenant.project_id,
                "inviter_domain_id": inviter.tenant.domain_id,
                "inviter_name": inviter.tenant.name,
                "inviter_settings": _inviter_settings(),
                "channel_name": channel.name,
                "invitee_domain_id": invitee_tenant.domain_id,
                "invitee_name": invitee_tenant.name,
                "invitee_project_id": invitee_tenant.project_id,
                "invitee_blockchain_id": invitee.id if invitee else None,
                "invitee_blockchain_name": invitee.name if invitee else None,
                "orgs": (
                    [
                        {
                            "name": invitee.peer_org.name,
                            "name_hash": invitee.peer_org.name_hash,
                            "node_count": len(invitee.peer_org.node_ids),
                        }
                    ]
                    if invitee
                    else []
                ),
                "status": status,
                "notification_status": notification_status or status,
                "deleted_by_inviter": False,
                "read_status": 0 if status == consortium.WAITING else 1,
                "operation_id": f"BCSSVC01-05-{now:019d}" if invitee else None,
                "created_time": now,
                "updated_time": now,
            }
        )

    def membership(self, inviter_tenant: Tenant, invitee_tenant: Tenant) -> Membership:
        """A joined membership: a new inviter instance with its channel, and a new invitee instance in it."""
        inviter = self.instance(inviter_tenant)
        channel = self.channel(inviter)
        invitee = self.instance(invitee_tenant, inviter=inviter)
        self.invitation(channel, invitee_tenant, consortium.JOINED, invitee=invitee)
        return Membership(inviter, invitee, channel.name)

    def flush(self, chunk: int = 20_000) -> int:
        """Insert everything gathered, in foreign-key order, in one transaction; return the row count."""
        total = 0
        with self.db.engine.begin() as conn:
            for table in self.ORDER:
                rows = self.rows.pop(table, [])
                for start in range(0, len(rows), chunk):
                    conn.execute(table.insert(), rows[start : start + chunk])
                total += len(rows)
        return total


def _inviter_settings() -> dict[str, Any]:
    """``consortium._inviter_settings`` of the instances the builder makes."""
    return {
        "consensus": "etcdraft",
        "sign_algorithm": "ECDSA",
        "fabric_version": "2.2",
        "database_type": "goleveldb",
        "version_type": 4,
        "cluster_type": "CCE",
        "tc3_need": False,
    }


def insert_foreign_invitations(db: Database, count: int, *, first_tenant: int) -> None:
    """``count`` invitations between other tenants (about ten per inviter project and per invitee account), in
    every status, without instances behind them: rows the tenant's lists must not have to read."""
    statuses = consortium.STATUSES
    rows = []
    now = now_ns()
    settings = _inviter_settings()
    for n in range(count):
        group = first_tenant + n // 10
        inviter = hashlib.md5(f"inviter-{group}".encode(), usedforsecurity=False).hexdigest()
        invitee = hashlib.md5(f"invitee-{group}-{n % 7}".encode(), usedforsecurity=False).hexdigest()
        status = statuses[n % len(statuses)]
        rows.append(
            {
                "inviter_blockchain_id": str(uuid.UUID(inviter)),
                "inviter_blockchain_name": f"foreign{group}",
                "inviter_project_id": inviter,
                "inviter_domain_id": hashlib.md5(inviter.encode(), usedforsecurity=False).hexdigest(),
                "inviter_name": f"foreign-inviter-{group}",
                "inviter_settings": settings,
                "channel_name": f"channel{n % 10}",
                "invitee_domain_id": invitee,
                "invitee_name": f"foreign-invitee-{group}-{n % 7}",
                "invitee_project_id": hashlib.md5(invitee.encode(), usedforsecurity=False).hexdigest(),
                "invitee_blockchain_id": str(uuid.uuid4()) if status != consortium.WAITING else None,
                "invitee_blockchain_name": f"member{n}" if status != consortium.WAITING else None,
                "orgs": [{"name": "organization", "name_hash": inviter[:40].ljust(40, "0"), "node_count": 2}],
                "status": status,
                "notification_status": status,
                "deleted_by_inviter": n % 13 == 0,
                "read_status": 1,
                "operation_id": None,
                "created_time": now + n,
                "updated_time": now + n,
            }
        )
    with db.engine.begin() as conn:
        for start in range(0, len(rows), 20_000):
            conn.execute(INVITATIONS.insert(), rows[start : start + 20_000])


# --- HTTP and signatures --------------------------------------------------------------------------------------------


def http_call(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"", timeout: float = 10.0
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(payload) if payload else None
    except ValueError:
        return response.status, payload


def signed_put(*, port: int, path: str, body: bytes, tenant: Tenant, sdk_date: str) -> dict[str, str]:
    """The headers the SDK sends for a PUT with a JSON body, signed with ``SDK-HMAC-SHA256``."""
    headers = {
        "Content-Type": "application/json",
        "Host": f"127.0.0.1:{port}",
        "User-Agent": USER_AGENT,
        "X-Project-Id": tenant.project_id,
        "X-Sdk-Date": sdk_date,
    }
    lower = {name.lower(): value for name, value in headers.items()}
    names = tuple(sorted(lower))
    canonical = signing.canonical_request(
        method="PUT", raw_path=path, query_string="", headers=lower, signed_headers=names, body=body
    )
    signature = signing.sign(tenant.secret_key, signing.string_to_sign(sdk_date, canonical))
    headers["Authorization"] = (
        f"{signing.ALGORITHM} Access={tenant.access_key}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def cross_check_put(headers: dict[str, str], *, port: int, path: str, body: bytes, tenant: Tenant) -> str:
    """When the official SDK core is installed, its Signer must produce the same Authorization for the PUT."""
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
        from huaweicloudsdkcore.signer.signer import Signer
    except ImportError:
        return "huaweicloudsdkcore not installed: signature not cross-checked"
    given = {k: v for k, v in headers.items() if k not in ("Authorization", "Host")}
    request = SdkRequest(
        method="PUT",
        schema="http",
        host=f"127.0.0.1:{port}",
        resource_path=path,
        query_params=[],
        header_params=dict(given),
        body=body,
    )
    Signer(BasicCredentials(tenant.access_key, tenant.secret_key, tenant.project_id)).sign(request)
    if request.header_params.get("Authorization") != headers["Authorization"]:
        raise BenchError(
            f"our PUT signature differs from the SDK's:\n  ours {headers['Authorization']}\n"
            f"  SDK  {request.header_params.get('Authorization')}"
        )
    return "signature identical to huaweicloudsdkcore's Signer"


@dataclass(frozen=True)
class QuitRequest:
    membership: Membership
    path: str
    body: bytes
    headers: dict[str, str]

    def raw(self) -> str:
        lines = [f"PUT {self.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        lines.append(f"Content-Length: {len(self.body)}")
        return "\r\n".join(lines) + "\r\n\r\n" + self.body.decode()


def quit_request(membership: Membership, *, port: int, sdk_date: str) -> QuitRequest:
    tenant = membership.invitee.tenant
    path = f"/v2/{tenant.project_id}/members/quit"
    body = json.dumps(membership.quit_body(), separators=(",", ":")).encode()
    return QuitRequest(
        membership, path, body, signed_put(port=port, path=path, body=body, tenant=tenant, sdk_date=sdk_date)
    )


# --- wrk with Lua ---------------------------------------------------------------------------------------------------

REPLAY_LUA = r"""
-- Generated by bench_consortium.py: replays precomputed raw requests, each once, then stops the thread.
local file = "@FILE@"
reqs = {}
req_n = 0
req_i = 0
c2xx = 0
c400 = 0
cother = 0
exhausted = 0
codes400 = ""
local codes = {}

function init(args)
  local f = assert(io.open(file, "rb"))
  local data = f:read("*a")
  f:close()
  local start = 1
  while true do
    local s, e = string.find(data, "\30", start, true)
    if not s then break end
    req_n = req_n + 1
    reqs[req_n] = string.sub(data, start, s - 1)
    start = e + 1
  end
end

function request()
  req_i = req_i + 1
  if req_i > req_n then
    exhausted = 1
    wrk.thread:stop()
    return reqs[req_n]
  end
  return reqs[req_i]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    c2xx = c2xx + 1
  elseif status == 400 then
    c400 = c400 + 1
    local code = string.match(body or "", '"error_code"%s*:%s*"([^"]+)"') or "?"
    codes[code] = (codes[code] or 0) + 1
    local parts = {}
    for k, v in pairs(codes) do parts[#parts + 1] = k .. "=" .. v end
    codes400 = table.concat(parts, ",")
  else
    cother = cother + 1
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("LUA sent=%d answered2xx=%d answered400=%d answeredother=%d exhausted=%d codes400=%s\n",
      math.min(t:get("req_i"), t:get("req_n")), t:get("c2xx"), t:get("c400"), t:get("cother"),
      t:get("exhausted"), t:get("codes400")))
  end
end
"""

STATIC_PUT_LUA = r"""
-- Generated by bench_consortium.py: the same PUT with a JSON body on every request.
wrk.method = "PUT"
wrk.body = '@BODY@'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class ReplayCounts:
    sent: int
    ok: int
    bad_request: int
    other: int
    exhausted: bool
    codes400: dict[str, int]


def parse_replay(output: str) -> ReplayCounts:
    match = re.search(
        r"^LUA sent=(\d+) answered2xx=(\d+) answered400=(\d+) answeredother=(\d+) exhausted=(\d) codes400=(\S*)$",
        output,
        re.MULTILINE,
    )
    if not match:
        raise BenchError(f"the Lua script printed no counts:\n{output}")
    codes = {}
    for part in filter(None, match[6].split(",")):
        code, _, count = part.rpartition("=")
        codes[code] = int(count)
    return ReplayCounts(int(match[1]), int(match[2]), int(match[3]), int(match[4]), match[5] == "1", codes)


def run_wrk_script(url: str, script: Path, *, connections: int, duration: float) -> WrkResult:
    # A long timeout: wrk leaves requests slower than its timeout (2 s by default) out of the latency histogram.
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", WRK_TIMEOUT, "--latency"]
    cmd += ["-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def write_replay(tmp: Path, label: str, requests: Sequence[QuitRequest]) -> Path:
    data = tmp / f"{label}.requests"
    data.write_text("".join(r.raw() + RECORD_SEP for r in requests))
    script = tmp / f"{label}.lua"
    script.write_text(REPLAY_LUA.replace("@FILE@", str(data)))
    return script


# --- part 1: quit throughput ----------------------------------------------------------------------------------------


@dataclass
class QuitRow:
    label: str
    result: WrkResult
    rss_kib: int
    cpu_us_per_request: float
    busy_before: float
    counts: ReplayCounts | None  # per-status counts from the Lua script (quit runs only)
    server_log_status: Counter[str] | None
    note: str | None = None  # what ``right_after`` saw the moment wrk returned


def count_log_status(log: Path, offset: int) -> Counter[str]:
    """Statuses the server logged since ``offset``, once the log has stopped growing (it answers what wrk left in
    flight after wrk has gone), and how many of those were client disconnects logged as unexpected errors."""
    deadline, size = time.monotonic() + 15, -1
    while time.monotonic() < deadline and log.stat().st_size != size:
        size = log.stat().st_size
        time.sleep(1.0)
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read()
    found = Counter(m.decode() for m in re.findall(rb"status=(\d\d\d)", text))
    disconnects = text.count(b"starlette.requests.ClientDisconnect")
    if disconnects:
        found["ClientDisconnect tracebacks"] = disconnects
    return found


def measured(
    label: str,
    *,
    url: str,
    script: Path,
    server: subprocess.Popen[bytes],
    args: argparse.Namespace,
    log: Path | None,
    replay: bool,
    right_after: Callable[[], str] | None = None,
) -> QuitRow:
    busy = machine_busy()
    if busy > 0.25:
        print(f"  warning: the machine is {busy:.0%} busy before this run: absolute numbers will be low", flush=True)
    print(f"  {label}: wrk -t1 -c{args.connections} -d{args.duration:g}s ...", flush=True)
    offset = log.stat().st_size if log else 0
    cpu_before = tree_cpu_seconds(server.pid)
    with RssSampler(server.pid) as rss:
        result = run_wrk_script(url, script, connections=args.connections, duration=args.duration)
    cpu_us = (tree_cpu_seconds(server.pid) - cpu_before) * 1e6 / max(1, result.requests)
    note = right_after() if right_after else None
    counts = parse_replay(result.raw) if replay else None
    statuses = count_log_status(log, offset) if log is not None else None
    print(
        f"    {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}, RSS {rss.max_kib / 1024:.1f} MiB, "
        f"server CPU {cpu_us:.0f} us/request (machine {busy:.0%} busy before)" + (f", lua {counts}" if counts else ""),
        flush=True,
    )
    return QuitRow(label, result, rss.max_kib, cpu_us, busy, counts, statuses, note)


def active_operations(db: Database) -> int:
    with db.reading() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Operation).where(Operation.status.in_(("waiting", "processing")))
            )
            or 0
        )


def drain_note(db: Database) -> str:
    seconds, active = wait_drained(db)
    return (
        f"{active}; none left {seconds:.2f} s later (the server also answers, or fails to read, the requests wrk "
        "left in flight)"
    )


def wait_drained(db: Database, timeout: float = DRAIN_TIMEOUT) -> tuple[float, int]:
    """Seconds until no operation is waiting or processing (read from the bench process), and how many were."""
    started = time.monotonic()
    first = None
    while True:
        active = active_operations(db)
        if first is None:
            first = active
        if active == 0 or time.monotonic() - started > timeout:
            return time.monotonic() - started, first
        time.sleep(0.05)


@dataclass
class QuitReport:
    memberships: int
    prep_seconds: float
    rows: list[QuitRow]
    checks: list[str]
    after: list[str]
    probe: list[str]
    breakdown: list[str]


def hand_check(port: int, membership: Membership, inviter_token: str, invitee_token: str) -> list[str]:
    """ListMembers as both sides and ListNotifications as invitee show the prepared membership as joined."""
    notes = []
    invitee = membership.invitee.tenant
    status, body = http_call(port, "GET", f"/v2/{invitee.project_id}/members", {"X-Auth-Token": invitee_token})
    members = body.get("members", []) if isinstance(body, dict) else []
    if status != 200 or len(members) != 1 or members[0].get("status") != "joined":
        raise BenchError(f"invitee's ListMembers: {status} {body!r:.500}")
    org = members[0]["invited_orgs"][0]
    if org.get("status") != "joined" or org.get("status_detail") != f"{PEERS_PER_ORG}/{PEERS_PER_ORG}":
        raise BenchError(f"invitee's ListMembers org: {org!r}")
    notes.append(
        f"invitee ListMembers: 200, 1 member, status joined, channel {members[0]['channel_name']}, "
        f"org {org['name']} {org['status']} {org['status_detail']}"
    )
    inviter = membership.inviter.tenant
    started = time.perf_counter()
    status, body = http_call(port, "GET", f"/v2/{inviter.project_id}/members", {"X-Auth-Token": inviter_token})
    took = (time.perf_counter() - started) * 1000
    mine = [
        m
        for m in (body.get("members", []) if isinstance(body, dict) else [])
        if m["invitor_info"]["invitor_bcs_id"] == membership.inviter.id
    ]
    if status != 200 or len(mine) != 1 or mine[0]["invitee_info"]["invitee_bcs_id"] != membership.invitee.id:
        raise BenchError(f"inviter's ListMembers: {status} {mine!r:.500}")
    notes.append(
        f"inviter ListMembers: 200 in {took:.0f} ms, {len(body['members'])} members of its instances, this one "
        f"{mine[0]['status']} with invitee instance {membership.invitee.id[:8]}"
    )
    status, body = http_call(port, "GET", f"/v2/{invitee.project_id}/notifications", {"X-Auth-Token": invitee_token})
    found = body.get("notifications", []) if isinstance(body, dict) else []
    if status != 200 or len(found) != 1 or found[0]["status"] != "joined":
        raise BenchError(f"invitee's ListNotifications: {status} {body!r:.500}")
    notes.append("invitee ListNotifications: 200, 1 notification, status joined")
    return notes


def quit_by_hand(port: int, request: QuitRequest, db: Database, invitee_token: str) -> list[str]:
    """One signed quit answers 200 with an operation id; the operation ends and the membership is quit."""
    status, body = http_call(port, "PUT", request.path, request.headers, request.body)
    if status != 200 or not isinstance(body, dict) or body.get("result") != "success":
        raise BenchError(f"checked quit answered {status}: {body!r:.500}")
    seconds, _ = wait_drained(db, timeout=30)
    invitee = request.membership.invitee.tenant
    status2, listed = http_call(port, "GET", f"/v2/{invitee.project_id}/notifications", {"X-Auth-Token": invitee_token})
    final = listed["notifications"][0]["status"] if isinstance(listed, dict) and listed.get("notifications") else None
    if status2 != 200 or final != "quit":
        raise BenchError(f"after the checked quit the notification is {final!r} ({status2})")
    return [
        f"signed quit by hand: 200, operation {body['operation_id']}; the operation ended "
        f"{seconds * 1000:.0f} ms later and the invitee's notification says quit"
    ]


def serialisation_probe(port: int, requests: Sequence[QuitRequest]) -> list[str]:
    """Two members of ONE inviter instance quit at the same moment: what does the second get?"""
    barrier = threading.Barrier(len(requests))
    answers: list[tuple[int, Any]] = [(0, None)] * len(requests)

    def send(index: int) -> None:
        barrier.wait()
        answers[index] = http_call(port, "PUT", requests[index].path, requests[index].headers, requests[index].body)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    described = []
    for status, body in answers:
        code = body.get("error_code") if isinstance(body, dict) else None
        described.append(f"{status}" + (f" {code}" if code else ""))
    return [f"{len(requests)} members of one inviter instance quit concurrently: answers {', '.join(described)}"]


def cost_breakdown(db: Database, server_key: ServerKey, requests: Sequence[QuitRequest]) -> list[str]:
    """Where a quit's server time goes, timed in this process without HTTP on memberships the load did not reach:
    the signature check, the quit transaction, and the transitions the worker makes to finish its operation."""
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    parts: dict[str, list[tuple[float, int]]] = defaultdict(list)

    def timed(part: str, fn: Callable[[], Any]) -> Any:
        statements[0] = 0
        started = time.perf_counter()
        value = fn()
        parts[part].append(((time.perf_counter() - started) * 1000, statements[0]))
        return value

    names = kinds.names()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for request in requests:
            tenant = request.membership.invitee.tenant
            signed = iam.SignedRequest(
                method="PUT",
                raw_path=request.path,
                query_string="",
                headers={name.lower(): value for name, value in request.headers.items()},
                body=request.body,
            )
            timed(
                "signature check (AK/SK)",
                lambda s=signed, t=tenant: db.run_read(
                    lambda session: iam.authenticate_signature(
                        session,
                        request=s,
                        project_id=t.project_id,
                        server_key=server_key,
                        skew=timedelta(minutes=15),
                        now=iam.utcnow(),
                    )
                ),
            )
            caller = consortium.Caller(tenant.domain_id, tenant.name, tenant.project_id, REGION)
            body = QuitUnionFromMemberListRequestBody.model_validate_json(request.body)
            timed(
                "quit transaction",
                lambda c=caller, b=body: db.run_write(
                    lambda session: consortium.quit_consortium(session, caller=c, body=b)
                ),
            )
            transition = 0
            while due := db.run_read(lambda session: operations.due(session, now=now_ns(), kind_names=names)):
                for operation_id, version in due:
                    transition += 1
                    timed(
                        f"operation transition {transition} ({TRANSITIONS.get(transition, '?')})",
                        lambda i=operation_id, v=version: db.run_write(
                            lambda session: operations.advance(
                                session,
                                operation_id=i,
                                version=v,
                                now=now_ns(),
                                step_seconds=0,
                                server_key=server_key,
                            )
                        ),
                    )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    lines = []
    total = 0.0
    for part, samples in parts.items():
        per_quit = len(samples) / len(requests)
        median = statistics.median(ms for ms, _ in samples)
        total += median * per_quit
        lines.append(
            f"{part}: {per_quit:g} per quit, median {median:.2f} ms, "
            f"{statistics.median(n for _, n in samples):g} SQL statements (BEGIN/COMMIT included)"
        )
    lines.append(f"sum per quit: {total:.1f} ms (of {len(requests)} quits, in-process, no HTTP)")
    return lines


def part_quit(tmp: Path, args: argparse.Namespace) -> QuitReport:
    data_dir, log = tmp / "quit-data", tmp / "quit-server.log"
    env = clean_env(tmp)
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True)
    db = Database(settings.resolved_database_url)
    migrations.upgrade(db)
    server_key = load_server_key(settings)
    builder = Builder(db, server_key)

    warmup_n = args.warmup_memberships
    total = 1 + warmup_n + args.memberships  # one checked by hand, the warm-up's, the measured run's
    print(f"  preparing {total:,} joined memberships (+2 sharing an inviter instance) ...", flush=True)
    started = time.monotonic()
    inviters = builder.accounts([f"inviter-{i}" for i in range(INVITER_ACCOUNTS)])
    invitees = builder.accounts([f"invitee-{i:06d}" for i in range(total + 2)])
    memberships = [builder.membership(inviters[i % INVITER_ACCOUNTS], invitees[i]) for i in range(total)]
    # Two more members of one inviter instance, for the serialisation probe.
    shared = builder.instance(inviters[0])
    shared_channel = builder.channel(shared)
    probe_members = []
    for tenant in invitees[total:]:
        invitee = builder.instance(tenant, inviter=shared)
        builder.invitation(shared_channel, tenant, consortium.JOINED, invitee=invitee)
        probe_members.append(Membership(shared, invitee, CHANNEL))
    rows = builder.flush()
    prep = time.monotonic() - started
    print(f"    {rows:,} rows besides {len(inviters) + len(invitees):,} accounts in {prep:.1f} s", flush=True)
    with db.reading() as session:
        sample = channels.verify(
            session, session.scalars(select(Channel).where(Channel.blockchain_id == memberships[0].inviter.id)).one()
        )
    if sample:
        raise BenchError(f"the prepared channel does not verify: {sample}")

    api_port, base_port = free_port(), free_port()
    cmd = [*serve_cmd(data_dir, api_port, 1), "--operation-step-seconds", "0"]
    base_env = {**env, "BASELINE_DB": str(tmp / "baseline.db")}
    base_cmd = [
        str(VENV_BIN / "uvicorn"),
        "--app-dir",
        str(BENCH_DIR),
        "baseline_write_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(base_port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    result_rows: list[QuitRow] = []
    with (
        running(cmd, env=env, log=log, port=api_port, health="/healthz") as api,
        running(base_cmd, env=base_env, log=tmp / "baseline.log", port=base_port, health="/baseline") as baseline,
    ):
        invitee_token = get_token(api_port, memberships[0].invitee.tenant.as_account(), PASSWORD)
        inviter_token = get_token(api_port, memberships[0].inviter.tenant.as_account(), PASSWORD)
        checks = hand_check(api_port, memberships[0], inviter_token, invitee_token)
        sdk_date = datetime.now(UTC).strftime(signing.DATE_FORMAT)
        signed_at = time.monotonic()
        requests = [quit_request(m, port=api_port, sdk_date=sdk_date) for m in memberships]
        probe_requests = [quit_request(m, port=api_port, sdk_date=sdk_date) for m in probe_members]
        first = requests[0]
        checks.append(
            cross_check_put(
                first.headers, port=api_port, path=first.path, body=first.body, tenant=first.membership.invitee.tenant
            )
        )
        checks += quit_by_hand(api_port, first, db, invitee_token)
        for line in checks:
            print(f"    {line}", flush=True)

        # Baselines: the same body, parsed and checked; then also written to SQLite.
        body = first.body.decode()
        static = tmp / "baseline-put.lua"
        static.write_text(STATIC_PUT_LUA.replace("@BODY@", body))
        for label, path in (
            ("baseline PUT, JSON body (Starlette)", "/baseline/put"),
            ("baseline PUT + one SQLite insert (Starlette)", "/baseline/sqlite"),
        ):
            url = f"http://127.0.0.1:{base_port}{path}"
            status, answer = http_call(base_port, "PUT", path, {"Content-Type": "application/json"}, first.body)
            if status != 200:
                raise BenchError(f"{label}: check request answered {status}: {answer!r}")
            if args.warmup:
                run_wrk_script(url, static, connections=args.connections, duration=args.warmup)
            result_rows.append(
                measured(label, url=url, script=static, server=baseline, args=args, log=None, replay=False)
            )

        url = f"http://127.0.0.1:{api_port}/"
        if args.warmup and warmup_n:
            warm = write_replay(tmp, "quit-warmup", requests[1 : 1 + warmup_n])
            run_wrk_script(url, warm, connections=args.connections, duration=args.warmup)
            wait_drained(db)
        main = write_replay(tmp, "quit", requests[1 + warmup_n :])
        if time.monotonic() - signed_at > 600:
            raise BenchError("the signatures are older than 10 minutes; the 15-minute skew would soon refuse them")
        row = measured(
            "HandleUnionMemberQuitList (PUT /members/quit), AK/SK",
            url=url,
            script=main,
            server=api,
            args=args,
            log=log,
            replay=True,
            right_after=lambda: drain_note(db),
        )
        result_rows.append(row)
        after = [f"quit operations not yet finished when wrk returned: {row.note}"]
        with db.reading() as session:
            states = Counter(
                {s: n for s, n in session.execute(select(Invitation.status, func.count()).group_by(Invitation.status))}
            )
            ops = Counter(
                {
                    s: n
                    for s, n in session.execute(
                        select(Operation.status, func.count())
                        .where(Operation.kind == consortium.QUIT_KIND.name)
                        .group_by(Operation.status)
                    )
                }
            )
        after.append(f"invitations by status afterwards: {dict(sorted(states.items()))}")
        after.append(f"quit operations by status: {dict(sorted(ops.items()))}")
        probe = serialisation_probe(api_port, probe_requests)
        print(f"    {probe[0]}", flush=True)
        wait_drained(db, timeout=30)
    done = subprocess.run(
        [OPENBCS, "channel", "verify", "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        verified = json.loads(done.stdout)["channels"]
        bad = sorted(label for label, problems in verified.items() if problems)
        after.append(
            f"`openbcs channel verify` afterwards (exit {done.returncode}): {len(verified):,} channels, "
            f"{len(bad)} with a broken configuration history" + (f" ({', '.join(bad[:3])} ...)" if bad else "")
        )
    except (ValueError, KeyError, TypeError):
        after.append(f"`openbcs channel verify` exit {done.returncode}: {(done.stdout or done.stderr)[:300]}")
    for line in after:
        print(f"    {line}", flush=True)
    breakdown = []
    counts = result_rows[-1].counts
    spare = len(requests) - 1 - warmup_n - (counts.sent if counts else len(requests))
    if spare >= BREAKDOWN_QUITS:
        breakdown = cost_breakdown(db, server_key, requests[-BREAKDOWN_QUITS:])
        for line in breakdown:
            print(f"    {line}", flush=True)
    db.dispose()
    return QuitReport(args.memberships, prep, result_rows, checks, after, probe, breakdown)


# --- part 2: lists among foreign records ----------------------------------------------------------------------------


@dataclass
class ListReport:
    rows: dict[tuple[str, int, int], Row]  # (list, foreign invitations, connections)
    inprocess_ms: dict[tuple[str, int], float]
    plans: dict[tuple[str, int], list[str]]
    listed: dict[str, int]
    statements: dict[tuple[str, int], int]
    query_us: dict[tuple[str, int], tuple[float, float]]


def capture_queries(db: Database, fn: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    captured: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        with db.reading() as session:
            fn(session)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return captured


def invitation_query(db: Database, fn: Callable[[Session], Any]) -> tuple[str, Any]:
    """The first SELECT ``fn`` runs on consortium_invitations, with its parameters."""
    for statement, parameters in capture_queries(db, fn):
        if "FROM consortium_invitations" in statement and statement.lstrip().upper().startswith("SELECT"):
            return statement, parameters
    raise BenchError("no invitation query captured")


def query_plan(db: Database, statement: str, parameters: Any) -> list[str]:
    """SQLite's ``EXPLAIN QUERY PLAN`` of the statement."""
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    where = statement[statement.find("WHERE") :].replace("\n", " ")
    return [f"query: ... {where}", *(f"plan: {row[-1]}" for row in plan)]


def time_query(db: Database, statement: str, parameters: Any, runs: int = 1000) -> tuple[float, float]:
    """Median and 99th percentile microseconds of the raw statement (fetching every row), without the ORM."""
    samples = []
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(statement, parameters).fetchall()
            samples.append((time.perf_counter() - started) * 1e6)
        cursor.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def time_inprocess(db: Database, fn: Callable[[Session], Any], runs: int = 200) -> float:
    """Median milliseconds of ``fn`` in a read transaction, in this process (no HTTP, no auth)."""
    for _ in range(10):
        db.run_read(fn)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        db.run_read(fn)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def list_connections(args: argparse.Namespace) -> list[int]:
    """The lists are loaded at ``--connections`` (saturated: latency is mostly queueing) and at 1 (unloaded)."""
    return sorted({args.connections, 1}, reverse=True)


def part_lists(tmp: Path, args: argparse.Namespace) -> ListReport:
    data_dir, log = tmp / "list-data", tmp / "list-server.log"
    env = clean_env(tmp)
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True)
    db = Database(settings.resolved_database_url)
    migrations.upgrade(db)
    builder = Builder(db, load_server_key(settings))
    tenant, *others = builder.accounts(["bench-tenant", *(f"peer-{i}" for i in range(13))])
    # The tenant as inviter: one instance, its channel, 10 invitations (6 joined, 2 waiting, 1 reject, 1 quit).
    own = builder.instance(tenant)
    own_channel = builder.channel(own)
    for i, status in enumerate(["joined"] * 6 + ["waiting"] * 2 + ["reject", "quit"]):
        member = others[i]
        joined = status in ("joined", "quit")
        invitee = builder.instance(member, inviter=own) if joined else None
        builder.invitation(own_channel, member, status, invitee=invitee)
    # The tenant as invitee: 3 joined consortia, 2 waiting invitations, 1 rejected.
    for i, status in enumerate(["joined"] * 3 + ["waiting"] * 2 + ["reject"]):
        inviter = builder.instance(others[10 + i % 3])
        channel = builder.channel(inviter)
        mine = builder.instance(tenant, inviter=inviter) if status == "joined" else None
        builder.invitation(channel, tenant, status, invitee=mine)
    builder.flush()
    caller = consortium.Caller(tenant.domain_id, tenant.name, tenant.project_id, REGION)

    def members(session: Session) -> Any:
        return consortium_views.members(session, caller=caller)

    def notifications(session: Session) -> Any:
        return consortium_views.notifications(session, caller=caller)

    lists = {
        "ListMembers": (f"/v2/{tenant.project_id}/members", members, "members"),
        "ListNotifications": (f"/v2/{tenant.project_id}/notifications", notifications, "notifications"),
    }
    report = ListReport({}, {}, {}, {}, {}, {})
    port = free_port()
    inserted = 0
    with running(serve_cmd(data_dir, port, 1), env=env, log=log, port=port, health="/healthz") as api:
        token = get_token(port, tenant.as_account(), PASSWORD)
        headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
        for size in FOREIGN_SIZES:
            started = time.monotonic()
            insert_foreign_invitations(db, size - inserted, first_tenant=inserted // 10)
            inserted = size
            with db.reading() as session:
                held = session.scalar(select(func.count()).select_from(Invitation))
            print(
                f"  {held:,} invitations in the database ({size:,} of other tenants, inserted in "
                f"{time.monotonic() - started:.1f} s)",
                flush=True,
            )
            for name, (path, fn, key) in lists.items():
                status, body = http_call(port, "GET", path, headers)
                if status != 200 or not isinstance(body, dict):
                    raise BenchError(f"{name}: {status} {body!r:.300}")
                report.listed[name] = len(body[key])
                statement, parameters = invitation_query(db, fn)
                report.plans[(name, size)] = query_plan(db, statement, parameters)
                report.query_us[(name, size)] = time_query(db, statement, parameters)
                report.statements[(name, size)] = len(capture_queries(db, fn))
                report.inprocess_ms[(name, size)] = time_inprocess(db, fn)
                for connections in list_connections(args):
                    report.rows[(name, size, connections)] = load_run(
                        f"{name}, {size:,} foreign invitations, {connections} connection(s)",
                        target=True,
                        port=port,
                        path=path,
                        headers=headers,
                        server=api,
                        args=argparse.Namespace(**{**vars(args), "connections": connections}),
                        log=log,
                    )
    db.dispose()
    return report


# --- report ---------------------------------------------------------------------------------------------------------


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def render(quits: QuitReport, lists: ListReport, args: argparse.Namespace, info: dict[str, str]) -> str:
    command = " ".join(["/work/venv/bin/python bench/bench_consortium.py", *sys.argv[1:]])
    lines = [
        f"# OpenBCS consortium benchmark, {info['date']}",
        "",
        f"`{command}` — wrk -t1 -c{args.connections} -d{args.duration:g}s --latency (quit and baselines with "
        f"--timeout {WRK_TIMEOUT}), uvicorn 1 worker, loopback, "
        f"warm-up {args.warmup} s before each run",
        "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, Linux {info['kernel']}; "
        f"load average at start {info['loadavg']}; source {info['revision']}",
        "",
        "## 1. Quit throughput",
        "",
        f"{quits.memberships:,} joined memberships prepared for the measured run (plus the warm-up's and one checked "
        f"by hand), each with its own inviter and invitee instance, in {quits.prep_seconds:.1f} s. "
        "`openbcs serve --operation-step-seconds 0`; every request quits a different membership, AK/SK-signed.",
        "",
        "| endpoint | req/s | x PUT baseline | p50 (ms) | p99 (ms) | requests | 200 | 400 | other non-2xx "
        "| socket errors | max server RSS (MiB) | server CPU (us/req) | machine busy before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = quits.rows[0].result.rps
    for row in quits.rows:
        r = row.result
        if row.counts:
            ok, bad, other = str(row.counts.ok), str(row.counts.bad_request), str(row.counts.other)
        else:
            ok, bad, other = str(r.requests - r.non_2xx), "-", str(r.non_2xx)
        lines.append(
            f"| {row.label} | {r.rps:,.0f} | {r.rps / base:.3f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.requests:,} "
            f"| {ok} | {bad} | {other} | {r.socket_errors} | {row.rss_kib / 1024:.1f} "
            f"| {row.cpu_us_per_request:.0f} | {row.busy_before:.0%} |"
        )
    quit_row = quits.rows[-1]
    counts = quit_row.counts
    assert counts is not None
    sqlite_base = quits.rows[1].result.rps
    logged = dict(sorted((quit_row.server_log_status or {}).items()))
    lines += [
        "",
        "200/400 for the quit run are counted by the Lua script from the answers it read "
        f"(400 error codes: {counts.codes400 or 'none'}); it sent {counts.sent:,} of the prepared requests"
        + (" and ran out of memberships before the duration ended (wrk stopped early)" if counts.exhausted else "")
        + f". Statuses in the server's request log for the run, counted once it stopped growing: {logged}"
        " (it also logs answers to requests wrk had already given up on).",
        "",
        *(
            [f"wrk's socket errors in the quit run: {socket_line[0]}.", ""]
            if (socket_line := re.findall(r"Socket errors: [^\n]+", quit_row.result.raw))
            else []
        ),
        f"Quit vs the SQLite-insert baseline: {quit_row.result.rps / sqlite_base:.3f}x.",
        "",
        "Checked before the load:",
        "",
        *(f"- {line}" for line in quits.checks),
        "",
        "After the load:",
        "",
        *(f"- {line}" for line in quits.after),
        *(f"- {line}" for line in quits.probe),
        "",
        "Where a quit's server time goes (in-process, after the load, on memberships it did not reach):",
        "",
        *(f"- {line}" for line in quits.breakdown or ["(skipped: no spare memberships)"]),
        "",
        "## 2. Member lists among other tenants' invitations",
        "",
        f"One tenant's lists (ListMembers: {lists.listed.get('ListMembers')} members, ListNotifications: "
        f"{lists.listed.get('ListNotifications')} notifications), X-Auth-Token, while the database holds "
        + " and then ".join(f"{s:,}" for s in FOREIGN_SIZES)
        + " invitations of other tenants.",
        "",
        "| endpoint | foreign invitations | connections | req/s | p50 (ms) | p99 (ms) | requests | non-2xx "
        "| socket errors "
        "| in-process list (ms, median) | SQL statements per list | max server RSS (MiB) | server CPU (us/req) "
        "| machine busy before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, size, connections), row in lists.rows.items():
        r = row.result
        lines.append(
            f"| {name} | {size:,} | {connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.requests:,} "
            f"| {r.non_2xx} "
            f"| {r.socket_errors} | {lists.inprocess_ms[(name, size)]:.2f} | {lists.statements[(name, size)]} "
            f"| {row.rss_kib / 1024:.1f} "
            f"| {row.cpu_us_per_request:.0f} | {row.busy_before:.0%} |"
        )
    small, large = FOREIGN_SIZES
    lines += [
        "",
        "The list's invitation query alone (raw sqlite3, 1,000 runs, microseconds, median / p99): "
        + ", ".join(f"{name} at {size:,}: {q50:.0f} / {q99:.0f}" for (name, size), (q50, q99) in lists.query_us.items())
        + ".",
        "",
        "Query plans (SQLite `EXPLAIN QUERY PLAN`, the list's invitation query):",
        "",
    ]
    for (name, size), plan in lists.plans.items():
        lines.append(f"- {name}, {size:,} foreign: " + "; ".join(f"`{p}`" for p in plan))
    lines += [
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    ratio = quit_row.result.rps / base
    lines.append(f"| quit >= 0.5 x baseline PUT rate | {ratio:.3f} x | {yes(ratio >= 0.5)} |")
    lines.append(
        f"| quit p99 < 20 ms at {args.connections} connections | {quit_row.result.p99_ms:.1f} ms "
        f"| {yes(quit_row.result.p99_ms < 20)} |"
    )
    for name in ("ListMembers", "ListNotifications"):
        for connections in list_connections(args):
            a, b = lists.rows[(name, small, connections)].result, lists.rows[(name, large, connections)].result
            for metric, x, y in (("p50", a.p50_ms, b.p50_ms), ("p99", a.p99_ms, b.p99_ms)):
                lines.append(
                    f"| {name} {metric}, {connections} connection(s): {large:,} / {small:,} foreign "
                    f"<= {LIST_RATIO_TARGET} | {y:.2f} / {x:.2f} ms = {y / x:.2f} | {yes(y / x <= LIST_RATIO_TARGET)} |"
                )
        ia, ib = lists.inprocess_ms[(name, small)], lists.inprocess_ms[(name, large)]
        lines.append(
            f"| (context) {name} in-process, median, {large:,} / {small:,} | {ib:.2f} / {ia:.2f} ms = {ib / ia:.2f} "
            "| - |"
        )
        (qa50, qa99), (qb50, qb99) = lists.query_us[(name, small)], lists.query_us[(name, large)]
        lines.append(
            f"| (context) {name} invitation query alone, {large:,} / {small:,} | median {qb50:.0f} / {qa50:.0f} us "
            f"= {qb50 / qa50:.2f}, p99 {qb99:.0f} / {qa99:.0f} us = {qb99 / qa99:.2f} | - |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--memberships",
        type=int,
        default=3000,
        help="joined memberships for the measured quit run; wrk stops when they run out (default 3000)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first (default 2)")
    parser.add_argument(
        "--warmup-memberships", type=int, default=600, help="memberships set aside for the quit warm-up (default 600)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=int,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the shared machine to be idle (< 15%% busy for 5 s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories and server logs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed")

    tmp = Path(tempfile.mkdtemp(prefix="openbcs-bench-consortium-"))
    os.environ["HOME"] = str(tmp)  # huaweicloudsdkcore writes $HOME/.huaweicloud when imported
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    info = machine()
    print(f"OpenBCS consortium benchmark in {tmp} ({info['nproc']} CPUs, {info['cpu']}, Python {info['python']})")
    started = time.monotonic()
    try:
        print("1. quit throughput", flush=True)
        quits = part_quit(tmp, args)
        print("2. lists among foreign invitations", flush=True)
        lists = part_lists(tmp, args)
        report = render(quits, lists, args, info)
        print()
        print(report)
        results = BENCH_DIR / "results"
        results.mkdir(exist_ok=True)
        out = results / f"consortium-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.md"
        out.write_text(report)
        print(f"written to {out} (total {time.monotonic() - started:.0f} s)")
        unexpected = [row.label for row in quits.rows if row.result.socket_errors]
        quit_counts = quits.rows[-1].counts
        if quit_counts is not None and (quit_counts.bad_request or quit_counts.other):
            unexpected.append(quits.rows[-1].label)
        unexpected += [row.label for row in lists.rows.values() if row.result.non_2xx or row.result.socket_errors]
        if unexpected:
            print(f"FAILED: unexpected answers or socket errors in: {', '.join(unexpected)}", file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
