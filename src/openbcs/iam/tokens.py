"""Keystone-style project-scoped tokens: issued once a user's password is checked (:mod:`openbcs.iam.login`),
checked on every request that carries one.

A token is the server key's Fernet encryption of its claims (user, project, credential version, times). It stops
working when it expires or when its user's credential version moves on (password change, disable, key deletion).
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openbcs.iam.failures import AuthenticationError
from openbcs.iam.models import Account, Project, User
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.rows import Rows, Statement

TOKEN_PURPOSE = "token"  # noqa: S105 - a key-derivation label, not a secret


@dataclass(frozen=True)
class IssuedToken:
    """A new token and what its body describes."""

    token: str
    caller: Caller
    issued_at: datetime
    expires_at: datetime
    methods: tuple[str, ...]


def issue_token(
    session: Session,
    *,
    user_id: str,
    project_id: str | None,
    project_name: str | None,
    server_key: ServerKey,
    lifetime: timedelta,
    now: datetime,
) -> IssuedToken:
    """A project-scoped token (Keystone v3) for a user whose password was checked
    (:func:`openbcs.iam.login.check_password`); the project by id or by name, and it must be the user's."""
    row = session.execute(
        select(User, Account).join(Account, Account.id == User.domain_id).where(User.id == user_id)
    ).first()
    if row is None:  # the user was deleted since its password was checked
        raise errors.iam_unauthorized()
    user, account = row.User, row.Account
    query = select(Project).where(Project.domain_id == account.id)
    query = query.where(Project.id == project_id) if project_id else query.where(Project.name == project_name)
    project = session.scalar(query)
    if project is None:
        raise errors.iam_unauthorized("The project in the scope does not exist or is not the user's.")
    expires = now + lifetime
    claims = {
        "u": user.id,
        "p": project.id,
        "v": user.credential_version,
        "iat": now.timestamp(),
        "exp": expires.timestamp(),
    }
    token = server_key.encrypt(TOKEN_PURPOSE, json.dumps(claims, separators=(",", ":")).encode())
    caller = Caller(user.id, user.name, account.id, account.name, project.id, project.name, "token")
    return IssuedToken(token, caller, now, expires, ("password",))


# Every authenticated request runs this: one indexed select, compiled once, on the raw driver (docs/benchmarks.md).
_TOKEN_OWNER = Statement(
    select(
        User.id,
        User.name,
        User.enabled,
        User.credential_version,
        Account.id,
        Account.name,
        Project.id,
        Project.name,
    )
    .join(Account, Account.id == User.domain_id)
    .join(Project, Project.domain_id == Account.id)
    .where(User.id == bindparam("user_id"), Project.id == bindparam("project_id"))
)


@dataclass(frozen=True)
class TokenClaims:
    """What a token says: its user and project, the user's credential version at issue, and its expiry."""

    user_id: str
    project_id: str
    version: int
    expires: float


@functools.lru_cache(maxsize=8192)
def token_claims(token: str, server_key: ServerKey) -> TokenClaims:
    """Decrypt a token (cached: a client sends the same token for hours, and its claims never change; whether the
    token still counts — expiry, its user's state — is checked on every use)."""
    try:
        # Fernet's base64 decoding ignores a final character's unused bits, so a token with its last character
        # changed can still decrypt: accept only the exact encoding the server issued.
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(token.encode("ascii"))).decode("ascii") != token:
            raise ValueError("token is not canonically encoded")
        claims = json.loads(server_key.decrypt(TOKEN_PURPOSE, token))
        return TokenClaims(str(claims["u"]), str(claims["p"]), int(claims["v"]), float(claims["exp"]))
    except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise AuthenticationError("token cannot be decrypted") from exc


def authenticate_token(rows: Rows, *, token: str, server_key: ServerKey, now: datetime) -> Caller:
    """The identity a token proves, if it is intact, unexpired, and its user unchanged since issue."""
    claims = token_claims(token, server_key)
    if now.timestamp() >= claims.expires:
        raise AuthenticationError("token expired")
    row = rows.first(_TOKEN_OWNER, user_id=claims.user_id, project_id=claims.project_id)
    if row is None:
        raise AuthenticationError("token's user or project no longer exists")
    user_id, user_name, enabled, version, domain_id, domain_name, project_id, project_name = row
    if not enabled or version != claims.version:
        raise AuthenticationError("token's user was disabled or changed password")
    return Caller(user_id, user_name, domain_id, domain_name, project_id, project_name, "token")
