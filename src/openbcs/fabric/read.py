"""Reading configs back out of blocks and envelopes."""

from __future__ import annotations

from fabric_protos.common.common_pb2 import Block, ChannelHeader, Envelope, HeaderType, Payload, SignatureHeader
from fabric_protos.common.configtx_pb2 import Config, ConfigEnvelope, ConfigUpdateEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity
from fabric_protos.peer.configuration_pb2 import AnchorPeers
from google.protobuf.message import DecodeError

from .channel import APPLICATION
from .errors import ConfigError
from .spec import AnchorPeer


def config_envelope_of(block: Block) -> tuple[ChannelHeader, ConfigEnvelope]:
    """The channel header and ``ConfigEnvelope`` of a config block; raise ConfigError if it is not one."""
    if len(block.data.data) != 1:
        raise ConfigError("a config block holds exactly one envelope")
    try:
        payload = Payload.FromString(Envelope.FromString(block.data.data[0]).payload)
        channel_header = ChannelHeader.FromString(payload.header.channel_header)
        if channel_header.type != HeaderType.CONFIG:
            raise ConfigError(f"block envelope is of type {channel_header.type}, not CONFIG")
        return channel_header, ConfigEnvelope.FromString(payload.data)
    except DecodeError as exc:
        raise ConfigError("config block does not decode") from exc


def config_of(block: Block) -> Config:
    """The channel config a config block carries."""
    return config_envelope_of(block)[1].config


def last_update_of(block: Block) -> Envelope | None:
    """The CONFIG_UPDATE envelope that produced a config block; None for a genesis block."""
    config_envelope = config_envelope_of(block)[1]
    return config_envelope.last_update if config_envelope.HasField("last_update") else None


def application_orgs(config: Config) -> list[str]:
    """The MSP ids of the channel's application organisations, sorted."""
    groups = config.channel_group.groups
    return sorted(groups[APPLICATION].groups) if APPLICATION in groups else []


def anchor_peers(config: Config, msp_id: str) -> list[AnchorPeer]:
    """An application organisation's anchor peers (empty when it has none or is not a member)."""
    groups = config.channel_group.groups
    if APPLICATION not in groups or msp_id not in groups[APPLICATION].groups:
        return []
    org = groups[APPLICATION].groups[msp_id]
    if "AnchorPeers" not in org.values:
        return []
    return [AnchorPeer(a.host, a.port) for a in AnchorPeers.FromString(org.values["AnchorPeers"].value).anchor_peers]


def update_envelope_of(envelope: Envelope) -> tuple[ChannelHeader, SignatureHeader, ConfigUpdateEnvelope]:
    """The channel header, signature header and ``ConfigUpdateEnvelope`` of a CONFIG_UPDATE transaction."""
    try:
        payload = Payload.FromString(envelope.payload)
        channel_header = ChannelHeader.FromString(payload.header.channel_header)
        signature_header = SignatureHeader.FromString(payload.header.signature_header)
        if channel_header.type != HeaderType.CONFIG_UPDATE:
            raise ConfigError(f"envelope is of type {channel_header.type}, not CONFIG_UPDATE")
        return channel_header, signature_header, ConfigUpdateEnvelope.FromString(payload.data)
    except DecodeError as exc:
        raise ConfigError("config update transaction does not decode") from exc


def signers_of(update_envelope_bytes: bytes) -> list[str]:
    """The MSP ids of a config update's ``ConfigSignatures``, in order. Takes the serialized CONFIG_UPDATE ``Envelope``
    (what ``next_config_block`` returns and a block's ``last_update`` holds) or a bare ``ConfigUpdateEnvelope``."""
    try:
        update = update_envelope_of(Envelope.FromString(update_envelope_bytes))[2]
    except (ConfigError, DecodeError):
        try:
            update = ConfigUpdateEnvelope.FromString(update_envelope_bytes)
        except DecodeError as exc:
            raise ConfigError("not a config update envelope") from exc
    try:
        return [
            str(SerializedIdentity.FromString(SignatureHeader.FromString(s.signature_header).creator).mspid)
            for s in update.signatures
        ]
    except DecodeError as exc:
        raise ConfigError("a config signature does not decode") from exc
