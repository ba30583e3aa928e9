"""Signature requests through the API: list, show, the envelope to sign, adding signatures, rejecting.

A caller sees a request when its project started the operation, or when one of its organisations may sign it.
A request whose signatures satisfy the channel's policy is approved and its operation woken at once: it submits the
update through the same ordering path every channel change takes (:mod:`openbcs.governance.gate`)."""

from __future__ import annotations

from fabric_protos.common.common_pb2 import Block
from fabric_protos.common.configtx_pb2 import Config, ConfigSignature, ConfigUpdateEnvelope
from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.engine.models import ACTIVE, Operation
from openbcs.governance import signatures
from openbcs.governance.models import APPROVED, EXPIRED, PENDING, REJECTED, SignatureRequest, SignatureRequestSigner
from openbcs.governance.schemas import ListSignatureRequestsResponse, SignatureBody, SignatureRequestView
from openbcs.kernel import clock, errors
from openbcs.network.models import ConfigBlock, Instance, Organization

LIST_MAX = 1000


def _split(value: str) -> list[str]:
    return [m for m in value.split(",") if m]


def shown_status(request: SignatureRequest, now: int) -> str:
    """The status as the API shows it: a pending request past its deadline is expired (stored so by its operation
    the next time it looks)."""
    return EXPIRED if request.status == PENDING and request.expires_at <= now else request.status


def view(request: SignatureRequest, now: int) -> SignatureRequestView:
    """The API's view of a request."""
    return SignatureRequestView(
        id=request.id,
        blockchain_id=request.blockchain_id,
        channel_name=request.channel_name,
        operation_id=request.operation_id,
        summary=request.summary,
        policy=request.policy,
        signed_by=_split(request.signed_by),
        missing=_split(request.missing),
        update_sha256=request.update_sha256,
        created_at=clock.iso_time(request.created_at),
        expires_at=clock.iso_time(request.expires_at),
        status=shown_status(request, now),
        reason=request.reason,
    )


def _caller_msps(session: Session, project_id: str) -> list[str]:
    """The MSP ids of the project's organisations."""
    hashes = session.scalars(
        select(Organization.name_hash)
        .join(Instance, Instance.id == Organization.blockchain_id)
        .where(Instance.project_id == project_id)
    )
    return [f"{h}MSP" for h in hashes]


def _visible_query(session: Session, project_id: str) -> Select[SignatureRequest]:
    """The requests the project sees: its operations', and those one of its organisations may sign."""
    signer_of = select(SignatureRequestSigner.request_id).where(
        SignatureRequestSigner.msp_id.in_(_caller_msps(session, project_id))
    )
    return select(SignatureRequest).where(
        or_(SignatureRequest.project_id == project_id, SignatureRequest.id.in_(signer_of))
    )


def _visible(session: Session, project_id: str, request_id: str, *, lock: bool = False) -> SignatureRequest:
    query = _visible_query(session, project_id).where(SignatureRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None:  # another tenant's request is indistinguishable from none
        raise errors.BCSError(errors.NOT_FOUND, f"signature request {request_id} not found")
    return found


def list_requests(session: Session, *, project_id: str, status: str | None) -> ListSignatureRequestsResponse:
    """The caller's requests, newest first (``status``: only those shown with it)."""
    now = clock.now_ns()
    rows = session.scalars(
        _visible_query(session, project_id).order_by(SignatureRequest.created_at.desc()).limit(LIST_MAX)
    )
    shown = [view(r, now) for r in rows]
    if status is not None:
        shown = [v for v in shown if v.status == status]
    return ListSignatureRequestsResponse(count=len(shown), signature_requests=shown)


def show(session: Session, *, project_id: str, request_id: str) -> SignatureRequestView:
    """One request."""
    return view(_visible(session, project_id, request_id), clock.now_ns())


def envelope(session: Session, *, project_id: str, request_id: str) -> bytes:
    """The CONFIG_UPDATE envelope to sign with ``peer channel signconfigtx``."""
    return signatures.envelope_file(_visible(session, project_id, request_id))


def update_bytes(session: Session, *, project_id: str, request_id: str) -> bytes:
    """The serialized ``ConfigUpdate`` every signature covers (what the console signs in the browser)."""
    return bytes(_visible(session, project_id, request_id).update)


def _base_config(session: Session, request: SignatureRequest) -> Config:
    raw = session.scalar(
        select(ConfigBlock.block).where(
            ConfigBlock.channel_id == request.channel_id, ConfigBlock.number == request.base_block
        )
    )
    if raw is None:  # pragma: no cover - a channel's blocks go only with the channel, and its requests with it
        raise errors.wrong_state(f"signature request {request.id}", "its channel's configuration is gone")
    return fabric.config_of(Block.FromString(raw))


def _open(request: SignatureRequest, now: int) -> None:
    status = shown_status(request, now)
    if status != PENDING:
        raise errors.invalid_parameter("id", f"signature request {request.id} is {status}, not pending")


def _wake(session: Session, operation_id: str) -> None:
    """Make the waiting operation due now, and wake this process's worker when the transaction commits."""
    session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.status.in_(ACTIVE))
        .values(due_at=clock.now_ns())
    )
    session.info["operations_started"] = True


def add_signatures(
    session: Session,
    *,
    project_id: str,
    request_id: str,
    body: SignatureBody | None,
    raw: bytes | None,
) -> SignatureRequestView:
    """Verify and add the uploaded signature(s) (JSON ``body`` or a ``signconfigtx`` file ``raw``); approve the
    request, and wake its operation, when the channel's policy is satisfied."""
    request = _visible(session, project_id, request_id, lock=True)
    now = clock.now_ns()
    _open(request, now)
    uploaded: list[ConfigSignature] = (
        signatures.from_json(body) if body is not None else signatures.from_file(raw or b"", request)
    )
    base = _base_config(session, request)
    signed, missing = set(_split(request.signed_by)), _split(request.missing)
    collected = ConfigUpdateEnvelope.FromString(request.envelope)
    for signature in uploaded:
        msp = signatures.verified_msp(signature, request, base, signed, missing)
        signed.add(msp)
        missing.remove(msp)
        collected.signatures.append(signature)
        request.signed_by = ",".join([*_split(request.signed_by), msp])
    request.missing = ",".join(missing)
    request.envelope = collected.SerializeToString(deterministic=True)
    if not fabric.authorize_update(base, collected):
        request.status = APPROVED
        _wake(session, request.operation_id)
    return view(request, now)


def reject(session: Session, *, project_id: str, request_id: str, reason: str) -> SignatureRequestView:
    """Refuse the request: its operation fails with ``reason`` and nothing changes. Only the project that started
    it, or one owning an organisation whose signature it still needs, may."""
    request = _visible(session, project_id, request_id, lock=True)
    now = clock.now_ns()
    _open(request, now)
    if request.project_id != project_id and not set(_caller_msps(session, project_id)) & set(_split(request.missing)):
        raise errors.invalid_parameter("id", "only an organisation whose signature is missing may reject the request")
    request.status = REJECTED
    request.reason = reason
    _wake(session, request.operation_id)
    return view(request, now)
