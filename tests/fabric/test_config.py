"""build_config and genesis_block: the groups, values and policies configtxgen writes."""

from __future__ import annotations

from fabric_protos.common.common_pb2 import (
    Block,
    BlockMetadataIndex,
    ChannelHeader,
    Envelope,
    HeaderType,
    LastConfig,
    Metadata,
    OrdererBlockMetadata,
    Payload,
    SignatureHeader,
)
from fabric_protos.common.configtx_pb2 import ConfigEnvelope, ConfigGroup
from fabric_protos.common.configuration_pb2 import (
    BlockDataHashingStructure,
    Capabilities,
    HashingAlgorithm,
    OrdererAddresses,
)
from fabric_protos.common.policies_pb2 import ImplicitMetaPolicy, Policy, SignaturePolicyEnvelope
from fabric_protos.msp.msp_config_pb2 import FabricMSPConfig, MSPConfig
from fabric_protos.msp.msp_principal_pb2 import MSPPrincipal, MSPRole
from fabric_protos.orderer.configuration_pb2 import BatchSize, BatchTimeout, ChannelRestrictions, ConsensusType
from fabric_protos.orderer.etcdraft.configuration_pb2 import ConfigMetadata
from fabric_protos.peer.configuration_pb2 import ACLs, AnchorPeers

from openbcs.fabric import block_data_hash, build_config, genesis_block
from openbcs.fabric.signing import tx_id

from .conftest import CHANNEL, NOW, orderer_spec


def _implicit(group: ConfigGroup, name: str) -> tuple[str, str]:
    policy = group.policies[name].policy
    assert policy.type == Policy.IMPLICIT_META
    meta = ImplicitMetaPolicy.FromString(policy.value)
    return ImplicitMetaPolicy.Rule.Name(meta.rule), meta.sub_policy


def _signature(group: ConfigGroup, name: str) -> tuple[int, list[tuple[str, str]]]:
    policy = group.policies[name].policy
    assert policy.type == Policy.SIGNATURE
    envelope = SignaturePolicyEnvelope.FromString(policy.value)
    principals = []
    for principal in envelope.identities:
        assert principal.principal_classification == MSPPrincipal.ROLE
        role = MSPRole.FromString(principal.principal)
        principals.append((role.msp_identifier, MSPRole.MSPRoleType.Name(role.role)))
    rules = envelope.rule.n_out_of.rules
    assert [r.signed_by for r in rules] == list(range(len(principals)))
    return envelope.rule.n_out_of.n, principals


def _capabilities(group: ConfigGroup) -> list[str]:
    return sorted(Capabilities.FromString(group.values["Capabilities"].value).capabilities)


def _mod_policies(group: ConfigGroup) -> set[str]:
    found = {group.mod_policy}
    for child in group.groups.values():
        found |= _mod_policies(child)
    found |= {v.mod_policy for v in group.values.values()} | {p.mod_policy for p in group.policies.values()}
    return found


def test_channel_group(orgs, spec_of, ordering):
    channel = build_config(spec_of(orgs[0].app(), orgs[1].app())).channel_group
    assert sorted(channel.groups) == ["Application", "Orderer"]
    assert HashingAlgorithm.FromString(channel.values["HashingAlgorithm"].value).name == "SHA256"
    width = BlockDataHashingStructure.FromString(channel.values["BlockDataHashingStructure"].value).width
    assert width == 4294967295
    # The orderers' addresses are only in the orderer organisation's Endpoints (Fabric 3 refuses the global ones).
    assert "OrdererAddresses" not in channel.values
    assert _capabilities(channel) == ["V2_0"]
    assert _implicit(channel, "Readers") == ("ANY", "Readers")
    assert _implicit(channel, "Writers") == ("ANY", "Writers")
    assert _implicit(channel, "Admins") == ("MAJORITY", "Admins")
    assert channel.mod_policy == "Admins"
    assert _mod_policies(channel) == {"Admins"}


def test_orderer_group(orgs, spec_of, ordering, ord_org):
    orderer = build_config(spec_of(orgs[0].app())).channel_group.groups["Orderer"]
    consensus = ConsensusType.FromString(orderer.values["ConsensusType"].value)
    assert consensus.type == "etcdraft"
    raft = ConfigMetadata.FromString(consensus.metadata)
    assert [(c.host, c.port, c.client_tls_cert, c.server_tls_cert) for c in raft.consenters] == [
        (c.host, c.port, c.client_tls_cert, c.server_tls_cert) for c in ordering.consenters
    ]
    assert raft.options.tick_interval == "500ms"
    assert (raft.options.election_tick, raft.options.heartbeat_tick, raft.options.max_inflight_blocks) == (10, 1, 5)
    assert raft.options.snapshot_interval_size == 16 * 1024 * 1024
    batch = BatchSize.FromString(orderer.values["BatchSize"].value)
    assert (batch.max_message_count, batch.absolute_max_bytes, batch.preferred_max_bytes) == (321, 77 << 20, 512 << 10)
    assert BatchTimeout.FromString(orderer.values["BatchTimeout"].value).timeout == "3s"
    assert ChannelRestrictions.FromString(orderer.values["ChannelRestrictions"].value).max_count == 0
    assert _capabilities(orderer) == ["V2_0"]
    assert _implicit(orderer, "BlockValidation") == ("ANY", "Writers")
    assert _implicit(orderer, "Admins") == ("MAJORITY", "Admins")
    org = orderer.groups[ord_org.msp_id]
    assert list(orderer.groups) == [ord_org.msp_id]
    assert _signature(org, "Readers") == (1, [(ord_org.msp_id, "MEMBER")])
    assert _signature(org, "Writers") == (1, [(ord_org.msp_id, "MEMBER")])
    assert _signature(org, "Admins") == (1, [(ord_org.msp_id, "ADMIN")])
    assert list(OrdererAddresses.FromString(org.values["Endpoints"].value).addresses) == list(ordering.addresses)


def test_application_group(orgs, spec_of):
    app = build_config(spec_of(orgs[0].app([orgs[0].anchor()]), orgs[1].app())).channel_group.groups["Application"]
    assert sorted(app.groups) == sorted([orgs[0].msp_id, orgs[1].msp_id])
    assert _capabilities(app) == ["V2_0"]
    for name, expected in {
        "Readers": ("ANY", "Readers"),
        "Writers": ("ANY", "Writers"),
        "Admins": ("MAJORITY", "Admins"),
        "Endorsement": ("MAJORITY", "Endorsement"),
        "LifecycleEndorsement": ("MAJORITY", "Endorsement"),
    }.items():
        assert _implicit(app, name) == expected
    acls = ACLs.FromString(app.values["ACLs"].value).acls
    assert len(acls) == 19
    assert acls["peer/Propose"].policy_ref == "/Channel/Application/Writers"
    assert acls["event/Block"].policy_ref == "/Channel/Application/Readers"
    assert acls["_lifecycle/CommitChaincodeDefinition"].policy_ref == "/Channel/Application/Writers"

    first, second = app.groups[orgs[0].msp_id], app.groups[orgs[1].msp_id]
    msp = orgs[0].msp_id
    assert _signature(first, "Readers") == (1, [(msp, "ADMIN"), (msp, "PEER"), (msp, "CLIENT")])
    assert _signature(first, "Writers") == (1, [(msp, "ADMIN"), (msp, "CLIENT")])
    assert _signature(first, "Admins") == (1, [(msp, "ADMIN")])
    assert _signature(first, "Endorsement") == (1, [(msp, "PEER")])
    anchors = AnchorPeers.FromString(first.values["AnchorPeers"].value).anchor_peers
    assert [(a.host, a.port) for a in anchors] == [(orgs[0].anchor().host, 7051)]
    assert "AnchorPeers" not in second.values  # configtxgen writes no empty AnchorPeers value


def test_msp_value_has_node_ous(orgs, spec_of):
    group = build_config(spec_of(orgs[0].app())).channel_group.groups["Application"].groups[orgs[0].msp_id]
    msp = MSPConfig.FromString(group.values["MSP"].value)
    assert msp.type == 0
    fabric = FabricMSPConfig.FromString(msp.config)
    assert fabric.name == orgs[0].msp_id
    assert list(fabric.root_certs) == [orgs[0].ca.cert_pem]
    assert list(fabric.tls_root_certs) == [orgs[0].tls_ca.cert_pem]
    assert (fabric.crypto_config.signature_hash_family, fabric.crypto_config.identity_identifier_hash_function) == (
        "SHA2",
        "SHA256",
    )
    ous = fabric.fabric_node_ous
    assert ous.enable
    for ident, unit in (
        (ous.admin_ou_identifier, "admin"),
        (ous.client_ou_identifier, "client"),
        (ous.peer_ou_identifier, "peer"),
        (ous.orderer_ou_identifier, "orderer"),
    ):
        assert (ident.certificate, ident.organizational_unit_identifier) == (orgs[0].ca.cert_pem, unit)
    assert not fabric.admins


def test_other_consensus_has_empty_metadata(orgs, ord_org):
    from openbcs.fabric import ChannelSpec

    spec = ChannelSpec(CHANNEL, orderer_spec(ord_org, nodes=1, consensus_type="SFLIC"), (orgs[0].app(),))
    consensus = ConsensusType.FromString(
        build_config(spec).channel_group.groups["Orderer"].values["ConsensusType"].value
    )
    assert (consensus.type, consensus.metadata) == ("SFLIC", b"")


def test_genesis_block(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    block = Block.FromString(genesis_block(CHANNEL, config, NOW).SerializeToString())
    assert (block.header.number, block.header.previous_hash) == (0, b"")
    assert block.header.data_hash == block_data_hash(block.data)
    assert len(block.data.data) == 1
    envelope = Envelope.FromString(block.data.data[0])
    assert envelope.signature == b""
    payload = Payload.FromString(envelope.payload)
    header = ChannelHeader.FromString(payload.header.channel_header)
    signature_header = SignatureHeader.FromString(payload.header.signature_header)
    assert (header.type, header.channel_id, header.version, header.epoch) == (HeaderType.CONFIG, CHANNEL, 1, 0)
    assert header.timestamp.seconds == int(NOW.timestamp())
    assert len(signature_header.nonce) == 24
    assert header.tx_id == tx_id(signature_header.nonce, signature_header.creator)
    config_envelope = ConfigEnvelope.FromString(payload.data)
    assert config_envelope.config == config
    assert not config_envelope.HasField("last_update")
    metadata = block.metadata.metadata
    assert len(metadata) == 5
    last_config = Metadata.FromString(metadata[BlockMetadataIndex.LAST_CONFIG])
    assert LastConfig.FromString(last_config.value).index == 0
    signatures = Metadata.FromString(metadata[BlockMetadataIndex.SIGNATURES])
    assert OrdererBlockMetadata.FromString(signatures.value).last_config.index == 0
    assert not signatures.signatures
    assert metadata[BlockMetadataIndex.TRANSACTIONS_FILTER] == b""
    assert metadata[BlockMetadataIndex.ORDERER] == b""
