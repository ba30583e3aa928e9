"""Config blocks as Fabric writes them: the genesis block of ``configtxgen -outputBlock`` (``common/genesis``) and the
config blocks an orderer cuts (``orderer/common/multichannel/blockwriter.go``), with Fabric's header and data hashes
(``protoutil/blockutils.go``)."""

from __future__ import annotations

import datetime as dt
import hashlib

from fabric_protos.common.common_pb2 import (
    Block,
    BlockData,
    BlockHeader,
    BlockMetadata,
    BlockMetadataIndex,
    ChannelHeader,
    Envelope,
    Header,
    HeaderType,
    LastConfig,
    Metadata,
    MetadataSignature,
    OrdererBlockMetadata,
    Payload,
    SignatureHeader,
)
from fabric_protos.common.configtx_pb2 import Config, ConfigEnvelope
from google.protobuf.message import Message

from .crypto import Signer
from .der import header_der
from .errors import ConfigError
from .signing import nonce, timestamp, tx_id

GENESIS_MSG_VERSION = 1  # common/genesis: msgVersion = 1
ORDERER_MSG_VERSION = 0  # orderer/common/msgprocessor: msgVersion = 0
METADATA_ENTRIES = len(BlockMetadataIndex.keys())  # protoutil.NewBlock makes one (empty) entry per index


def block_header_bytes(header: BlockHeader) -> bytes:
    """DER SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash} (``BlockHeaderBytes``)."""
    return header_der(header.number, header.previous_hash, header.data_hash)


def block_header_hash(header: BlockHeader) -> bytes:
    """SHA-256 of the header's DER encoding: the next block's ``previous_hash``."""
    return hashlib.sha256(block_header_bytes(header)).digest()


def block_data_hash(data: BlockData) -> bytes:
    """SHA-256 over the concatenated data entries (``ComputeBlockDataHash``; width MaxUint32 means flat)."""
    return hashlib.sha256(b"".join(data.data)).digest()


def _ser(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def _envelope(
    channel_id: str, config_envelope: ConfigEnvelope, msg_version: int, when: dt.datetime, signer: Signer | None
) -> Envelope:
    creator = signer.creator() if signer is not None else b""
    nonce_ = nonce()
    channel_header = ChannelHeader(
        type=HeaderType.CONFIG, version=msg_version, timestamp=timestamp(when), channel_id=channel_id, epoch=0
    )
    if signer is None:
        # The genesis factory sets the tx id (SetTxID); the orderer's CreateSignedEnvelope leaves it empty.
        channel_header.tx_id = tx_id(nonce_, creator)
    header = Header(
        channel_header=_ser(channel_header), signature_header=_ser(SignatureHeader(creator=creator, nonce=nonce_))
    )
    payload = _ser(Payload(header=header, data=_ser(config_envelope)))
    return Envelope(payload=payload, signature=signer.sign(payload) if signer is not None else b"")


def _new_block(number: int, previous_hash: bytes, envelope: Envelope) -> Block:
    data = BlockData(data=[_ser(envelope)])
    header = BlockHeader(number=number, previous_hash=previous_hash, data_hash=block_data_hash(data))
    return Block(header=header, data=data, metadata=BlockMetadata(metadata=[b""] * METADATA_ENTRIES))


def genesis_block(channel_id: str, config: Config, when: dt.datetime) -> Block:
    """Block 0 as ``configtxgen -outputBlock`` makes it: one unsigned CONFIG envelope holding
    ``ConfigEnvelope{config}``, LAST_CONFIG 0 and an unsigned SIGNATURES entry carrying
    ``OrdererBlockMetadata{last_config: 0}``."""
    envelope = _envelope(channel_id, ConfigEnvelope(config=config), GENESIS_MSG_VERSION, when, None)
    block = _new_block(0, b"", envelope)
    block.metadata.metadata[BlockMetadataIndex.LAST_CONFIG] = _ser(Metadata(value=_ser(LastConfig(index=0))))
    value = _ser(OrdererBlockMetadata(last_config=LastConfig(index=0)))
    block.metadata.metadata[BlockMetadataIndex.SIGNATURES] = _ser(Metadata(value=value))
    return block


def config_block(
    number: int, previous: BlockHeader, config: Config, last_update: Envelope, orderer: Signer, when: dt.datetime
) -> Block:
    """Config block ``number``: a CONFIG envelope signed by ``orderer`` holding ``ConfigEnvelope{config, last_update}``
    (``config`` is the new config, sequence already incremented), chained to ``previous``, with the orderer's block
    signature over ``value || signature_header || header DER`` (``addBlockSignature``) and LAST_CONFIG = ``number``.
    TRANSACTIONS_FILTER and ORDERER stay empty as Fabric 2.x orderers leave them."""
    if number < 1 or previous.number != number - 1:
        raise ConfigError(f"block {number} cannot follow block {previous.number}")
    channel_id = channel_id_of(last_update)
    config_envelope = ConfigEnvelope(config=config, last_update=last_update)
    envelope = _envelope(channel_id, config_envelope, ORDERER_MSG_VERSION, when, orderer)
    block = _new_block(number, block_header_hash(previous), envelope)
    value = _ser(OrdererBlockMetadata(last_config=LastConfig(index=number)))
    signature_header = _ser(SignatureHeader(creator=orderer.creator(), nonce=nonce()))
    signature = orderer.sign(value + signature_header + block_header_bytes(block.header))
    signatures = [MetadataSignature(signature_header=signature_header, signature=signature)]
    block.metadata.metadata[BlockMetadataIndex.SIGNATURES] = _ser(Metadata(value=value, signatures=signatures))
    block.metadata.metadata[BlockMetadataIndex.LAST_CONFIG] = _ser(Metadata(value=_ser(LastConfig(index=number))))
    return block


def channel_id_of(envelope: Envelope) -> str:
    """The channel id in an envelope's channel header."""
    payload = Payload.FromString(envelope.payload)
    return str(ChannelHeader.FromString(payload.header.channel_header).channel_id)
