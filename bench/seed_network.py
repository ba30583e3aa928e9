"""Seeded networks: Normal, idle instances with their organisations, nodes and PKI rows (:mod:`bench.seed_pki`), the
default channel with its Fabric configuration blocks, invitations in any status, and joined memberships — with the
finished creation, join and quit records that link blocks and invitations to operations.

Rows are gathered in memory and inserted in bulk, except channels: :meth:`NetworkSeeder.flush` replays each channel's
history (created with the inviter's organisation, members joining and quitting) through the functions the operations
themselves call (``network.membership.create_channel``, ``join_orgs``, ``leave``), so every channel gets exactly the
genesis block and admin-signed, orderer-signed config blocks the API would have made, and verifies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bench.seed_pki import PkiTemplate
from bench.seeding import Seeder, Tenant, inviter_settings
from openbcs.consortium import kinds as consortium_kinds
from openbcs.consortium import states
from openbcs.instances import kinds as instance_kinds
from openbcs.instances.creation import DEFAULT_CHANNEL_NAME, DEFAULT_ORG_NAME, DEFAULT_PEER_COUNT, ORDERERS_FOR
from openbcs.instances.topology import ORDERER_ORG_NAME
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network import membership
from openbcs.network.guards import DEPLOYED, NODE_NORMAL, NORMAL
from openbcs.network.models import Channel
from openbcs.network.naming import org_hash

ORDERERS = ORDERERS_FOR["etcdraft"]


CHANNELS_PER_COMMIT = 500  # replayed channel histories per transaction (bounds the session's memory)


@dataclass
class Org:
    id: int
    blockchain_id: str
    name: str
    name_hash: str
    node_ids: list[int]


@dataclass
class SeededInstance:
    id: str
    name: str
    tenant: Tenant
    peer_org: Org


@dataclass
class ChannelState:
    """A channel to create when the seeder flushes; its changes are :class:`Change` entries."""

    instance: SeededInstance
    name: str
    created_by: str  # the creation operation's id, the genesis block's cause


@dataclass(frozen=True)
class Change:
    """One step of a channel's history: ``create`` (with the inviter's organisation), ``add`` or ``remove`` ``org``;
    ``cause`` is the operation, ``acting`` the instance whose admins sign first."""

    what: str
    channel: ChannelState
    org: Org
    cause: str
    acting: str


@dataclass(frozen=True)
class Membership:
    """A joined member: the invitee instance's organisation is in the inviter instance's channel."""

    inviter: SeededInstance
    invitee: SeededInstance
    channel: str

    def quit_body(self) -> dict[str, str]:
        """The body of ``PUT /v2/{project_id}/members/quit`` that quits this membership."""
        inviter, invitee = self.inviter.tenant, self.invitee.tenant
        return {
            "inviter_bcsid": self.inviter.id,
            "inviter_projectid": inviter.project_id,
            "inviter_domainid": inviter.domain_id,
            "inviter_username": inviter.name,
            "channel_name": self.channel,
            "invitee_bcsid": self.invitee.id,
            "invitee_projectid": invitee.project_id,
            "invitee_domainid": invitee.domain_id,
        }


class NetworkSeeder(Seeder):
    """A :class:`Seeder` that also builds instances, channels and memberships."""

    def __init__(self, db: Database, server_key: ServerKey) -> None:
        super().__init__(db, server_key)
        self.pki = PkiTemplate(server_key)
        self.changes: list[Change] = []

    def _org(self, blockchain_id: str, name: str, role: str, nodes: int, now: int) -> Org:
        org_id, name_hash = self._id("orgs"), org_hash(blockchain_id, name)
        self.rows["orgs"].append(
            {
                "id": org_id,
                "blockchain_id": blockchain_id,
                "name": name,
                "role": role,
                "name_hash": name_hash,
                "pvc_name": f"pvc-{name_hash[:12]}",
                "status": NODE_NORMAL,
                "created_time": now,
            }
        )
        node_ids = [self._id("nodes") for _ in range(nodes)]
        node_names = [f"{role}-{name_hash}-{ordinal}" for ordinal in range(nodes)]
        for ordinal, (node_id, node_name) in enumerate(zip(node_ids, node_names, strict=True)):
            self.rows["nodes"].append(
                {"id": node_id, "org_id": org_id, "ordinal": ordinal, "name": node_name, "status": NODE_NORMAL}
            )
        self.rows["org_pki"].append(self.pki.org_pki(org_id))
        self.rows["issued"] += self.pki.issued(org_id, role, node_names)
        return Org(org_id, blockchain_id, name, name_hash, node_ids)

    def instance(
        self, tenant: Tenant, *, inviter: SeededInstance | None = None, with_channel: bool = True
    ) -> tuple[SeededInstance, ChannelState | None]:
        """A Normal, idle union instance with its finished creation record: an inviter (peer and orderer
        organisations, and the default channel unless ``with_channel`` is false) or an invitee of ``inviter``."""
        self.instances += 1
        blockchain_id, now = str(uuid.uuid4()), now_ns()
        name = f"{'member' if inviter else 'union'}{self.instances}"
        self.rows["instances"].append(
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
                "status": NORMAL,
                "deploy_status": DEPLOYED,
                "created_time": now,
                "settings": _settings(name, invitee=inviter is not None),
            }
        )
        peer_org = self._org(blockchain_id, DEFAULT_ORG_NAME, "peer", DEFAULT_PEER_COUNT, now)
        orderers = 0 if inviter else ORDERERS
        if inviter is None:
            self._org(blockchain_id, ORDERER_ORG_NAME, "orderer", orderers, now)
        seeded = SeededInstance(blockchain_id, name, tenant, peer_org)
        channels = [] if inviter or not with_channel else [DEFAULT_CHANNEL_NAME]
        planned = [{"name": c, "description": "", "org_names": [DEFAULT_ORG_NAME]} for c in channels]
        orgs = 1 if inviter else 2
        details = [
            "configuration generated",
            f"{4 * orgs + 2 * (DEFAULT_PEER_COUNT + orderers)} certificate(s) issued",
            "cluster available (modelled)",
            "network configured (modelled)",
            "security group configured (modelled)",
            "not requested",
            "evs volumes provisioned (modelled)",
            f"{orderers} orderer node(s) running (modelled)",
            f"{DEFAULT_PEER_COUNT} peer node(s) running (modelled)",
            f"{len(channels)} channel(s) created",
            "instance is Normal",
        ]
        created = self.operation(
            instance_kinds.CREATE, tenant, (seeded.id, seeded.name), {"channels": planned}, details
        )
        return seeded, (self._channel(seeded, created) if channels else None)

    def _channel(self, instance: SeededInstance, created_by: str) -> ChannelState:
        state = ChannelState(instance, DEFAULT_CHANNEL_NAME, created_by)
        self.changes.append(Change("create", state, instance.peer_org, created_by, instance.id))
        return state

    def invitation(self, channel: ChannelState, tenant: Tenant, status: str) -> SeededInstance | None:
        """An invitation of ``tenant`` into ``channel`` as the services leave it in ``status`` (waiting, reject,
        joined or quit); for joined and quit, the invitee instance created for it, and the join (and quit)
        operations with their configuration blocks. Returns the invitee instance, if any."""
        invitee, operation_id = None, None
        invitation_id = self._id("invitations")
        if status in (states.JOINED, states.QUIT):
            invitee, _ = self.instance(tenant, inviter=channel.instance)
            org = invitee.peer_org
            payload = {"invitation_id": invitation_id, "org_ids": [org.id]}
            details = [f"1 organisation(s) joined channel {channel.name}", "member joined"]
            on = (invitee.id, invitee.name)
            operation_id = self.operation(consortium_kinds.JOIN, tenant, on, payload, details)
            self.changes.append(Change("add", channel, org, operation_id, invitee.id))
            if status == states.QUIT:
                details = [f"1 organisation(s) left channel {channel.name}", "member quit"]
                payload = {"invitation_id": invitation_id}
                operation_id = self.operation(consortium_kinds.QUIT, tenant, on, payload, details)
                self.changes.append(Change("remove", channel, org, operation_id, invitee.id))
        inviter, now = channel.instance, self._tick()
        orgs = (
            [{"name": invitee.peer_org.name, "name_hash": invitee.peer_org.name_hash, "node_count": 2}]
            if invitee
            else []
        )
        self.rows["invitations"].append(
            {
                "id": invitation_id,
                "inviter_blockchain_id": inviter.id,
                "inviter_blockchain_name": inviter.name,
                "inviter_project_id": inviter.tenant.project_id,
                "inviter_domain_id": inviter.tenant.domain_id,
                "inviter_name": inviter.tenant.name,
                "inviter_settings": inviter_settings(),
                "channel_name": channel.name,
                "invitee_domain_id": tenant.domain_id,
                "invitee_name": tenant.name,
                "invitee_project_id": tenant.project_id,
                "invitee_blockchain_id": invitee.id if invitee else None,
                "invitee_blockchain_name": invitee.name if invitee else None,
                "orgs": orgs,
                "status": status,
                "notification_status": status,
                "deleted_by_inviter": False,
                "read_status": 0 if status == states.WAITING else 1,
                "operation_id": operation_id,
                "created_time": now,
                "updated_time": now,
            }
        )
        return invitee

    def flush(self, chunk: int = 20_000) -> int:
        """Insert the gathered rows, then replay the channels' histories (``CHANNELS_PER_COMMIT`` channels per
        transaction); the number of rows inserted in bulk."""
        total = super().flush(chunk)
        changes, self.changes = self.changes, []
        made: dict[int, int] = {}  # id() of a ChannelState -> its channel's id
        started = 0
        session = Session(self.db.engine, expire_on_commit=False)
        try:
            for change in changes:
                if change.what == "create" and started == CHANNELS_PER_COMMIT:
                    session.commit()
                    session.expunge_all()
                    started = 0
                started += change.what == "create"
                self._replay(session, change, made)
            session.commit()
        finally:
            session.close()
        return total

    def _replay(self, session: Session, change: Change, made: dict[int, int]) -> None:
        keys, org_ids = self.server_key, [change.org.id]
        if change.what == "create":
            made[id(change.channel)] = membership.create_channel(
                session,
                blockchain_id=change.channel.instance.id,
                name=change.channel.name,
                description="",
                org_ids=org_ids,
                all_peers=True,
                cause=change.cause,
                keys=keys,
            ).id
            return
        channel = session.get_one(Channel, made[id(change.channel)])
        if change.what == "add":
            membership.join_orgs(session, channel, org_ids=org_ids, cause=change.cause, keys=keys, acting=change.acting)
        else:
            membership.leave(session, channel, org_ids=org_ids, cause=change.cause, keys=keys, acting=change.acting)

    def membership(self, inviter_tenant: Tenant, invitee_tenant: Tenant) -> Membership:
        """A joined membership: a new inviter instance with its channel, and a new invitee instance in it."""
        inviter, channel = self.instance(inviter_tenant)
        assert channel is not None
        invitee = self.invitation(channel, invitee_tenant, states.JOINED)
        assert invitee is not None
        return Membership(inviter, invitee, channel.name)


def _settings(name: str, *, invitee: bool) -> dict[str, Any]:
    """The creation request as an instance keeps it (``instances.service._stored_settings``)."""
    stored: dict[str, Any] = {
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
        "is_invitee": invitee,
        "cluster_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "cluster_name": "bench-cce",
        "cluster_platform_type": "VirtualMachine",
    }
    if not invitee:
        stored["orderer_node_number"] = ORDERERS
    return stored
