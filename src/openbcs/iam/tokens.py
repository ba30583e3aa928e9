"""Keystone-style project-scoped tokens: issued for a user's password, checked on every request that carries one.

A token is the server key's Fernet encryption of its claims (user, project, credential version, times). It stops
working when it expires or when its user's credential version moves on (password change, disable, key deletion).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openbcs.iam.failures import AuthenticationError
from openbcs.iam.models import Account, Project, User
from openbcs.iam.passwords import verify_password
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.kernel.keys import ServerKey

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
    user_name: str,
    domain_name: str,
    password: str,
    project_id: str | None,
    project_name: str | None,
    server_key: ServerKey,
    lifetime: timedelta,
    now: datetime,
) -> IssuedToken:
    """Check a password and issue a project-scoped token (Keystone v3 password method)."""
    row = session.execute(
        select(User, Account)
        .join(Account, Account.id == User.domain_id)
        .where(Account.name == domain_name, User.name == user_name)
    ).first()
    # The same answer for an unknown user and a wrong password: the caller learns nothing about which.
    if row is None or not verify_password(password, row.User.password_hash) or not row.User.enabled:
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


# Every authenticated request runs these: built once, as column selects that read plain rows (no ORM entities;
# docs/benchmarks.md measures where an authenticated request's time goes).
_TOKEN_OWNER = (
    select(
        User.id.label("user_id"),
        User.name.label("user_name"),
        User.enabled,
        User.credential_version,
        Account.id.label("domain_id"),
        Account.name.label("domain_name"),
        Project.id.label("project_id"),
        Project.name.label("project_name"),
    )
    .join(Account, Account.id == User.domain_id)
    .join(Project, Project.domain_id == Account.id)
    .where(User.id == bindparam("user_id"), Project.id == bindparam("project_id"))
)


def authenticate_token(session: Session, *, token: str, server_key: ServerKey, now: datetime) -> Caller:
    """The identity a token proves, if it is intact, unexpired, and its user unchanged since issue."""
    try:
        # Fernet's base64 decoding ignores a final character's unused bits, so a token with its last character
        # changed can still decrypt: accept only the exact encoding the server issued.
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(token.encode("ascii"))).decode("ascii") != token:
            raise ValueError("token is not canonically encoded")
        claims = json.loads(server_key.decrypt(TOKEN_PURPOSE, token))
        user_id, project_id, version, expires = claims["u"], claims["p"], claims["v"], claims["exp"]
    except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise AuthenticationError("token cannot be decrypted") from exc
    if now.timestamp() >= float(expires):
        raise AuthenticationError("token expired")
    row = session.execute(_TOKEN_OWNER, {"user_id": user_id, "project_id": project_id}).first()
    if row is None:
        raise AuthenticationError("token's user or project no longer exists")
    if not row.enabled or row.credential_version != version:
        raise AuthenticationError("token's user was disabled or changed password")
    return Caller(row.user_id, row.user_name, row.domain_id, row.domain_name, row.project_id, row.project_name, "token")
