"""One owner for the local runtime's nodes: the server process holding the lease supervises them (starts, watches,
runs tasks); the others stand by and take over once it expires, starting the nodes from their ledgers. The owner's
nodes die with it (a parent-death signal), so a node never runs twice.

Every step is one short statement: an ``UPDATE`` that succeeds only for the owner or when the lease has expired (two
servers racing for an expired lease: the database lets one update win), else an ``INSERT`` of the first lease.
"""

from __future__ import annotations

import os
import secrets
import socket

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs.kernel.clock import now_ns
from openbcs.runtime.models import RuntimeLease

NAME = "supervisor"
TTL_SECONDS = 20.0  # a dead owner's nodes are taken over within this plus one look (every RENEW_SECONDS)
RENEW_SECONDS = 5.0


def owner_id() -> str:
    """This process's name in the lease: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(owner: str) -> bool:
    """The owner is a process of this host that no longer exists (killed: its nodes died with it)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:60] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def hold(session: Session, owner: str, *, ttl_seconds: float = TTL_SECONDS) -> bool:
    """Take or renew the lease for ``owner``; True if ``owner`` holds it now. A lease may be taken when it expired,
    or at once when its owner was a process of this host that is gone."""
    now = now_ns()
    expires = now + int(ttl_seconds * 1e9)
    current = session.get(RuntimeLease, NAME)
    if current is None:
        try:
            with session.begin_nested():
                session.add(RuntimeLease(name=NAME, owner=owner, expires_at=expires, acquired_at=now))
        except IntegrityError:
            return False  # another server inserted it first
        return True
    if current.owner != owner and current.expires_at >= now and not _dead_here(current.owner):
        return False  # another owner's, and alive
    # Compare and set: of two servers taking an expired lease at once, one update matches.
    taken = session.execute(
        update(RuntimeLease)
        .where(
            RuntimeLease.name == NAME,
            RuntimeLease.owner == current.owner,
            RuntimeLease.expires_at == current.expires_at,
        )
        .values(owner=owner, expires_at=expires, acquired_at=current.acquired_at if current.owner == owner else now)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def release(session: Session, owner: str) -> None:
    """Give the lease up at once (the server stops): a standby takes over at its next look."""
    session.execute(
        update(RuntimeLease).where(RuntimeLease.name == NAME, RuntimeLease.owner == owner).values(expires_at=0)
    )
