"""The floor's Fabric work of a quit, written directly on ``hyperledger-fabric-protos`` and ``cryptography`` (no
OpenBCS code): take the leaving organisations out of the inviter's channel and append the channel's next config
block, as OpenBCS's quit operation does (``network.membership.leave``, ``network.config_history.append``).

From the channel's newest stored config block: the config without the leaving organisations' groups, the
``ConfigUpdate`` between the two (as configtxlator computes a removal: ``/Channel/Application`` read at its version
and written at version + 1 listing the remaining members at theirs), signed by the admins of a majority of the
current members (``/Channel/Application/Admins`` is ``MAJORITY Admins``; the acting instance's first), wrapped in a
CONFIG_UPDATE transaction signed by the first of them, and the next config block (the new config, sequence + 1)
signed by the inviter instance's first orderer, with its header and data hashes. The block row, the channel's
membership rows and a ``ChannelOrgRemoved`` event are written in the caller's transaction.

What the floor leaves out because the seeded memberships never need it: policy evaluation to choose signers (a
majority of member admins always satisfies the default policies), external admin custody, anchor-peer changes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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
from fabric_protos.common.configtx_pb2 import (
    Config,
    ConfigEnvelope,
    ConfigGroup,
    ConfigPolicy,
    ConfigSignature,
    ConfigUpdate,
    ConfigUpdateEnvelope,
    ConfigValue,
)
from fabric_protos.msp.identities_pb2 import SerializedIdentity
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from bench.floors.db import Query, loads

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
METADATA_ENTRIES = len(BlockMetadataIndex.keys())
_ADMINS = (
    "SELECT o.name_hash, c.cert, c.key FROM blockchain_orgs o JOIN cert_issued c ON c.org_id = o.id "
    "AND c.role = 'admin' WHERE o.name_hash IN ({}) AND c.key IS NOT NULL ORDER BY o.blockchain_id != ?, c.id"
)
_ORDERER = (
    "SELECT o.name_hash, c.cert, c.key FROM blockchain_orgs o JOIN blockchain_nodes n ON n.org_id = o.id "
    "JOIN cert_issued c ON c.org_id = o.id AND c.node_name = n.name AND c.role = 'node' "
    "WHERE o.blockchain_id = ? AND o.role = 'orderer' ORDER BY o.id, n.ordinal, c.id LIMIT 1"
)
_REMAINING = (
    "SELECT o.blockchain_id, o.name, o.name_hash FROM channel_orgs m JOIN blockchain_orgs o ON o.id = m.org_id "
    "WHERE m.channel_id = ?"
)


class Sealed:
    """Private keys as OpenBCS stores them: Fernet under the server key's ``pki-key`` purpose (HKDF-SHA256)."""

    def __init__(self, path: Path) -> None:
        master = base64.urlsafe_b64decode(path.read_bytes().strip())
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pki-key").derive(master)
        self.fernet = Fernet(base64.urlsafe_b64encode(derived))

    def unseal(self, sealed: str) -> bytes:
        return self.fernet.decrypt(sealed.encode("ascii"))


@functools.lru_cache(maxsize=256)
def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    # Parsed once per PEM, as OpenBCS caches them (the PEM itself is unsealed on every quit, as there).
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@dataclass(frozen=True)
class Identity:
    """An MSP identity that signs: its serialized ``SerializedIdentity`` and its key's PEM."""

    msp_id: str
    creator: bytes
    key_pem: bytes

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256, DER, low-S (Fabric refuses high-S signatures)."""
        r, s = decode_dss_signature(_private_key(self.key_pem).sign(message, ec.ECDSA(hashes.SHA256())))
        return encode_dss_signature(r, min(s, P256_ORDER - s))


def _identity(sealed: Sealed, name_hash: str, cert: str, key: str) -> Identity:
    msp_id = f"{name_hash}MSP"
    creator = _ser(SerializedIdentity(mspid=msp_id, id_bytes=cert.encode()))
    return Identity(msp_id, creator, sealed.unseal(key))


def _ser(message: Message) -> bytes:
    serialized: bytes = message.SerializeToString(deterministic=True)
    return serialized


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def header_bytes(header: BlockHeader) -> bytes:
    """DER SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash} (Fabric's header bytes)."""
    number = header.number.to_bytes(header.number.bit_length() // 8 + 1, "big")  # two's complement, minimal
    body = _der(0x02, number) + _der(0x04, header.previous_hash) + _der(0x04, header.data_hash)
    return _der(0x30, body)


def _headers(kind: int, channel: str, seconds: int, signer: Identity, *, with_tx_id: bool) -> tuple[Header, str]:
    nonce = os.urandom(24)
    tx_id = hashlib.sha256(nonce + signer.creator).hexdigest() if with_tx_id else ""
    channel_header = ChannelHeader(
        type=kind, version=0, timestamp=Timestamp(seconds=seconds), channel_id=channel, tx_id=tx_id, epoch=0
    )
    header = Header(
        channel_header=_ser(channel_header), signature_header=_ser(SignatureHeader(creator=signer.creator, nonce=nonce))
    )
    return header, tx_id


def removal(channel: str, current: Config, leaving: set[str]) -> tuple[ConfigUpdate, Config]:
    """The update removing ``leaving`` (MSP ids) from ``/Channel/Application``, and the config it makes."""
    application = current.channel_group.groups["Application"]
    unchanged = ConfigGroup(version=application.version)
    for name, policy in application.policies.items():
        unchanged.policies[name].CopyFrom(ConfigPolicy(version=policy.version))
    for name, value in application.values.items():
        unchanged.values[name].CopyFrom(ConfigValue(version=value.version))
    for name, group in application.groups.items():
        if name not in leaving:
            unchanged.groups[name].CopyFrom(ConfigGroup(version=group.version))
    written = ConfigGroup()
    written.CopyFrom(unchanged)
    written.version, written.mod_policy = application.version + 1, application.mod_policy
    update = ConfigUpdate(channel_id=channel)
    update.read_set.version = update.write_set.version = current.channel_group.version
    update.read_set.groups["Application"].CopyFrom(unchanged)
    update.write_set.groups["Application"].CopyFrom(written)
    target = Config()
    target.CopyFrom(current)
    target.sequence += 1
    groups = target.channel_group.groups["Application"]
    groups.version += 1
    for name in leaving:
        del groups.groups[name]
    return update, target


def _block(previous: Block, config: Config, last_update: Envelope, orderer: Identity, seconds: int) -> Block:
    number = previous.header.number + 1
    header, _ = _headers(HeaderType.CONFIG, last_update_channel(last_update), seconds, orderer, with_tx_id=False)
    payload = _ser(Payload(header=header, data=_ser(ConfigEnvelope(config=config, last_update=last_update))))
    data = BlockData(data=[_ser(Envelope(payload=payload, signature=orderer.sign(payload)))])
    block = Block(
        header=BlockHeader(
            number=number,
            previous_hash=hashlib.sha256(header_bytes(previous.header)).digest(),
            data_hash=hashlib.sha256(b"".join(data.data)).digest(),
        ),
        data=data,
        metadata=BlockMetadata(metadata=[b""] * METADATA_ENTRIES),
    )
    value = _ser(OrdererBlockMetadata(last_config=LastConfig(index=number)))
    signature_header = _ser(SignatureHeader(creator=orderer.creator, nonce=os.urandom(24)))
    signature = orderer.sign(value + signature_header + header_bytes(block.header))
    signed = Metadata(
        value=value, signatures=[MetadataSignature(signature_header=signature_header, signature=signature)]
    )
    block.metadata.metadata[BlockMetadataIndex.SIGNATURES] = _ser(signed)
    block.metadata.metadata[BlockMetadataIndex.LAST_CONFIG] = _ser(Metadata(value=_ser(LastConfig(index=number))))
    return block


def last_update_channel(envelope: Envelope) -> str:
    return str(ChannelHeader.FromString(Payload.FromString(envelope.payload).header.channel_header).channel_id)


def config_of(block: Block) -> Config:
    """The config a config block carries."""
    payload = Payload.FromString(Envelope.FromString(block.data.data[0]).payload)
    return ConfigEnvelope.FromString(payload.data).config


def leave(q: Query, sealed: Sealed, invitation: tuple[str, str, str, object], cause: str, now_ns: int) -> int:
    """Take the invitee's organisations out of the inviter's channel, with its next config block; its number.
    ``invitation``: (inviter instance id, channel name, invitee instance id, its ``orgs`` column)."""
    inviter_id, channel_name, invitee_id, orgs = invitation
    names = [o["name"] for o in loads(orgs)]
    channel_id = q.one("SELECT id FROM channels WHERE blockchain_id = ? AND name = ?", (inviter_id, channel_name))[0]
    marks = ", ".join("?" * len(names))
    leaving = q.all(
        f"SELECT id, name_hash FROM blockchain_orgs WHERE blockchain_id = ? AND name IN ({marks})", (invitee_id, *names)
    )
    org_ids = [row[0] for row in leaving]
    org_marks = ", ".join("?" * len(org_ids))
    q.run(
        f"DELETE FROM channel_peers WHERE channel_id = ? AND node_id IN "
        f"(SELECT id FROM blockchain_nodes WHERE org_id IN ({org_marks}))",
        (channel_id, *org_ids),
    )
    q.run(f"DELETE FROM channel_orgs WHERE channel_id = ? AND org_id IN ({org_marks})", (channel_id, *org_ids))
    raw = q.one(
        "SELECT block FROM channel_config_blocks WHERE channel_id = ? ORDER BY number DESC LIMIT 1", (channel_id,)
    )[0]
    previous = Block.FromString(bytes(raw))
    current = config_of(previous)
    members = list(current.channel_group.groups["Application"].groups)
    update, target = removal(channel_name, current, {f"{row[1]}MSP" for row in leaving})
    hashes_ = [m.removesuffix("MSP") for m in members]
    admins_rows = q.all(_ADMINS.format(", ".join("?" * len(hashes_))), (*hashes_, invitee_id))
    # One admin per organisation, the acting instance's first, as many as MAJORITY needs.
    chosen: dict[str, tuple[str, str, str]] = {}
    for name_hash, cert, key in admins_rows:
        chosen.setdefault(name_hash, (name_hash, cert, key))
    admins = [_identity(sealed, *row) for row in list(chosen.values())[: len(members) // 2 + 1]]
    orderer = _identity(sealed, *q.one(_ORDERER, (inviter_id,)))
    update_bytes = _ser(update)
    signatures = []
    for admin in admins:
        signature_header = _ser(SignatureHeader(creator=admin.creator, nonce=os.urandom(24)))
        signature = admin.sign(signature_header + update_bytes)
        signatures.append(ConfigSignature(signature_header=signature_header, signature=signature))
    seconds = now_ns // 1_000_000_000
    header, tx_id = _headers(HeaderType.CONFIG_UPDATE, channel_name, seconds, admins[0], with_tx_id=True)
    payload = _ser(
        Payload(header=header, data=_ser(ConfigUpdateEnvelope(config_update=update_bytes, signatures=signatures)))
    )
    transaction = Envelope(payload=payload, signature=admins[0].sign(payload))
    block = _block(previous, target, transaction, orderer, seconds)
    remaining = [{"blockchain_id": b, "name": n, "msp_id": f"{h}MSP"} for b, n, h in q.all(_REMAINING, (channel_id,))]
    number = int(block.header.number)
    q.run(
        "INSERT INTO channel_config_blocks (channel_id, number, previous_hash, event, orgs, cause, time, hash, block, "
        "config_update, tx_id, config_sequence, signers) VALUES (?, ?, ?, 'org_removed', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            channel_id,
            number,
            block.header.previous_hash.hex(),
            json.dumps(sorted(remaining, key=lambda o: (o["msp_id"], o["name"]))),
            cause,
            now_ns,
            hashlib.sha256(header_bytes(block.header)).hexdigest(),
            _ser(block),
            _ser(transaction),
            tx_id,
            target.sequence,
            json.dumps([a.msp_id for a in admins]),
        ),
    )
    project_id = q.one("SELECT project_id FROM blockchains WHERE id = ?", (inviter_id,))[0]
    q.run(
        "INSERT INTO monitoring_events (blockchain_id, project_id, name, severity, message, metadata, time) "
        "VALUES (?, ?, 'ChannelOrgRemoved', 'info', ?, ?, ?)",
        (
            inviter_id,
            project_id,
            f"channel {channel_name}: org removed (block {number})",
            json.dumps({"channel": channel_name, "block": number, "operation_id": cause, "tx_id": tx_id}),
            now_ns,
        ),
    )
    return number
