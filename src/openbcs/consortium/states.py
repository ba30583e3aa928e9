"""The membership vocabulary and its moves. An invitation and its notification share one vocabulary —
``waiting``, ``joining``, ``joined``, ``reject``, ``quitting``, ``quit``, ``released``, ``cancelled`` — and move
together under the invitation's row lock (``docs/consortium.md`` draws the machine)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, SessionTransaction

from openbcs.consortium.models import Invitation
from openbcs.kernel.clock import now_ns
from openbcs.network import limits, lookups
from openbcs.network.guards import record_event

WAITING, JOINING, JOINED, REJECT = "waiting", "joining", "joined", "reject"
QUITTING, QUIT, RELEASED, CANCELLED = "quitting", "quit", "released", "cancelled"
STATUSES = (WAITING, JOINING, JOINED, REJECT, QUITTING, QUIT, RELEASED, CANCELLED)
# An invitation in one of these holds the tenant's place in the channel: it cannot be invited again meanwhile.
ACTIVE = (WAITING, JOINING, JOINED, QUITTING)
# What DeleteMemberInvite may name: withdraw a waiting one, delete a finished record.
DELETABLE = (WAITING, REJECT, QUIT, RELEASED)
# What the invitee sees as its consortia in ListMembers.
BELONGING = (JOINING, JOINED, QUITTING)
_LOCKED = "openbcs.consortium.locked_invitations"  # session.info: {id: (the transaction that locked it, it)}


def touch(invitation: Invitation, *, status: str | None = None, notification_status: str | None = None) -> None:
    """Move the invitation (and/or its notification) and stamp the change."""
    if status is not None:
        invitation.status = status
    if notification_status is not None:
        invitation.notification_status = notification_status
    invitation.updated_time = now_ns()


def lock(session: Session, invitation_id: int) -> Invitation:
    """The invitation under its row lock, with the values committed by the lock's previous holder."""
    # Locked already, in a transaction or savepoint still open (a quit locks it, then each of its steps run in the same
    # transaction asks again): the row lock is still held, so nobody else has changed the row, and the object holds
    # this transaction's own changes. Not once the savepoint that locked it has ended: PostgreSQL releases the row
    # locks of a savepoint rolled back. Kept here, not looked up: the session's identity map holds unchanged objects
    # only weakly.
    locked: dict[int, tuple[SessionTransaction, Invitation]] = session.info.setdefault(_LOCKED, {})
    held = locked.get(invitation_id)
    if held is not None and held[0].is_active:
        return held[1]
    # populate_existing: the row may already be in the session, read before the lock was granted; the locked row's
    # committed values must replace those, or a change made meanwhile by the lock's previous holder goes unseen.
    query = select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    invitation = session.scalars(query.execution_options(populate_existing=True)).one()
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None  # the statement above began one
    locked[invitation_id] = (transaction, invitation)
    return invitation


def prune_cancelled(session: Session, changed: Iterable[Invitation]) -> int:
    """Keep the newest CANCELLED_NOTIFICATIONS_KEPT cancelled notifications per invitee and inviter account among
    those of ``changed`` (invitations that may just have been cancelled); delete the older ones. Withdrawing and
    re-inviting cannot grow an invitee's inbox without bound (``docs/consortium.md``). Returns how many went."""
    pairs = {(i.invitee_domain_id, i.inviter_domain_id) for i in changed if i.status == CANCELLED}
    session.flush()
    removed = 0
    for invitee_domain_id, inviter_domain_id in sorted(pairs):
        older = list(
            session.scalars(
                select(Invitation.id)
                .where(
                    Invitation.invitee_domain_id == invitee_domain_id,
                    Invitation.inviter_domain_id == inviter_domain_id,
                    Invitation.status == CANCELLED,
                )
                .order_by(Invitation.updated_time.desc(), Invitation.id.desc())
                .offset(limits.CANCELLED_NOTIFICATIONS_KEPT)
            )
        )
        if older:
            session.execute(
                delete(Invitation).where(Invitation.id.in_(older)), execution_options={"synchronize_session": False}
            )
            removed += len(older)
    return removed


def member_event(session: Session, invitation: Invitation, name: str, message: str) -> None:
    """Record a membership event on both instances (while they exist)."""
    for blockchain_id in (invitation.inviter_blockchain_id, invitation.invitee_blockchain_id):
        instance = lookups.find(session, blockchain_id=blockchain_id) if blockchain_id else None
        if instance is not None:
            record_event(
                session,
                instance,
                name,
                message,
                channel=invitation.channel_name,
                invitee=invitation.invitee_name,
                inviter=invitation.inviter_name,
            )


def invitation_waiting(session: Session, *, invitee_domain_id: str, inviter_blockchain_id: str) -> bool:
    """Whether an invitation of the instance ``inviter_blockchain_id`` waits for the account ``invitee_domain_id``:
    what an invitee instance for that inviter needs (``instances.creation.InvitationCheck``)."""
    found = session.scalar(
        select(Invitation.id)
        .where(
            Invitation.inviter_blockchain_id == inviter_blockchain_id,
            Invitation.invitee_domain_id == invitee_domain_id,
            Invitation.status == WAITING,
        )
        .limit(1)
    )
    return found is not None
