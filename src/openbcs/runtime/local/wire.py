"""gRPC clients for a real orderer (AtomicBroadcast ``Broadcast``/``Deliver``) and peer (``Endorser`` proposals to
the system chaincodes ``cscc`` and ``qscc``), with grpcio.

Headers follow ``protoutil``: a ``ChannelHeader`` (type, channel id, tx id = hex SHA-256(nonce || creator),
whole-second timestamp, epoch 0) and a ``SignatureHeader`` (creator, 24-byte nonce) made by one helper for both the
signed ``SeekInfo`` envelope of ``Deliver`` and the chaincode proposals (``CreateChaincodeProposal``: a
``ChaincodeHeaderExtension`` naming the chaincode in the channel header, a ``ChaincodeProposalPayload`` wrapping a
``ChaincodeInvocationSpec`` of type GOLANG, the proposal bytes signed into a ``SignedProposal``).

Every call opens its own TLS channel (trusting only the node's TLS root CA; the node's certificate names its host,
an IP SAN on loopback, so no target-name override is needed), bounds the whole exchange with ``timeout`` seconds and
closes the channel. Transport failures (connection refused, deadline) raise ``RpcFailed``; Fabric's refusals raise
``DeliverRefused`` or ``PeerRefused``; a broadcast answers a ``BroadcastResult`` whatever its status, since a 503
while a Raft leader is being elected is something to retry, not an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import grpc  # type: ignore[import-untyped]
from fabric_protos.common.common_pb2 import (
    Block,
    ChannelHeader,
    Envelope,
    Header,
    HeaderType,
    Payload,
    SignatureHeader,
    Status,
)
from fabric_protos.common.ledger_pb2 import BlockchainInfo
from fabric_protos.orderer.ab_pb2 import SeekInfo, SeekNewest, SeekPosition, SeekSpecified
from fabric_protos.orderer.ab_pb2_grpc import AtomicBroadcastStub
from fabric_protos.peer.chaincode_pb2 import ChaincodeID, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec
from fabric_protos.peer.peer_pb2_grpc import EndorserStub
from fabric_protos.peer.proposal_pb2 import ChaincodeHeaderExtension, ChaincodeProposalPayload, Proposal, SignedProposal
from fabric_protos.peer.query_pb2 import ChannelQueryResponse
from google.protobuf.message import Message

from openbcs.fabric import Signer
from openbcs.fabric.signing import nonce, timestamp, tx_id

TIMEOUT = 10.0  # seconds for a whole call, connection included
MAX_MESSAGE = 100 * 1024 * 1024 + 1024 * 1024  # Fabric's gRPC MaxRecvMsgSize (100 MiB) plus framing slack
SUCCESS = 200  # common.Status.SUCCESS
_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    # gRPC otherwise honours https_proxy/grpc_proxy of the server's environment; nodes are dialled directly.
    ("grpc.enable_http_proxy", 0),
]


class WireError(Exception):
    """A node could not be asked or refused what was asked."""


class RpcFailed(WireError):
    """The gRPC call itself failed (node down, TLS mismatch, deadline): ``code`` is the ``grpc.StatusCode``."""

    def __init__(self, address: str, code: Any, details: str) -> None:
        super().__init__(f"{address}: {getattr(code, 'name', code)}: {details}")
        self.code = code
        self.details = details


class DeliverRefused(WireError):
    """The orderer ended a Deliver with a status other than SUCCESS (403 FORBIDDEN, 404 NOT_FOUND, 400, 503)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"deliver refused: {_status_name(status)} ({status})")
        self.status = status


class PeerRefused(WireError):
    """A proposal's response status was not 200: the status and the peer's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"peer answered {status}: {message}")
        self.status = status
        self.message = message


class AlreadyJoined(PeerRefused):
    """``JoinChain`` for a channel whose ledger the peer already has: the join is already done."""


@dataclass(frozen=True)
class BroadcastResult:
    """The orderer's answer to one envelope: a ``common.Status`` value and its info text (empty on success)."""

    status: int
    info: str

    @property
    def ok(self) -> bool:
        """True when the orderer accepted the envelope for ordering."""
        return self.status == SUCCESS


class ChainInfo(NamedTuple):
    """A peer's ledger height (blocks committed) and the hash of its newest block header."""

    height: int
    current_hash: bytes


def broadcast(address: str, tls_ca: bytes, envelope: bytes, timeout: float = TIMEOUT) -> BroadcastResult:
    """Send one serialized ``Envelope`` to the orderer at ``address`` and return its answer."""
    with _channel(address, tls_ca) as channel:
        responses = AtomicBroadcastStub(channel).Broadcast(iter([Envelope.FromString(envelope)]), timeout=timeout)
        response = next(responses, None)
    if response is None:
        raise WireError(f"{address}: the orderer closed Broadcast without answering")
    return BroadcastResult(status=int(response.status), info=str(response.info))


def deliver(
    address: str,
    tls_ca: bytes,
    channel_id: str,
    signer: Signer,
    start: int,
    stop: int | None,
    timeout: float = TIMEOUT,
) -> list[bytes]:
    """Serialized blocks ``start``..``stop`` (None: the newest) of ``channel_id`` from the orderer, read as
    ``signer``, who must satisfy the channel's Readers policy (else 403).

    Fabric waits for a block not yet cut only if it is the next one (``start`` = height; here up to ``timeout``,
    then ``RpcFailed`` DEADLINE_EXCEEDED, or CANCELLED when the orderer's side of the deadline fires first); a
    ``start`` beyond that, like an unknown channel, is 404. Just after a join, and whenever the channel's Raft
    cluster has no leader, Deliver answers 503: retry.
    """
    end = SeekPosition(newest=SeekNewest()) if stop is None else SeekPosition(specified=SeekSpecified(number=stop))
    return _deliver(
        address, tls_ca, channel_id, signer, SeekPosition(specified=SeekSpecified(number=start)), end, timeout
    )


def newest_block_number(address: str, tls_ca: bytes, channel_id: str, signer: Signer, timeout: float = TIMEOUT) -> int:
    """The number of the orderer's newest block of ``channel_id`` (its height minus one)."""
    newest = SeekPosition(newest=SeekNewest())
    (raw,) = _deliver(address, tls_ca, channel_id, signer, newest, newest, timeout)
    return int(Block.FromString(raw).header.number)


def join_chain(address: str, tls_ca: bytes, admin: Signer, genesis_block: bytes, timeout: float = TIMEOUT) -> None:
    """Join the peer at ``address`` to a channel with its block 0 (``peer channel join``), as its organisation's
    admin. Raise ``AlreadyJoined`` if the peer already has the channel, ``PeerRefused`` for any other refusal."""
    try:
        _propose(address, tls_ca, admin, "cscc", [b"JoinChain", genesis_block], timeout)
    except PeerRefused as refused:
        # kvledger's idStore: "ledger [<id>] already exists with state [ACTIVE]".
        if "already exists" in refused.message:
            raise AlreadyJoined(refused.status, refused.message) from None
        raise


def peer_channels(address: str, tls_ca: bytes, signer: Signer, timeout: float = TIMEOUT) -> list[str]:
    """The channels the peer has joined (``peer channel list``; a member of the peer's organisation may ask)."""
    payload = _propose(address, tls_ca, signer, "cscc", [b"GetChannels"], timeout)
    return [str(channel.channel_id) for channel in ChannelQueryResponse.FromString(payload).channels]


def chain_info(address: str, tls_ca: bytes, signer: Signer, channel_id: str, timeout: float = TIMEOUT) -> ChainInfo:
    """The peer's ledger height and newest block hash for ``channel_id`` (``peer channel getinfo``)."""
    payload = _propose(address, tls_ca, signer, "qscc", [b"GetChainInfo", channel_id.encode()], timeout)
    info = BlockchainInfo.FromString(payload)
    return ChainInfo(height=int(info.height), current_hash=bytes(info.currentBlockHash))


def _deliver(
    address: str,
    tls_ca: bytes,
    channel_id: str,
    signer: Signer,
    start: SeekPosition,
    stop: SeekPosition,
    timeout: float,
) -> list[bytes]:
    seek = SeekInfo(start=start, stop=stop, behavior=SeekInfo.BLOCK_UNTIL_READY)
    request = _signed_envelope(HeaderType.DELIVER_SEEK_INFO, channel_id, signer, _ser(seek))
    blocks: list[bytes] = []
    with _channel(address, tls_ca) as channel:
        # The orderer answers the blocks, then one status; it ends the stream once we half-close (one request).
        for response in AtomicBroadcastStub(channel).Deliver(iter([request]), timeout=timeout):
            if response.WhichOneof("Type") == "block":
                blocks.append(bytes(response.block.SerializeToString()))
            elif response.status == SUCCESS:
                return blocks
            else:
                raise DeliverRefused(int(response.status))
    raise WireError(f"{address}: the orderer closed Deliver without a status")


def _propose(
    address: str, tls_ca: bytes, signer: Signer, chaincode: str, args: Sequence[bytes], timeout: float
) -> bytes:
    """Endorse a proposal to a system chaincode on no channel; return the response payload if the status is 200."""
    chaincode_id = ChaincodeID(name=chaincode)
    spec = ChaincodeSpec(type=ChaincodeSpec.GOLANG, chaincode_id=chaincode_id, input=ChaincodeInput(args=list(args)))
    extension = _ser(ChaincodeHeaderExtension(chaincode_id=chaincode_id))
    header = _header(HeaderType.ENDORSER_TRANSACTION, "", signer, extension)
    payload = _ser(ChaincodeProposalPayload(input=_ser(ChaincodeInvocationSpec(chaincode_spec=spec))))
    proposal = _ser(Proposal(header=_ser(header), payload=payload))
    signed = SignedProposal(proposal_bytes=proposal, signature=signer.sign(proposal))
    try:
        with _channel(address, tls_ca) as channel:
            answer = EndorserStub(channel).ProcessProposal(signed, timeout=timeout)
    except RpcFailed as failed:
        # A proposal failing the endorser's checks (unknown creator, bad signature) comes back as a Go error, which
        # gRPC sends as UNKNOWN with the text; Fabric's own response for it (status 500) is dropped on the way.
        if failed.code == grpc.StatusCode.UNKNOWN:
            raise PeerRefused(500, failed.details) from None
        raise
    if answer.response.status != SUCCESS:
        raise PeerRefused(int(answer.response.status), str(answer.response.message))
    return bytes(answer.response.payload)


def _header(header_type: int, channel_id: str, signer: Signer, extension: bytes = b"") -> Header:
    """A payload header as ``protoutil`` makes it, signed for by ``signer`` (the caller signs the enclosing bytes)."""
    creator, nonce_ = signer.creator(), nonce()
    channel_header = ChannelHeader(
        type=header_type,
        version=0,
        timestamp=timestamp(dt.datetime.now(dt.UTC)),
        channel_id=channel_id,
        tx_id=tx_id(nonce_, creator),
        epoch=0,
        extension=extension,
    )
    return Header(
        channel_header=_ser(channel_header), signature_header=_ser(SignatureHeader(creator=creator, nonce=nonce_))
    )


def _signed_envelope(header_type: int, channel_id: str, signer: Signer, data: bytes) -> Envelope:
    payload = _ser(Payload(header=_header(header_type, channel_id, signer), data=data))
    return Envelope(payload=payload, signature=signer.sign(payload))


@contextmanager
def _channel(address: str, tls_ca: bytes) -> Iterator[Any]:
    """A TLS channel to ``address`` trusting ``tls_ca``, closed on exit; gRPC failures become ``RpcFailed``."""
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca)
    channel = grpc.secure_channel(address, credentials, options=_OPTIONS)
    try:
        yield channel
    except grpc.RpcError as error:
        raise RpcFailed(address, error.code(), str(error.details())) from None
    finally:
        channel.close()


def _ser(message: Message) -> bytes:
    return bytes(message.SerializeToString(deterministic=True))


def _status_name(status: int) -> str:
    try:
        return str(Status.Name(status))
    except ValueError:
        return "UNKNOWN"
