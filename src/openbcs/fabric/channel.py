"""``build_config``: the channel config configtxgen writes for an application channel joined through the channel
participation API (``internal/configtxgen/encoder/encoder.go`` with ``sampleconfig/configtx.yaml``'s defaults and
fabric-samples' organisation policies).

Everything configtxgen writes is reproduced except what OpenBCS does not model: groups are keyed by MSP id (configtxgen
keys them by the org's ``Name``), and there is no ``Consortium`` value (a participation-API channel has none).
"""

from __future__ import annotations

from collections.abc import Mapping

from fabric_protos.common.configtx_pb2 import Config, ConfigGroup, ConfigPolicy, ConfigValue
from fabric_protos.common.configuration_pb2 import (
    BlockDataHashingStructure,
    Capabilities,
    Capability,
    HashingAlgorithm,
    OrdererAddresses,
)
from fabric_protos.orderer.configuration_pb2 import BatchSize, BatchTimeout, ChannelRestrictions, ConsensusType
from fabric_protos.orderer.etcdraft.configuration_pb2 import ConfigMetadata, Options
from fabric_protos.orderer.etcdraft.configuration_pb2 import Consenter as RaftConsenter
from fabric_protos.peer.configuration_pb2 import ACLs, AnchorPeers, APIResource
from fabric_protos.peer.configuration_pb2 import AnchorPeer as AnchorPeerProto
from google.protobuf.message import Message

from .msp import msp_config
from .policydefs import ADMINS, implicit_meta, signature_policy
from .spec import ApplicationOrg, ChannelSpec, OrdererSpec

CHANNEL, ORDERER, APPLICATION = "Channel", "Orderer", "Application"
CAPABILITY = "V2_0"
# math.MaxUint32: the block data is hashed as one flat SHA-256 (channelconfig.defaultBlockDataHashingStructureWidth).
BLOCK_DATA_HASHING_WIDTH = 4294967295

# sampleconfig/configtx.yaml, Application.ACLs (identical in Fabric 2.5 and 3.x).
_W, _R = "/Channel/Application/Writers", "/Channel/Application/Readers"
DEFAULT_ACLS: Mapping[str, str] = {
    "_lifecycle/CheckCommitReadiness": _W,
    "_lifecycle/CommitChaincodeDefinition": _W,
    "_lifecycle/QueryChaincodeDefinition": _W,
    "_lifecycle/QueryChaincodeDefinitions": _W,
    "lscc/ChaincodeExists": _R,
    "lscc/GetDeploymentSpec": _R,
    "lscc/GetChaincodeData": _R,
    "lscc/GetInstantiatedChaincodes": _R,
    "qscc/GetChainInfo": _R,
    "qscc/GetBlockByNumber": _R,
    "qscc/GetBlockByHash": _R,
    "qscc/GetTransactionByID": _R,
    "qscc/GetBlockByTxID": _R,
    "cscc/GetConfigBlock": _R,
    "cscc/GetChannelConfig": _R,
    "peer/Propose": _W,
    "peer/ChaincodeToChaincode": _W,
    "event/Block": _R,
    "event/FilteredBlock": _R,
}

# configtx.yaml's EtcdRaft.Options ("16 MB" is 16 MiB to configtxgen).
DEFAULT_RAFT_OPTIONS = Options(
    tick_interval="500ms",
    election_tick=10,
    heartbeat_tick=1,
    max_inflight_blocks=5,
    snapshot_interval_size=16 * 1024 * 1024,
)


def _value(group: ConfigGroup, key: str, message: Message, mod_policy: str = ADMINS) -> None:
    group.values[key].CopyFrom(ConfigValue(value=message.SerializeToString(deterministic=True), mod_policy=mod_policy))


def _policy(group: ConfigGroup, key: str, policy: ConfigPolicy) -> None:
    group.policies[key].CopyFrom(policy)


def _standard_policies(group: ConfigGroup) -> None:
    _policy(group, "Readers", implicit_meta("ANY", "Readers"))
    _policy(group, "Writers", implicit_meta("ANY", "Writers"))
    _policy(group, "Admins", implicit_meta("MAJORITY", "Admins"))


def _capabilities() -> Capabilities:
    return Capabilities(capabilities={CAPABILITY: Capability()})


def orderer_group(spec: OrdererSpec) -> ConfigGroup:
    """The ``/Channel/Orderer`` group (``NewOrdererGroup``)."""
    group = ConfigGroup(mod_policy=ADMINS)
    _standard_policies(group)
    _policy(group, "BlockValidation", implicit_meta("ANY", "Writers"))
    batch = BatchSize(
        max_message_count=spec.max_message_count,
        absolute_max_bytes=spec.absolute_max_bytes,
        preferred_max_bytes=spec.preferred_max_bytes,
    )
    _value(group, "BatchSize", batch)
    _value(group, "BatchTimeout", BatchTimeout(timeout=spec.batch_timeout))
    _value(group, "ChannelRestrictions", ChannelRestrictions(max_count=0))
    _value(group, "Capabilities", _capabilities())
    metadata = b""
    if spec.consensus_type == "etcdraft":
        consenters = [
            RaftConsenter(
                host=c.host, port=c.port, client_tls_cert=c.client_tls_cert, server_tls_cert=c.server_tls_cert
            )
            for c in spec.consenters
        ]
        raft = ConfigMetadata(consenters=consenters, options=DEFAULT_RAFT_OPTIONS)
        metadata = raft.SerializeToString(deterministic=True)
    _value(group, "ConsensusType", ConsensusType(type=spec.consensus_type, metadata=metadata))

    org = ConfigGroup(mod_policy=ADMINS)
    msp_id = spec.org.msp_id
    _policy(org, "Readers", signature_policy(msp_id, "member"))
    _policy(org, "Writers", signature_policy(msp_id, "member"))
    _policy(org, "Admins", signature_policy(msp_id, "admin"))
    _value(org, "MSP", msp_config(spec.org))
    if spec.addresses:
        _value(org, "Endpoints", OrdererAddresses(addresses=list(spec.addresses)))
    group.groups[msp_id].CopyFrom(org)
    return group


def application_org_group(org: ApplicationOrg) -> ConfigGroup:
    """One ``/Channel/Application/<MSP id>`` group (``NewApplicationOrgGroup``), policies as in fabric-samples."""
    group = ConfigGroup(mod_policy=ADMINS)
    msp_id = org.msp.msp_id
    _policy(group, "Readers", signature_policy(msp_id, "admin", "peer", "client"))
    _policy(group, "Writers", signature_policy(msp_id, "admin", "client"))
    _policy(group, "Admins", signature_policy(msp_id, "admin"))
    _policy(group, "Endorsement", signature_policy(msp_id, "peer"))
    _value(group, "MSP", msp_config(org.msp))
    if org.anchor_peers:
        anchors = [AnchorPeerProto(host=a.host, port=a.port) for a in org.anchor_peers]
        _value(group, "AnchorPeers", AnchorPeers(anchor_peers=anchors))
    return group


def application_group(orgs: tuple[ApplicationOrg, ...]) -> ConfigGroup:
    """The ``/Channel/Application`` group (``NewApplicationGroup``) with the default ACLs."""
    group = ConfigGroup(mod_policy=ADMINS)
    _standard_policies(group)
    _policy(group, "Endorsement", implicit_meta("MAJORITY", "Endorsement"))
    _policy(group, "LifecycleEndorsement", implicit_meta("MAJORITY", "Endorsement"))
    acls = ACLs(acls={name: APIResource(policy_ref=ref) for name, ref in DEFAULT_ACLS.items()})
    _value(group, "ACLs", acls)
    _value(group, "Capabilities", _capabilities())
    for org in orgs:
        if org.msp.msp_id in group.groups:
            raise ValueError(f"organisation {org.msp.msp_id} appears twice")
        group.groups[org.msp.msp_id].CopyFrom(application_org_group(org))
    return group


def build_config(spec: ChannelSpec) -> Config:
    """The full channel config (sequence 0, all versions 0) configtxgen makes for ``spec``."""
    channel = ConfigGroup(mod_policy=ADMINS)
    _standard_policies(channel)
    _value(channel, "HashingAlgorithm", HashingAlgorithm(name="SHA256"))
    _value(channel, "BlockDataHashingStructure", BlockDataHashingStructure(width=BLOCK_DATA_HASHING_WIDTH))
    # Only the orderer organisation's Endpoints carry the orderers' addresses, as configtxgen writes them for
    # Fabric 2.x channels: a peer warns that the deprecated global OrdererAddresses are ignored, and Fabric 3
    # refuses them.
    _value(channel, "Capabilities", _capabilities())
    channel.groups[ORDERER].CopyFrom(orderer_group(spec.orderer))
    channel.groups[APPLICATION].CopyFrom(application_group(spec.application_orgs))
    return Config(sequence=0, channel_group=channel)
