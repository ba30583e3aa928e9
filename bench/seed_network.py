"""Seeded networks: Normal, idle instances with their organisations and nodes, the default channel with its
hash-chained configuration blocks (``config_history.block_hash``), invitations in any status, and joined
memberships — with the finished creation, join and quit records that link blocks and invitations to operations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.seeding import Seeder, Tenant, inviter_settings
from openbcs.consortium import kinds as consortium_kinds
from openbcs.consortium import states
from openbcs.instances import kinds as instance_kinds
from openbcs.instances.creation import DEFAULT_CHANNEL_NAME, DEFAULT_ORG_NAME, DEFAULT_PEER_COUNT, ORDERERS_FOR
from openbcs.instances.topology import ORDERER_ORG_NAME
from openbcs.kernel.clock import now_ns
from openbcs.network.config_history import GENESIS_PREVIOUS_HASH, block_hash
from openbcs.network.guards import DEPLOYED, NODE_NORMAL, NORMAL
from openbcs.network.naming import org_hash

ORDERERS = ORDERERS_FOR["etcdraft"]


@dataclass
class Org:
    id: int
    blockchain_id: str
    name: str
    name_hash: str
    node_ids: list[int]

    def entry(self) -> dict[str, str]:
        """The organisation as a configuration block lists it."""
        return {"blockchain_id": self.blockchain_id, "name": self.name, "msp_id": f"{self.name_hash}MSP"}


@dataclass
class SeededInstance:
    id: str
    name: str
    tenant: Tenant
    peer_org: Org


@dataclass
class ChannelState:
    id: int
    instance: SeededInstance
    name: str
    created_by: str  # the creation operation's id, the genesis block's cause
    orgs: list[Org] = field(default_factory=list)
    number: int = -1
    last_hash: str = GENESIS_PREVIOUS_HASH


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
        for ordinal, node_id in enumerate(node_ids):
            node_name = f"{role}-{name_hash}-{ordinal}"
            self.rows["nodes"].append(
                {"id": node_id, "org_id": org_id, "ordinal": ordinal, "name": node_name, "status": NODE_NORMAL}
            )
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

    def _block(self, channel: ChannelState, event: str, cause: str) -> None:
        channel.number += 1
        orgs = sorted((org.entry() for org in channel.orgs), key=lambda o: (o["msp_id"], o["name"]))
        when = self._tick()
        digest = block_hash(
            channel=f"{channel.instance.id}/{channel.name}",
            number=channel.number,
            previous_hash=channel.last_hash,
            event=event,
            orgs=orgs,
            cause=cause,
            time=when,
        )
        self.rows["blocks"].append(
            {
                "id": self._id("blocks"),
                "channel_id": channel.id,
                "number": channel.number,
                "previous_hash": channel.last_hash,
                "event": event,
                "orgs": orgs,
                "cause": cause,
                "time": when,
                "hash": digest,
            }
        )
        channel.last_hash = digest

    def _add_org(self, channel: ChannelState, org: Org) -> None:
        channel.orgs.append(org)
        self.rows["channel_orgs"].append(
            {"id": self._id("channel_orgs"), "channel_id": channel.id, "org_id": org.id, "joined_time": self._tick()}
        )
        for node_id in org.node_ids:
            self.rows["channel_peers"].append(
                {"id": self._id("channel_peers"), "channel_id": channel.id, "node_id": node_id}
            )

    def _remove_org(self, channel: ChannelState, org: Org) -> None:
        channel.orgs.remove(org)
        self.rows["channel_orgs"] = [
            r for r in self.rows["channel_orgs"] if (r["channel_id"], r["org_id"]) != (channel.id, org.id)
        ]
        peers = set(org.node_ids)
        self.rows["channel_peers"] = [
            r for r in self.rows["channel_peers"] if r["channel_id"] != channel.id or r["node_id"] not in peers
        ]

    def _channel(self, instance: SeededInstance, created_by: str) -> ChannelState:
        state = ChannelState(self._id("channels"), instance, DEFAULT_CHANNEL_NAME, created_by)
        self.rows["channels"].append(
            {
                "id": state.id,
                "blockchain_id": instance.id,
                "name": state.name,
                "description": "",
                "created_time": self._tick(),
            }
        )
        self._add_org(state, instance.peer_org)
        self._block(state, "create", created_by)
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
            self._add_org(channel, org)
            self._block(channel, "org_added", operation_id)
            if status == states.QUIT:
                details = [f"1 organisation(s) left channel {channel.name}", "member quit"]
                payload = {"invitation_id": invitation_id}
                operation_id = self.operation(consortium_kinds.QUIT, tenant, on, payload, details)
                self._remove_org(channel, org)
                self._block(channel, "org_removed", operation_id)
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
