"""Channels as real Fabric configuration: block 0 says what the API reports (MSP ids, orderers, consensus, batch
settings, anchor peers, root CAs), every change of the organisation set or an anchor peer is one admin-signed update
and block, a peer change that alters neither adds none, and the stored history verifies as an orderer would check it."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fabric_protos.common import common_pb2, configtx_pb2, configuration_pb2
from fabric_protos.msp import msp_config_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_pb2
from fabric_protos.orderer.etcdraft import configuration_pb2 as etcdraft_pb2
from fabric_protos.peer import configuration_pb2 as peer_pb2

from openbcs.kernel.db import Database
from tests.support.bodies import DEFAULT_ORG
from tests.support.expected import msp_id
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant


def _config(raw: bytes) -> configtx_pb2.Config:
    block = common_pb2.Block.FromString(raw)
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(block.data.data[0]).payload)
    return configtx_pb2.ConfigEnvelope.FromString(payload.data).config


def _block(tenant: Tenant, blockchain_id: str, channel: str, number: int) -> bytes:
    answer = tenant.call("GET", f"/blockchains/{blockchain_id}/channels/{channel}/blocks/{number}")
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/octet-stream"), answer.text
    return bytes(answer.content)


def _zip(tenant: Tenant, blockchain_id: str, org: str) -> dict[str, bytes]:
    answer = tenant.call("GET", f"/blockchains/{blockchain_id}/cert", org_name=org, cert_type="ca")
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_block_zero_says_what_the_api_reports(tenant: Tenant) -> None:
    bid = tenant.create_instance(
        "bcs-fabric",
        peer_orgs=[("org-a", 2), ("org-b", 1)],
        block_info={"batch_timeout": 3, "max_message_count": 200, "preferred_maxbytes": 4},
    )
    config = _config(_block(tenant, bid, "channel", 0))
    detail, nodes = tenant.detail(bid), tenant.nodes(bid)
    assert config.sequence == 0
    channel_group = config.channel_group
    hashing = configuration_pb2.HashingAlgorithm.FromString(channel_group.values["HashingAlgorithm"].value)
    width = configuration_pb2.BlockDataHashingStructure.FromString(
        channel_group.values["BlockDataHashingStructure"].value
    )
    assert (hashing.name, width.width) == ("SHA256", 4294967295)
    for group in (channel_group, channel_group.groups["Orderer"], channel_group.groups["Application"]):
        capabilities = configuration_pb2.Capabilities.FromString(group.values["Capabilities"].value)
        assert list(capabilities.capabilities) == ["V2_0"]

    # The application organisations are the instance's, by the MSP ids ShowBlockchainNodes reports, each anchored
    # at its lowest-numbered peer and verified by the root CAs DownloadBlockchainCert hands out.
    application = channel_group.groups["Application"]
    assert sorted(application.groups) == sorted(view["org_msp_id"] for view in nodes.values())
    for org, view in nodes.items():
        group = application.groups[view["org_msp_id"]]
        anchors = peer_pb2.AnchorPeers.FromString(group.values["AnchorPeers"].value).anchor_peers
        first_peer = min(view["peers"], key=lambda name: int(name.rsplit("-", 1)[1]))
        assert [(a.host, a.port) for a in anchors] == [(f"{first_peer}.{view['org_domain']}", 7051)]
        msp = msp_config_pb2.FabricMSPConfig.FromString(
            msp_config_pb2.MSPConfig.FromString(group.values["MSP"].value).config
        )
        files = _zip(tenant, bid, org)
        assert msp.name == view["org_msp_id"]
        assert list(msp.root_certs) == [v for k, v in files.items() if k.startswith("msp/cacerts/")]
        assert list(msp.tls_root_certs) == [v for k, v in files.items() if k.startswith("msp/tlscacerts/")]
        assert msp.fabric_node_ous.enable
        assert [
            ou.organizational_unit_identifier
            for ou in (
                msp.fabric_node_ous.client_ou_identifier,
                msp.fabric_node_ous.peer_ou_identifier,
                msp.fabric_node_ous.admin_ou_identifier,
                msp.fabric_node_ous.orderer_ou_identifier,
            )
        ] == ["client", "peer", "admin", "orderer"]

    # The orderers: consensus, one consenter per orderer at the addresses the API reports, the batch settings.
    orderer = channel_group.groups["Orderer"]
    consensus = orderer_pb2.ConsensusType.FromString(orderer.values["ConsensusType"].value)
    assert consensus.type == detail["basic_info"]["consensus"] == "etcdraft"
    consenters = etcdraft_pb2.ConfigMetadata.FromString(consensus.metadata).consenters
    addresses = sorted(a["domain_port"] for a in detail["orderer_info"]["address"])
    assert sorted(f"{c.host}:{c.port}" for c in consenters) == addresses
    assert all(c.client_tls_cert == c.server_tls_cert and b"BEGIN CERTIFICATE" in c.client_tls_cert for c in consenters)
    batch = orderer_pb2.BatchSize.FromString(orderer.values["BatchSize"].value)
    block_info = detail["basic_info"]["block_info"]
    assert (batch.max_message_count, batch.preferred_max_bytes) == (
        block_info["max_message_count"],
        block_info["preferred_maxbytes"] * 1024 * 1024,
    )
    assert orderer_pb2.BatchTimeout.FromString(orderer.values["BatchTimeout"].value).timeout == "3s"
    assert orderer.policies["BlockValidation"].policy.type == 3  # ImplicitMeta


def test_a_peer_that_changes_no_anchor_adds_no_block_and_an_org_change_adds_one(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("bcs-peers", peer_orgs=[("org-a", 3), ("org-b", 2)], channels=[])
    tenant.create_channel(bid, "ledger")
    assert [b["event"] for b in tenant.history(bid, "ledger")["blocks"]] == ["create"]
    # org-a joins with one peer: its lowest-numbered peer is its anchor (block 1).
    tenant.run(tenant.add_peers(bid, "ledger", {"org-a": 1}))
    # A second peer of org-a: nothing in the Fabric configuration changes, so no block.
    tenant.run(tenant.add_peers(bid, "ledger", {"org-a": 1}))
    # org-b joins (block 2), then leaves with its peers (block 3).
    tenant.run(tenant.add_peers(bid, "ledger", {"org-b": 2}))
    tenant.run(tenant.remove_orgs(bid, "ledger", ["org-b"]))
    history = tenant.history(bid, "ledger")
    assert history["verified"] is True
    assert [(b["number"], b["event"]) for b in history["blocks"]] == [
        (0, "create"),
        (1, "org_added"),
        (2, "org_added"),
        (3, "org_removed"),
    ]
    stored = config_blocks(db, bid, "ledger")
    org_a, org_b = msp_id(bid, "org-a"), msp_id(bid, "org-b")
    assert [sorted(_config(b["block"]).channel_group.groups["Application"].groups) for b in stored] == [
        [],
        [org_a],
        sorted([org_a, org_b]),
        [org_a],
    ]
    # Removing org-b needed a majority (both) of the two members' admins; adding it, org-a's alone.
    assert [sorted(b["signers"]) for b in history["blocks"]] == [[], [], [org_a], sorted([org_a, org_b])]
    assert [b["config_update"] is None for b in stored] == [True, False, False, False]


def test_blocks_are_read_by_the_owner_and_current_members_only(
    make_tenant: Any, client: Any, make_account: Any
) -> None:
    from tests.support.consortia import setup_consortium

    consortium = setup_consortium(client, make_account)
    consortium.join()
    inviter, invitee = consortium.inviter, consortium.invitee
    union, member = consortium.inviter_bcs_id, consortium.invitee_bcs_id
    assert member is not None
    # The owner through its instance, the member through its own instance: the same bytes.
    assert _block(inviter, union, "channel", 1) == _block(invitee, member, "channel", 1)
    update = invitee.call("GET", f"/blockchains/{member}/channels/channel/blocks/1/update")
    assert (update.status_code, update.headers["content-type"]) == (200, "application/octet-stream")
    envelope = common_pb2.Envelope.FromString(update.content)
    header = common_pb2.ChannelHeader.FromString(common_pb2.Payload.FromString(envelope.payload).header.channel_header)
    assert (header.type, header.channel_id) == (common_pb2.HeaderType.CONFIG_UPDATE, "channel")
    assert header.tx_id == invitee.history(member)["blocks"][1]["tx_id"]
    # Block 0 has no update; unknown numbers and another tenant's instance are not found; a bad number is refused.
    for path, status, code in (
        (f"/blockchains/{union}/channels/channel/blocks/0/update", 404, "BCS.4040404"),
        (f"/blockchains/{union}/channels/channel/blocks/7", 404, "BCS.4040404"),
        (f"/blockchains/{union}/channels/channel/blocks/-1", 400, "BCS.4006014"),
        (f"/blockchains/{union}/channels/nochannel/blocks/0", 400, "BCS.4001052"),
    ):
        answer = inviter.call("GET", path)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), (path, answer.text)
    stranger = make_tenant()
    answer = stranger.call("GET", f"/blockchains/{union}/channels/channel/blocks/0")
    assert (answer.status_code, answer.json()["error_code"]) == (400, "BCS.4001011")
    # Once the member has quit, its instance reads the channel no more (the owner still does).
    consortium.quit()
    answer = invitee.call("GET", f"/blockchains/{member}/channels/channel/blocks/0")
    assert (answer.status_code, answer.json()["error_code"]) == (400, "BCS.4001052")
    assert [b["event"] for b in inviter.history(union)["blocks"]] == ["create", "org_added", "org_removed"]
    assert common_pb2.Block.FromString(_block(inviter, union, "channel", 2)).header.number == 2
    assert DEFAULT_ORG in [org["name"] for org in inviter.history(union)["blocks"][2]["orgs"]]
