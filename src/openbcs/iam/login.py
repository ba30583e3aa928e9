"""Password logins — ``POST /v3/auth/tokens`` and the web console's sign-in — checked by one rule:

- scrypt (~60 ms of CPU) never runs on the event loop: checks run in worker threads, at most
  :data:`CONCURRENT_CHECKS` at once, so a flood of wrong passwords queues behind itself instead of taking every
  core from other tenants' requests;
- a name that does not exist costs the same check (against a hash of a password nobody knows) and gets the same
  answer as a wrong password, so timing and answers reveal nothing about which names exist;
- after ``max_failures`` consecutive wrong passwords a user name is locked for ``lockout`` (Huawei IAM's account
  lockout policy): every login for it is refused, right password or not, without running scrypt, until the lock
  expires or an operator runs ``openbcs user unlock``. Failures are counted by the names as given, existing or not,
  so a lock-out answers the same for unknown names too. A success resets the count; a failure older than the
  lock-out period no longer counts.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs.iam import tokens
from openbcs.iam.models import Account, LoginFailure, User
from openbcs.iam.passwords import verify_password
from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings

# An scrypt hash (same parameters as real ones) of a random password that was thrown away.
UNKNOWN_USER_HASH = "scrypt$16384$8$1$YF+mCRwYBvTyHt5cMAwlFg==$x12I98k4nfWZj8es4zBeTuMEDbA4jQKIcWUcvQcLfMw="
CONCURRENT_CHECKS = 1
# One limiter per event loop (a limiter belongs to the loop it is used on; tests run several loops in turn).
_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LoginPolicy:
    """How many consecutive wrong passwords lock a user name, and for how long."""

    max_failures: int
    lockout: timedelta

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        """The server's policy (``--login-max-failures``, ``--login-lockout-minutes``)."""
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_lockout_minutes))


@dataclass(frozen=True)
class LoginTarget:
    """What a password check needs, read before it: the user (None if no such user), its hash, whether the user
    is enabled, and whether the name is locked now."""

    user_id: str | None
    password_hash: str
    enabled: bool
    locked: bool


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def login_target(session: Session, *, domain_name: str, user_name: str, now: datetime) -> LoginTarget:
    """The user behind the names and the names' lock state."""
    user = session.execute(
        select(User.id, User.password_hash, User.enabled)
        .join(Account, Account.id == User.domain_id)
        .where(Account.name == domain_name, User.name == user_name)
    ).first()
    failure = session.get(LoginFailure, (domain_name, user_name))
    locked = failure is not None and failure.locked_until is not None and failure.locked_until > _ns(now)
    if user is None:
        return LoginTarget(None, UNKNOWN_USER_HASH, False, locked)
    return LoginTarget(user.id, user.password_hash, bool(user.enabled), locked)


def record_login(
    session: Session, *, domain_name: str, user_name: str, succeeded: bool, policy: LoginPolicy, now: datetime
) -> bool:
    """Count a failed login (locking the names at ``max_failures``) or reset the count after a success; True if
    the names are locked now. Failures that no longer count are pruned on the way."""
    now_ns, window = _ns(now), int(policy.lockout.total_seconds() * 1_000_000_000)
    if succeeded:
        session.execute(
            delete(LoginFailure).where(LoginFailure.domain_name == domain_name, LoginFailure.user_name == user_name)
        )
        return False
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.last_failure < now_ns - window,
            (LoginFailure.locked_until.is_(None)) | (LoginFailure.locked_until <= now_ns),
        )
    )
    failure = session.get(LoginFailure, (domain_name, user_name), with_for_update=True)
    if failure is None:
        try:
            with session.begin_nested():
                failure = LoginFailure(domain_name=domain_name, user_name=user_name, failures=0, last_failure=now_ns)
                session.add(failure)
        except IntegrityError:  # a concurrent failure of the same names inserted it first
            failure = session.get_one(LoginFailure, (domain_name, user_name), with_for_update=True)
    if failure.locked_until is not None and failure.locked_until <= now_ns:
        failure.failures, failure.locked_until = 0, None  # the last lock is over: counting starts again
    failure.failures += 1
    failure.last_failure = now_ns
    if failure.failures >= policy.max_failures and failure.locked_until is None:
        failure.locked_until = now_ns + window
    return failure.locked_until is not None


def unlock(session: Session, *, domain_name: str, user_name: str) -> bool:
    """Forget the names' failed logins (``openbcs user unlock``); True if they were locked."""
    failure = session.get(LoginFailure, (domain_name, user_name))
    if failure is None:
        return False
    session.delete(failure)
    return failure.locked_until is not None


async def _verify_off_loop(password: str, password_hash: str) -> bool:
    loop = asyncio.get_running_loop()
    limiter = _checks.get(loop)
    if limiter is None:
        limiter = _checks[loop] = anyio.CapacityLimiter(CONCURRENT_CHECKS)
    return await anyio.to_thread.run_sync(verify_password, password, password_hash, limiter=limiter)


async def check_password(
    db: Database, *, domain_name: str, user_name: str, password: str, policy: LoginPolicy, now: datetime
) -> str:
    """The id of the enabled user the names and the password prove, else ``401`` in IAM's shape: "The username or
    password is wrong." (unknown names, wrong password, disabled user alike) or "The account is locked."."""
    target = await db.read(login_target, domain_name=domain_name, user_name=user_name, now=now)
    if target.locked:
        raise errors.iam_locked()
    matches = await _verify_off_loop(password, target.password_hash)
    succeeded = matches and target.user_id is not None and target.enabled
    await db.write(
        record_login, domain_name=domain_name, user_name=user_name, succeeded=succeeded, policy=policy, now=now
    )
    if not succeeded or target.user_id is None:
        raise errors.iam_unauthorized()
    return target.user_id


async def password_token(
    db: Database,
    *,
    domain_name: str,
    user_name: str,
    password: str,
    project_id: str | None,
    project_name: str | None,
    settings: Settings,
    server_key: ServerKey,
    now: datetime,
) -> tokens.IssuedToken:
    """Keystone's password method, as ``POST /v3/auth/tokens`` and the console's sign-in use it: :func:`check_password`
    under the server's lock-out policy, then a token scoped to the user's project for ``--token-lifetime-seconds``."""
    user_id = await check_password(
        db,
        domain_name=domain_name,
        user_name=user_name,
        password=password,
        policy=LoginPolicy.of(settings),
        now=now,
    )
    return await db.read(
        tokens.issue_token,
        user_id=user_id,
        project_id=project_id,
        project_name=project_name,
        server_key=server_key,
        lifetime=timedelta(seconds=settings.token_lifetime_seconds),
        now=now,
    )
