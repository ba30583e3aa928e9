"""Reading and verifying an uploaded signature: the file ``peer channel signconfigtx`` wrote (a CONFIG_UPDATE
``Envelope``), or one ``ConfigSignature`` given as JSON. Each must be the low-S signature of an admin, per the
channel's configuration the update was computed from, of an organisation the request still needs, over exactly the
request's update bytes; otherwise a 400 names why."""

from __future__ import annotations

import base64
import binascii

from fabric_protos.common.common_pb2 import ChannelHeader, Envelope, Header, HeaderType, Payload, SignatureHeader
from fabric_protos.common.configtx_pb2 import Config, ConfigSignature, ConfigUpdateEnvelope
from fabric_protos.msp.msp_principal_pb2 import MSPRole
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from openbcs.fabric.crypto import signature_problem
from openbcs.fabric.policies import PolicyEvaluator
from openbcs.governance.models import SignatureRequest
from openbcs.governance.schemas import SignatureBody
from openbcs.kernel import errors

# The largest signconfigtx file taken: a config update of a 20-organisation channel with every signature is far less.
FILE_MAX = 4 * 1024 * 1024


def bounded_file(raw: bytes, *, field: str) -> bytes:
    """``raw`` as a signconfigtx file may be, checked before any database work (the API's octet-stream body and the
    console's upload alike): not empty, at most :data:`FILE_MAX` bytes."""
    if not raw:
        raise errors.missing_parameter(field)
    if len(raw) > FILE_MAX:
        raise errors.invalid_parameter(field, f"at most {FILE_MAX} bytes")
    return raw


def envelope_file(request: SignatureRequest) -> bytes:
    """The CONFIG_UPDATE ``Envelope`` holding the request's update with the signatures so far: what
    ``peer channel signconfigtx -f FILE`` signs (it reads the channel header and the ``ConfigUpdateEnvelope``)."""
    channel_header = ChannelHeader(
        type=HeaderType.CONFIG_UPDATE,
        channel_id=request.channel_name,
        timestamp=Timestamp(seconds=request.created_at // 1_000_000_000),
    )
    payload = Payload(
        header=Header(channel_header=channel_header.SerializeToString(deterministic=True)), data=request.envelope
    )
    return bytes(Envelope(payload=payload.SerializeToString(deterministic=True)).SerializeToString(deterministic=True))


def _b64(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.invalid_parameter(field, "not base64") from exc


def from_json(body: SignatureBody) -> list[ConfigSignature]:
    """The one signature of a JSON upload."""
    return [
        ConfigSignature(
            signature_header=_b64("signature_header", body.signature_header),
            signature=_b64("signature", body.signature),
        )
    ]


def from_file(raw: bytes, request: SignatureRequest) -> list[ConfigSignature]:
    """The signatures a ``signconfigtx`` file adds to the request's: its update must be the request's, byte for
    byte."""
    try:
        payload = Payload.FromString(Envelope.FromString(raw).payload)
        channel_header = ChannelHeader.FromString(payload.header.channel_header)
        update_envelope = ConfigUpdateEnvelope.FromString(payload.data)
    except DecodeError as exc:
        raise errors.invalid_parameter("body", "not a serialized CONFIG_UPDATE envelope") from exc
    if channel_header.type != HeaderType.CONFIG_UPDATE:
        raise errors.invalid_parameter("body", "the envelope is not of type CONFIG_UPDATE")
    if update_envelope.config_update != request.update:
        raise errors.invalid_parameter(
            "body", f"the envelope holds another update than this request's (update_sha256 {request.update_sha256})"
        )
    known = {(s.signature_header, s.signature) for s in ConfigUpdateEnvelope.FromString(request.envelope).signatures}
    added = [s for s in update_envelope.signatures if (s.signature_header, s.signature) not in known]
    if not added:
        raise errors.invalid_parameter("body", "the envelope carries no signature this request does not have")
    return added


def verified_msp(
    signature: ConfigSignature, request: SignatureRequest, base: Config, signed: set[str], missing: list[str]
) -> str:
    """The MSP id of the organisation whose admin made ``signature``; a 400 naming why it does not count."""
    evaluator = PolicyEvaluator(base)
    try:
        header = SignatureHeader.FromString(signature.signature_header)
    except DecodeError as exc:
        raise errors.invalid_parameter("signature_header", "not a serialized SignatureHeader") from exc
    identity = evaluator.deserialize(header.creator)
    if isinstance(identity, str):
        raise errors.invalid_parameter("signature_header", f"creator: {identity}")
    msp = identity.msp_id
    if msp in signed:
        raise errors.invalid_parameter("signature", f"{msp} has signed this request already")
    if msp not in missing:
        raise errors.invalid_parameter(
            "signature", f"{msp} is not an organisation this request needs ({', '.join(missing) or 'none'})"
        )
    if not evaluator.msps[msp].has_role(identity.cert, MSPRole.ADMIN):
        raise errors.invalid_parameter(
            "signature",
            f"the signer is not an admin of {msp} in the channel's configuration (block {request.base_block})",
        )
    problem = signature_problem(identity.cert, signature.signature_header + request.update, signature.signature)
    if problem is not None:
        raise errors.invalid_parameter("signature", f"{problem} (over this request's update bytes)")
    return msp
