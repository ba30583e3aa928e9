"""Lock-out of a user name for one source address after consecutive wrong passwords, kept in the database so that
every server process (``--workers``) sees the same counts (docs/auth.md, "Password logins").

A check is *reserved* before it runs and *finished* after, each in a short write transaction holding the row's lock
(``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on SQLite). A reservation counts as a failure until its
check finishes, so a burst of concurrent wrong passwords runs at most ``max_failures`` checks; and a right password
that finishes while the name is locked for its source gets no token. Each lock for the same (names, source) lasts
twice as long as the one before (to :data:`MAX_LOCK`) until a success, an operator's unlock, or a quiet day.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs.iam.models import LoginFailure
from openbcs.kernel.clock import utcnow
from openbcs.kernel.settings import Settings

MAX_LOCK = timedelta(hours=24)  # the longest lock, however many came before
# A reservation whose check never finished (its process died) stops counting after this long.
STALE_RESERVATION = timedelta(minutes=5)
_NS = 1_000_000_000


@dataclass(frozen=True)
class LoginPolicy:
    """How many consecutive wrong passwords from one source lock a user name for it, and for how long at first."""

    max_failures: int
    lockout: timedelta

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        """The server's policy (``--login-max-failures``, ``--login-lockout-minutes``)."""
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_lockout_minutes))

    def lock_length(self, lockouts: int) -> timedelta:
        """How long the ``lockouts``-th lock in a row lasts: the lock-out period, doubled for each one before."""
        if self.lockout >= MAX_LOCK:
            return self.lockout
        return min(self.lockout * (1 << min(max(lockouts - 1, 0), 32)), MAX_LOCK)


class Verdict(enum.Enum):
    """What :func:`reserve` and :func:`finish` decided."""

    CHECK = "check"  # reserved: run the password check
    LOCKED = "locked"  # refused: the names are locked for this source (or would be by the checks running now)
    SUCCEEDED = "succeeded"  # the right password, not locked: issue the token
    FAILED = "failed"  # a wrong password (counted)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * _NS)


def _row(session: Session, key: tuple[str, str, str], now_ns: int) -> LoginFailure:
    """The key's row, locked for this transaction (created if missing)."""
    row = session.get(LoginFailure, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginFailure(
                domain_name=key[0], user_name=key[1], source=key[2], failures=0, in_flight=0, last_attempt=now_ns
            )
            session.add(row)
    except IntegrityError:  # a concurrent check of the same names from the same source inserted it first
        row = session.get_one(LoginFailure, key, with_for_update=True, populate_existing=True)
    return row


def _settle(row: LoginFailure, policy: LoginPolicy, now_ns: int) -> None:
    """Forget what no longer counts: reservations of a process that died, a lock that is over (counting starts
    again), failures older than the lock-out period."""
    if row.in_flight and row.last_attempt < now_ns - STALE_RESERVATION.total_seconds() * _NS:
        row.in_flight = 0
    if row.locked_until is not None and row.locked_until <= now_ns:
        row.failures, row.locked_until = 0, None
    if row.failures and row.last_attempt < now_ns - policy.lockout.total_seconds() * _NS:
        row.failures = 0


def reserve(
    session: Session, domain_name: str, user_name: str, source: str, *, policy: LoginPolicy, now: datetime
) -> Verdict:
    """Reserve one password check for the names from ``source``: ``CHECK``, or ``LOCKED`` when they are locked for
    it or when the failures and the checks running now reach ``max_failures`` already."""
    now_ns = _ns(now)
    row = _row(session, (domain_name, user_name, source), now_ns)
    _settle(row, policy, now_ns)
    if row.locked_until is not None or row.failures + row.in_flight >= policy.max_failures:
        return Verdict.LOCKED
    row.in_flight += 1
    row.last_attempt = now_ns
    return Verdict.CHECK


def finish(
    session: Session,
    domain_name: str,
    user_name: str,
    source: str,
    *,
    matched: bool,
    policy: LoginPolicy,
    now: datetime,
) -> Verdict:
    """Record a reserved check's result: a failure is counted (locking the names for ``source`` at
    ``max_failures``, for twice as long as the lock before); a success clears the count unless the names were
    locked meanwhile, and then it is ``LOCKED``: no token while locked."""
    now_ns = _ns(now)
    key = (domain_name, user_name, source)
    row = _row(session, key, now_ns)
    row.in_flight = max(0, row.in_flight - 1)
    _settle(row, policy, now_ns)
    if matched:
        if row.locked_until is not None:
            return Verdict.LOCKED
        if row.in_flight:
            row.failures, row.lockouts = 0, 0
        else:
            session.delete(row)
        return Verdict.SUCCEEDED
    row.failures += 1
    row.last_attempt = now_ns
    if row.failures >= policy.max_failures and row.locked_until is None:
        row.lockouts += 1
        row.locked_until = now_ns + int(policy.lock_length(row.lockouts).total_seconds() * _NS)
    _prune(session, now_ns, keep=key)
    return Verdict.FAILED


def release(
    session: Session, domain_name: str, user_name: str, source: str, *, policy: LoginPolicy, now: datetime
) -> None:
    """Give back a reservation whose check did not run to its end (the request failed or was cancelled)."""
    row = session.get(LoginFailure, (domain_name, user_name, source), with_for_update=True, populate_existing=True)
    if row is not None:
        row.in_flight = max(0, row.in_flight - 1)


def _prune(session: Session, now_ns: int, *, keep: tuple[str, str, str]) -> None:
    """Forget (names, source) pairs quiet for a day and not locked: their backoff starts over."""
    session.execute(
        delete(LoginFailure)
        .where(LoginFailure.last_attempt < now_ns - int(MAX_LOCK.total_seconds() * _NS))
        .where(or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now_ns))
        .where(
            or_(
                LoginFailure.domain_name != keep[0],
                LoginFailure.user_name != keep[1],
                LoginFailure.source != keep[2],
            )
        )
        .execution_options(synchronize_session=False)
    )


def unlock(session: Session, *, domain_name: str, user_name: str) -> bool:
    """Forget the names' failed logins from every source (``openbcs user unlock``); True if any source was locked."""
    now_ns = _ns(utcnow())
    rows = list(
        session.scalars(
            select(LoginFailure).where(LoginFailure.domain_name == domain_name, LoginFailure.user_name == user_name)
        )
    )
    was_locked = any(row.locked_until is not None and row.locked_until > now_ns for row in rows)
    for row in rows:
        session.delete(row)
    return was_locked
