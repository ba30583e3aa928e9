"""The wait of a channel change for signatures (the :class:`openbcs.network.gate.SignatureGate` this domain provides).

An operation's channel change runs with a :class:`Signatures` collector in a savepoint. If every config update it
makes can be authorized by the hosted admins, it stays as it ran. If one cannot, what it did is rolled back, a
signature request is stored per channel (signed at once by the hosted admins) and the sub-step waits ("waiting for
signatures"). Each later run only reads the requests: rejected or expired, the operation fails and nothing changed;
all approved, the change runs again with the collected signatures, and must produce exactly the signed bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.kinds import OperationContext, OperationFailed, Pending
from openbcs.governance.models import (
    APPROVED,
    EXPIRED,
    PENDING,
    REJECTED,
    SUBMITTED,
    SignatureRequest,
    SignatureRequestSigner,
)
from openbcs.kernel import clock
from openbcs.network.gate import Needed, SignatureGate, Signatures, collecting, update_sha256
from openbcs.network.models import Channel

HOUR_NS = 3600 * 1_000_000_000
# How often a waiting operation looks at its requests (a signature completing one wakes it at once).
RECHECK_SECONDS = 5.0
WAITING = "waiting for signatures"


def requests_of(session: Session, operation_id: str, step_key: str) -> list[SignatureRequest]:
    """The signature requests an operation's sub-step made, oldest first."""
    return list(
        session.scalars(
            select(SignatureRequest)
            .where(SignatureRequest.operation_id == operation_id, SignatureRequest.step_key == step_key)
            .order_by(SignatureRequest.created_at, SignatureRequest.id)
        )
    )


def pending_on(session: Session, channel_id: int, now: int) -> SignatureRequest | None:
    """The request still waiting for signatures on a channel, if any (at most one: the channel is busy meanwhile)."""
    return session.scalars(
        select(SignatureRequest).where(
            SignatureRequest.channel_id == channel_id,
            SignatureRequest.status.in_((PENDING, APPROVED)),
            SignatureRequest.expires_at > now,
        )
    ).first()


def _store(session: Session, ctx: OperationContext[Any], needed: Needed, *, ttl_hours: int, now: int) -> str:
    channel = session.get_one(Channel, needed.channel_id)
    busy = pending_on(session, channel.id, now)
    if busy is not None:
        raise OperationFailed(
            f"channel {channel.name} is busy: signature request {busy.id} is waiting for signatures; "
            "retry once it is submitted, rejected or expired"
        )
    signed = [m for m in needed.signers if m in needed.candidates]
    missing = [m for m in needed.candidates if m not in needed.signers]
    request = SignatureRequest(
        id=str(uuid.uuid4()),
        operation_id=ctx.operation_id,
        step_key=ctx.sub_step_name,
        project_id=ctx.project_id,
        blockchain_id=channel.blockchain_id,
        channel_id=channel.id,
        channel_name=channel.name,
        summary=needed.summary,
        policy=needed.policy,
        signed_by=",".join(signed),
        missing=",".join(missing),
        base_block=needed.base_block,
        update=needed.update,
        envelope=needed.envelope,
        update_sha256=update_sha256(needed.update),
        created_at=now,
        expires_at=now + ttl_hours * HOUR_NS,
        status=PENDING,
        reason="",
    )
    session.add(request)
    session.flush()
    for msp in needed.candidates:
        session.add(SignatureRequestSigner(request_id=request.id, msp_id=msp))
    return request.id


def check(
    session: Session, ctx: OperationContext[Any], run: Callable[[], str | Pending], *, ttl_hours: int
) -> str | Pending:
    """Run the channel change ``run`` now, or make the sub-step wait for (or fail on) its signature requests."""
    now = clock.now_ns()
    requests = requests_of(session, ctx.operation_id, ctx.sub_step_name)
    if not requests:
        collected = Signatures()
        savepoint = session.begin_nested()
        try:
            with collecting(session, collected):
                result = run()
        except BaseException:
            savepoint.rollback()
            raise
        if not collected.needed:
            savepoint.commit()
            return result
        savepoint.rollback()  # nothing of the change stays while it waits
        made = [_store(session, ctx, n, ttl_hours=ttl_hours, now=now) for n in collected.needed.values()]
        return Pending(f"{WAITING}: request(s) {', '.join(made)}", retry_seconds=RECHECK_SECONDS)
    for request in requests:
        if request.status == REJECTED:
            raise OperationFailed(
                f"signature request {request.id} was rejected: {request.reason or 'no reason given'}; "
                "nothing was changed"
            )
        if request.status == EXPIRED:
            raise OperationFailed(f"signature request {request.id} expired; nothing was changed")
    expired = [r for r in requests if r.status == PENDING and r.expires_at <= now]
    if expired:
        # Stored first, the operation failing on the next run: a failing action's writes are rolled back.
        for request in expired:
            request.status = EXPIRED
            request.reason = "the deadline passed before the signatures were complete"
        return Pending(f"signature request {expired[0].id} expired", retry_seconds=0)
    waiting = [r for r in requests if r.status == PENDING]
    if waiting:
        who = sorted({m for r in waiting for m in r.missing.split(",") if m})
        return Pending(f"{WAITING} of {', '.join(who) or 'the required organisations'}", RECHECK_SECONDS)
    provided = Signatures(provided={r.channel_id: r.envelope for r in requests})
    with collecting(session, provided):
        result = run()
    if provided.needed:  # pragma: no cover - a change touching a channel it did not touch before
        raise OperationFailed("the change now needs other signatures than were collected; nothing was changed")
    if not isinstance(result, Pending):
        for request in requests:
            request.status = SUBMITTED
    return result


def gate(ttl_hours: int) -> SignatureGate:
    """The gate with requests expiring after ``ttl_hours``."""
    return SignatureGate(lambda session, ctx, run: check(session, ctx, run, ttl_hours=ttl_hours))
