"""``verify_chain``: re-check a chain of config blocks as a Fabric orderer and peers would, block by block.

For every block: it decodes (canonically), its number is its position, ``previous_hash`` is the header hash of the
block before, ``data_hash`` covers its data, and its metadata names it as the last config block. For blocks after
the genesis block, against the *previous* config: the orderer's block and envelope signatures come from an
orderer-organisation member and satisfy ``/Channel/Orderer/BlockValidation``; ``last_update`` is a CONFIG_UPDATE
transaction whose creator satisfies ``/Channel/Writers`` (the orderer's SigFilter) with valid signatures from valid
identities; applying it gives exactly the block's config; and it is authorized (``authorize_update``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from fabric_protos.common.common_pb2 import (
    Block,
    BlockMetadataIndex,
    Envelope,
    LastConfig,
    Metadata,
    OrdererBlockMetadata,
    Payload,
    SignatureHeader,
)
from fabric_protos.common.configtx_pb2 import Config, ConfigUpdate
from google.protobuf.message import DecodeError, Message

from .authorize import authorize_update, config_signed_data
from .blocks import block_data_hash, block_header_bytes, block_header_hash
from .channel import ORDERER
from .crypto import signature_problem
from .errors import ConfigError
from .policies import PolicyEvaluator, SignedData
from .read import config_envelope_of, update_envelope_of
from .signing import tx_id
from .update import apply_update


@dataclass(frozen=True)
class Problem:
    """Why a block of the chain is broken."""

    block: int
    reason: str

    def __str__(self) -> str:
        return f"block {self.block}: {self.reason}"


_M = TypeVar("_M", bound=Message)


class _Broken(Exception):
    """A block fails a check that later checks depend on."""


def verify_chain(
    blocks: Sequence[bytes], updates: Mapping[int, bytes] | None = None, *, after: bytes | None = None
) -> list[Problem]:
    """The problems of the first broken block of ``blocks`` (serialized, genesis first); empty when the whole chain
    verifies. ``updates[n]``, when given, is the separately stored CONFIG_UPDATE envelope of block n and must be
    byte-identical to the block's ``last_update``. ``after``, when given, is the block just before ``blocks[0]``
    (taken as it is, not checked itself): ``blocks`` are then a later part of the chain, checked against it."""
    previous: tuple[Block, Config, str] | None = None
    first = 0
    if after is not None:
        try:
            block = _decode(Block, after, "block")
            channel_header, config_envelope = config_envelope_of(block)
        except (DecodeError, ConfigError, ValueError, _Broken) as exc:
            return [Problem(0, f"the block before cannot be read: {exc}")]
        previous, first = (block, config_envelope.config, channel_header.channel_id), int(block.header.number) + 1
    for number, raw in enumerate(blocks, first):
        reasons: list[str] = []
        try:
            previous = _check_block(number, raw, previous, (updates or {}).get(number), reasons)
        except _Broken as exc:
            reasons.append(str(exc))
        except (DecodeError, ConfigError, ValueError, UnsupportedAlgorithm) as exc:
            # A safety net: corrupt input must come back as a problem, never as an exception.
            reasons.append(f"cannot be checked: {type(exc).__name__}: {exc}")
        if reasons:
            return [Problem(number, reason) for reason in reasons]
    return []


def _check_block(
    number: int, raw: bytes, previous: tuple[Block, Config, str] | None, stored: bytes | None, reasons: list[str]
) -> tuple[Block, Config, str]:
    block = _decode(Block, raw, "block")
    if block.header.number != number:
        raise _Broken(f"header number is {block.header.number}")
    expected_previous = block_header_hash(previous[0].header) if previous else b""
    if block.header.previous_hash != expected_previous:
        reasons.append("previous_hash is not the header hash of the block before")
    if block.header.data_hash != block_data_hash(block.data):
        reasons.append("data_hash does not match its data")
    try:
        channel_header, config_envelope = config_envelope_of(block)
    except ConfigError as exc:
        raise _Broken(str(exc)) from exc
    channel_id = channel_header.channel_id
    if previous is not None and channel_id != previous[2]:
        raise _Broken(f"is for channel {channel_id!r}, not {previous[2]!r}")
    config = config_envelope.config
    try:
        PolicyEvaluator(config)
    except (ValueError, DecodeError) as exc:
        raise _Broken(f"config has an unreadable MSP: {exc}") from exc
    _check_metadata(number, block, reasons)
    if previous is None:
        if config.sequence != 0:
            reasons.append(f"genesis config is at sequence {config.sequence}")
        return block, config, channel_id
    previous_config = previous[1]
    evaluator = PolicyEvaluator(previous_config)
    _check_orderer_signatures(block, evaluator, reasons)
    if not config_envelope.HasField("last_update"):
        raise _Broken("config block carries no last_update")
    last_update = config_envelope.last_update
    if stored is not None and stored != last_update.SerializeToString(deterministic=True):
        reasons.append("stored config update differs from the block's last_update")
    _check_update(channel_id, previous_config, config, last_update, evaluator, reasons)
    return block, config, channel_id


def _decode(cls: type[_M], raw: bytes, what: str) -> _M:
    """Decode ``raw`` and insist on its canonical encoding. These messages have no maps, so Fabric's Go encoding is
    canonical too; a stray bit that turns a field into an unknown one would otherwise go unnoticed where no hash or
    signature covers it (the block framing, the LAST_CONFIG entry)."""
    try:
        message = cls.FromString(raw)
    except DecodeError as exc:
        raise _Broken(f"{what} does not decode") from exc
    canonical = cls()
    canonical.CopyFrom(message)
    canonical.DiscardUnknownFields()
    if canonical.SerializeToString(deterministic=True) != raw:
        raise _Broken(f"{what} is not canonically encoded (unknown or malformed fields)")
    return message


def _metadata(block: Block, index: int) -> Metadata:
    name = BlockMetadataIndex.Name(index)
    if len(block.metadata.metadata) <= index:
        raise _Broken(f"has no {name} metadata")
    return _decode(Metadata, block.metadata.metadata[index], f"{name} metadata")


def _check_metadata(number: int, block: Block, reasons: list[str]) -> None:
    last_config = _decode(LastConfig, _metadata(block, BlockMetadataIndex.LAST_CONFIG).value, "LAST_CONFIG value")
    signatures_value = _metadata(block, BlockMetadataIndex.SIGNATURES).value
    orderer_metadata = _decode(OrdererBlockMetadata, signatures_value, "SIGNATURES value")
    # A config block is its own last config block.
    if last_config.index != number or orderer_metadata.last_config.index != number:
        reasons.append("metadata does not name the block as the last config block")


def _orderer_identity_problem(creator: bytes, evaluator: PolicyEvaluator) -> str | None:
    identity = evaluator.deserialize(creator)
    if isinstance(identity, str):
        return identity
    orderer_orgs = evaluator.groups[("Channel", ORDERER)].groups if ("Channel", ORDERER) in evaluator.groups else {}
    if identity.msp_id not in orderer_orgs:
        return f"{identity.msp_id} is not an orderer organisation"
    return evaluator.identity_problem(identity)


def _check_orderer_signatures(block: Block, evaluator: PolicyEvaluator, reasons: list[str]) -> None:
    signatures = _metadata(block, BlockMetadataIndex.SIGNATURES)
    signed: list[SignedData] = []
    header_bytes = block_header_bytes(block.header)
    try:
        for item in signatures.signatures:
            creator = SignatureHeader.FromString(item.signature_header).creator
            signed.append(SignedData(signatures.value + item.signature_header + header_bytes, creator, item.signature))
        envelope = Envelope.FromString(block.data.data[0])
        creator = SignatureHeader.FromString(Payload.FromString(envelope.payload).header.signature_header).creator
    except DecodeError as exc:
        raise _Broken("an orderer signature header does not decode") from exc
    checks = [("block signature", s) for s in signed]
    checks.append(("config envelope signature", SignedData(envelope.payload, creator, envelope.signature)))
    if not signed:
        reasons.append("block carries no orderer signature")
    for what, item in checks:
        problem = _signed_data_problem(item, evaluator, orderer=True)
        if problem:
            reasons.append(f"{what}: {problem}")
    group, name = evaluator.resolve("/Channel/Orderer/BlockValidation")
    if signed and not evaluator.satisfied(group, name, evaluator.valid_identities(signed)):
        reasons.append("block signatures do not satisfy /Channel/Orderer/BlockValidation")


def _signed_data_problem(item: SignedData, evaluator: PolicyEvaluator, *, orderer: bool = False) -> str | None:
    identity = evaluator.deserialize(item.identity)
    if isinstance(identity, str):
        return identity
    problem = _orderer_identity_problem(item.identity, evaluator) if orderer else evaluator.identity_problem(identity)
    return problem or signature_problem(identity.cert, item.data, item.signature)


def _check_update(
    channel_id: str,
    previous_config: Config,
    config: Config,
    last_update: Envelope,
    evaluator: PolicyEvaluator,
    reasons: list[str],
) -> None:
    try:
        channel_header, signature_header, update_envelope = update_envelope_of(last_update)
        update = ConfigUpdate.FromString(update_envelope.config_update)
        config_signatures = config_signed_data(update_envelope)
    except (ConfigError, DecodeError) as exc:
        raise _Broken(f"last_update: {exc}") from exc
    if channel_header.channel_id != channel_id:
        reasons.append(f"last_update is for channel {channel_header.channel_id!r}")
    if channel_header.tx_id and channel_header.tx_id != tx_id(signature_header.nonce, signature_header.creator):
        reasons.append("last_update tx_id is not SHA-256(nonce || creator)")
    submitted = SignedData(last_update.payload, signature_header.creator, last_update.signature)
    problem = _signed_data_problem(submitted, evaluator)
    if problem:
        reasons.append(f"last_update creator signature: {problem}")
    elif not evaluator.satisfied(("Channel",), "Writers", evaluator.valid_identities([submitted])):
        reasons.append("last_update creator does not satisfy /Channel/Writers")
    for index, item in enumerate(config_signatures):
        problem = _signed_data_problem(item, evaluator)
        if problem:
            reasons.append(f"config signature {index}: {problem}")
    try:
        expected = apply_update(previous_config, update, channel_id=channel_id)
    except ConfigError as exc:
        reasons.append(f"config update cannot be applied: {exc}")
        return  # authorization would only repeat why
    if expected != config:
        reasons.append("config is not the result of applying its config update to the previous config")
    unauthorized = authorize_update(previous_config, update_envelope)
    if unauthorized:
        reasons.append("config update not authorized: " + "; ".join(unauthorized))
