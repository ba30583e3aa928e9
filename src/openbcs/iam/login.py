"""Password logins — ``POST /v3/auth/tokens`` and the web console's sign-in — checked by one rule (docs/auth.md):

1. the source address's and the account name's login rate (:mod:`openbcs.iam.login_gate`): over either, ``429`` with
   ``Retry-After``, no check;
2. the lock-out of the names for this source (:mod:`openbcs.iam.lockout`), reserved atomically with the count, so
   a burst of concurrent wrong passwords runs at most ``max_failures`` checks; locked: ``401 "The account is
   locked."`` without running scrypt. Nobody else's wrong passwords lock the owner out: the lock is per source;
3. the scrypt check (~60 ms of CPU), never on the event loop: in a worker thread, sources served in turn;
4. the check's result recorded under the row's lock: a right password that finishes while the names are locked for
   this source gets no token.

A name that does not exist costs the same check (against a hash of a password nobody knows) and gets the same
answer as a wrong password, so timing and answers reveal nothing about which names exist.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.iam import tokens
from openbcs.iam.lockout import LoginPolicy, Verdict, finish, release, reserve, unlock
from openbcs.iam.login_gate import login_gate_of
from openbcs.iam.models import Account, User
from openbcs.iam.passwords import verify_password
from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings

# unlock: ``openbcs user unlock`` reaches the lock-out through this module, as the routes do.
__all__ = ["UNKNOWN_USER_HASH", "LoginPolicy", "check_password", "password_token", "unlock", "verify_password"]

# An scrypt hash (same parameters as real ones) of a random password that was thrown away.
UNKNOWN_USER_HASH = "scrypt$16384$8$1$YF+mCRwYBvTyHt5cMAwlFg==$x12I98k4nfWZj8es4zBeTuMEDbA4jQKIcWUcvQcLfMw="


def _target(session: Session, *, domain_name: str, user_name: str) -> tuple[str | None, str]:
    """The enabled user behind the names and its hash; ``(None, stand-in hash)`` for no such (enabled) user."""
    user = session.execute(
        select(User.id, User.password_hash, User.enabled)
        .join(Account, Account.id == User.domain_id)
        .where(Account.name == domain_name, User.name == user_name)
    ).first()
    if user is None:
        return None, UNKNOWN_USER_HASH
    return (user.id if user.enabled else None), user.password_hash


def _check(password: str, password_hash: str) -> bool:
    # Looked up at each call, so that tests can watch the checks through ``login.verify_password``.
    return verify_password(password, password_hash)


async def check_password(
    db: Database,
    *,
    domain_name: str,
    user_name: str,
    password: str,
    source: str,
    settings: Settings,
    now: datetime,
    source_admitted: bool = False,
) -> str:
    """The id of the enabled user the names and the password prove from ``source``, else ``429`` (over the login
    rate; ``source_admitted``: the gate's middleware took the source's token already) or ``401`` in IAM's shape:
    "The username or password is wrong." (unknown names, wrong password, disabled user alike) or "The account is
    locked."."""
    gate = login_gate_of(db, settings)
    gate.admit(source=source, account_name=domain_name, source_admitted=source_admitted)
    policy = LoginPolicy.of(settings)
    names = (domain_name, user_name, source)
    if await db.write(reserve, *names, policy=policy, now=now) is Verdict.LOCKED:
        raise errors.iam_locked()
    started = time.monotonic()
    try:
        user_id, password_hash = await db.read(_target, domain_name=domain_name, user_name=user_name)
        matched = await gate.checks.run(source, _check, password, password_hash) and user_id is not None
    except BaseException:
        await db.write(release, *names, policy=policy, now=now)  # the reservation must not outlive its check
        raise
    later = now + timedelta(seconds=time.monotonic() - started)  # the check may have waited for its turn
    verdict = await db.write(finish, *names, matched=matched, policy=policy, now=later)
    if verdict is Verdict.LOCKED:
        raise errors.iam_locked()
    if verdict is not Verdict.SUCCEEDED or user_id is None:
        raise errors.iam_unauthorized()
    return user_id


async def password_token(
    db: Database,
    *,
    domain_name: str,
    user_name: str,
    password: str,
    project_id: str | None,
    project_name: str | None,
    source: str,
    settings: Settings,
    server_key: ServerKey,
    now: datetime,
    source_admitted: bool = False,
) -> tokens.IssuedToken:
    """Keystone's password method, as ``POST /v3/auth/tokens`` and the console's sign-in use it: :func:`check_password`
    under the server's limits, then a token scoped to the user's project for ``--token-lifetime-seconds``."""
    user_id = await check_password(
        db,
        domain_name=domain_name,
        user_name=user_name,
        password=password,
        source=source,
        settings=settings,
        now=now,
        source_admitted=source_admitted,
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
