"""Signing config updates (``peer channel signconfigtx``) and wrapping them into a CONFIG_UPDATE transaction.

Each ``ConfigSignature`` carries its own ``SignatureHeader`` (creator + fresh 24-byte nonce, ``crypto.NonceSize``) and
signs ``signature_header || config_update`` (``protoutil.ConfigUpdateEnvelopeAsSignedData``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence

from fabric_protos.common.common_pb2 import ChannelHeader, Envelope, Header, HeaderType, Payload, SignatureHeader
from fabric_protos.common.configtx_pb2 import Config, ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope
from google.protobuf.timestamp_pb2 import Timestamp

from .authorize import requirements, unmet
from .crypto import Signer
from .errors import ConfigError
from .policies import PolicyEvaluator

NONCE_SIZE = 24


def nonce() -> bytes:
    """A fresh random nonce of Fabric's size."""
    return os.urandom(NONCE_SIZE)


def tx_id(nonce_: bytes, creator: bytes) -> str:
    """Fabric's transaction id: hex SHA-256 of nonce || creator (``protoutil.ComputeTxID``)."""
    return hashlib.sha256(nonce_ + creator).hexdigest()


def timestamp(when: dt.datetime) -> Timestamp:
    """A header timestamp with nanoseconds zeroed, as ``protoutil.MakeChannelHeader`` makes it."""
    return Timestamp(seconds=int(when.timestamp()), nanos=0)


def sign_update(update: ConfigUpdate, signers: Sequence[Signer]) -> ConfigUpdateEnvelope:
    """A ``ConfigUpdateEnvelope`` of ``update`` with one ``ConfigSignature`` per signer, in order."""
    update_bytes = update.SerializeToString(deterministic=True)
    signatures = []
    for signer in signers:
        header = SignatureHeader(creator=signer.creator(), nonce=nonce()).SerializeToString(deterministic=True)
        signatures.append(ConfigSignature(signature_header=header, signature=signer.sign(header + update_bytes)))
    return ConfigUpdateEnvelope(config_update=update_bytes, signatures=signatures)


def choose_signers(current: Config, update: ConfigUpdate, available: Sequence[Signer]) -> list[Signer]:
    """The fewest of ``available`` (kept in the given order) whose signatures satisfy every modified element's
    mod_policy in ``current``: the shortest satisfying prefix, then any signer whose removal keeps every policy
    satisfied is dropped (e.g. the admin of an organisation being added, who has no say yet). Raise ConfigError when
    even all of them cannot authorize the update."""
    evaluator = PolicyEvaluator(current)
    needed = requirements(current, update, evaluator)
    identities = []
    for signer in available:
        identity = evaluator.deserialize(signer.creator())
        identities.append(None if isinstance(identity, str) else identity)

    def satisfied(chosen: list[int]) -> bool:
        ids = list({(i.msp_id, i.id): i for i in (identities[c] for c in chosen) if i is not None}.values())
        return not unmet(needed, evaluator, ids)

    chosen: list[int] = []
    for index in range(len(available)):
        if satisfied(chosen):
            break
        chosen.append(index)
    if not satisfied(chosen):
        reasons = unmet(needed, evaluator, [i for i in identities if i is not None])
        raise ConfigError("the available signers cannot authorize the update: " + "; ".join(reasons))
    for index in list(chosen):
        if satisfied([c for c in chosen if c != index]):
            chosen.remove(index)
    return [available[c] for c in chosen]


def config_update_tx(
    channel_id: str, envelope: ConfigUpdateEnvelope, submitter: Signer, when: dt.datetime
) -> tuple[Envelope, str]:
    """The CONFIG_UPDATE transaction a client sends to the orderer, signed by ``submitter``, and its tx id.

    Fabric's CLI leaves the tx id of a CONFIG_UPDATE empty; we set it as the SDKs do (SHA-256 of nonce || creator),
    which orderers accept, so the caller has an id to record."""
    creator = submitter.creator()
    nonce_ = nonce()
    txid = tx_id(nonce_, creator)
    channel_header = ChannelHeader(
        type=HeaderType.CONFIG_UPDATE, version=0, timestamp=timestamp(when), channel_id=channel_id, tx_id=txid, epoch=0
    )
    header = Header(
        channel_header=channel_header.SerializeToString(deterministic=True),
        signature_header=SignatureHeader(creator=creator, nonce=nonce_).SerializeToString(deterministic=True),
    )
    payload = Payload(header=header, data=envelope.SerializeToString(deterministic=True)).SerializeToString(
        deterministic=True
    )
    return Envelope(payload=payload, signature=submitter.sign(payload)), txid
