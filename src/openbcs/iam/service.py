"""IAM rules: accounts, access keys, passwords, tokens, and who a request comes from.

Identity is decided here and nowhere else: a request is the caller it proves to be by a token or by a signature,
and a caller may act only in its own project.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.db import now_ns
from openbcs.iam import signing
from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.iam.passwords import hash_password, verify_password
from openbcs.keys import ServerKey

ACCOUNT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{3,63}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_TOKEN_PURPOSE = "token"  # noqa: S105 - a key-derivation label, not a secret
_ACCESS_KEY_PURPOSE = "access-key"
_AK_ALPHABET = string.ascii_uppercase + string.digits
_SK_ALPHABET = string.ascii_letters + string.digits


class IAMRuleError(ValueError):
    """An operator request (CLI) that breaks an IAM rule; the message says which."""


@dataclass(frozen=True)
class NewAccount:
    """What ``openbcs account create`` prints: the ids, and the key pair shown this once."""

    domain_id: str
    domain_name: str
    project_id: str
    project_name: str
    user_id: str
    user_name: str
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class AccountSummary:
    """An account without secrets."""

    domain_id: str
    domain_name: str
    project_id: str | None
    project_name: str | None
    user_id: str
    access_keys: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    """Who a request comes from, as proven by its token or signature."""

    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project_id: str
    project_name: str
    method: str  # "token" or "aksk"


@dataclass(frozen=True)
class IssuedToken:
    """A new token and what its body describes."""

    token: str
    identity: Identity
    issued_at: datetime
    expires_at: datetime
    methods: tuple[str, ...]


class AuthenticationError(Exception):
    """The request proves no identity. The reason is for logs only; clients get ``BCS.4010401``."""


def _hex_id() -> str:
    return uuid.uuid4().hex


def _new_key_pair() -> tuple[str, str]:
    access_key = "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))
    secret_key = "".join(secrets.choice(_SK_ALPHABET) for _ in range(40))
    return access_key, secret_key


def _check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise IAMRuleError(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def _account_by_name(session: Session, name: str) -> Account:
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        raise IAMRuleError(f"no account named {name!r}")
    return account


def _own_user(session: Session, account: Account) -> User:
    user = session.scalar(select(User).where(User.domain_id == account.id, User.name == account.name))
    if user is None:  # pragma: no cover - every account is created with its own user
        raise IAMRuleError(f"account {account.name!r} has no user of its own")
    return user


def _store_key(session: Session, *, user_id: str, server_key: ServerKey) -> tuple[str, str]:
    access_key, secret_key = _new_key_pair()
    session.add(
        AccessKey(
            access_key=access_key,
            user_id=user_id,
            secret_key_encrypted=server_key.encrypt(_ACCESS_KEY_PURPOSE, secret_key.encode()),
            created_at=now_ns(),
        )
    )
    return access_key, secret_key


def create_account(session: Session, *, name: str, password: str, region: str, server_key: ServerKey) -> NewAccount:
    """Create an account (domain), its project in ``region``, its own user and a first access key."""
    if not ACCOUNT_NAME.fullmatch(name):
        raise IAMRuleError("an account name has 4 to 64 letters, digits, '_' or '-', starting with a letter")
    _check_password(password)
    if session.scalar(select(Account.id).where(Account.name == name)) is not None:
        raise IAMRuleError(f"an account named {name!r} exists already")
    account = Account(id=_hex_id(), name=name, created_at=now_ns())
    project = Project(id=_hex_id(), domain_id=account.id, name=region)
    user = User(id=_hex_id(), domain_id=account.id, name=name, password_hash=hash_password(password))
    session.add_all([account, project, user])
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name
        raise IAMRuleError(f"an account named {name!r} exists already") from exc
    access_key, secret_key = _store_key(session, user_id=user.id, server_key=server_key)
    return NewAccount(account.id, name, project.id, region, user.id, name, access_key, secret_key)


def list_accounts(session: Session, *, region: str) -> list[AccountSummary]:
    """Every account with its project in ``region`` and its access key ids (never the secrets)."""
    summaries = []
    for account in session.scalars(select(Account).order_by(Account.name)):
        user = _own_user(session, account)
        project = session.scalar(select(Project).where(Project.domain_id == account.id, Project.name == region))
        keys = tuple(session.scalars(select(AccessKey.access_key).where(AccessKey.user_id == user.id)))
        summaries.append(
            AccountSummary(
                account.id,
                account.name,
                project.id if project else None,
                project.name if project else None,
                user.id,
                keys,
            )
        )
    return summaries


@dataclass(frozen=True)
class Tenant:
    """Another account as a tenant of the same region: what an inviter needs to know of an invitee."""

    domain_id: str
    name: str
    project_id: str | None


def tenant_named(session: Session, *, name: str, region: str) -> Tenant | None:
    """The account named ``name`` with its project in ``region``, or None."""
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        return None
    project_id = session.scalar(select(Project.id).where(Project.domain_id == account.id, Project.name == region))
    return Tenant(account.id, account.name, project_id)


def account_id(session: Session, *, name: str) -> str:
    """The domain id of the account named ``name`` (operators' CLI)."""
    return _account_by_name(session, name).id


def create_access_key(session: Session, *, account_name: str, server_key: ServerKey) -> tuple[str, str]:
    """A new AK/SK pair for the account's own user; the SK is returned this once."""
    account = _account_by_name(session, account_name)
    return _store_key(session, user_id=_own_user(session, account).id, server_key=server_key)


def delete_access_key(session: Session, *, access_key: str) -> None:
    """Delete an access key: requests signed with it fail from now on, and (as IAM does when a user's access keys
    change) the owner's tokens stop working too."""
    key = session.get(AccessKey, access_key)
    if key is None:
        raise IAMRuleError(f"no access key {access_key!r}")
    session.get_one(User, key.user_id).credential_version += 1
    session.delete(key)


def change_password(session: Session, *, account_name: str, user_name: str | None, password: str) -> None:
    """Set a user's password; every token issued before stops working."""
    _check_password(password)
    account = _account_by_name(session, account_name)
    user = session.scalar(select(User).where(User.domain_id == account.id, User.name == (user_name or account.name)))
    if user is None:
        raise IAMRuleError(f"no user {user_name!r} in account {account_name!r}")
    user.password_hash = hash_password(password)
    user.credential_version += 1


def set_user_enabled(session: Session, *, account_name: str, user_name: str | None, enabled: bool) -> None:
    """Enable or disable a user; a disabled user's tokens stop working."""
    account = _account_by_name(session, account_name)
    user = session.scalar(select(User).where(User.domain_id == account.id, User.name == (user_name or account.name)))
    if user is None:
        raise IAMRuleError(f"no user {user_name!r} in account {account_name!r}")
    if user.enabled and not enabled:
        user.credential_version += 1  # revoked for good: enabling the user again does not revive old tokens
    user.enabled = enabled


def provision_account(session: Session, *, name: str, password: str, region: str, server_key: ServerKey) -> NewAccount:
    """Create the account, or give an existing one this password and a fresh access key (``serve --demo``)."""
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        return create_account(session, name=name, password=password, region=region, server_key=server_key)
    change_password(session, account_name=name, user_name=None, password=password)
    user = _own_user(session, account)
    project = session.scalar(select(Project).where(Project.domain_id == account.id, Project.name == region))
    if project is None:
        project = Project(id=_hex_id(), domain_id=account.id, name=region)
        session.add(project)
    access_key, secret_key = _store_key(session, user_id=user.id, server_key=server_key)
    return NewAccount(account.id, name, project.id, region, user.id, name, access_key, secret_key)


# --- tokens -----------------------------------------------------------------------------------------------------


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
    token = server_key.encrypt(_TOKEN_PURPOSE, json.dumps(claims, separators=(",", ":")).encode())
    identity = Identity(user.id, user.name, account.id, account.name, project.id, project.name, "token")
    return IssuedToken(token, identity, now, expires, ("password",))


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
_KEY_OWNER = (
    select(
        AccessKey.secret_key_encrypted,
        User.id.label("user_id"),
        User.name.label("user_name"),
        User.enabled,
        Account.id.label("domain_id"),
        Account.name.label("domain_name"),
    )
    .join(User, User.id == AccessKey.user_id)
    .join(Account, Account.id == User.domain_id)
    .where(AccessKey.access_key == bindparam("access_key"))
)
_PROJECT_OF = select(Project.name).where(
    Project.id == bindparam("project_id"), Project.domain_id == bindparam("domain_id")
)


def authenticate_token(session: Session, *, token: str, server_key: ServerKey, now: datetime) -> Identity:
    """The identity a token proves, if it is intact, unexpired, and its user unchanged since issue."""
    try:
        # Fernet's base64 decoding ignores a final character's unused bits, so a token with its last character
        # changed can still decrypt: accept only the exact encoding the server issued.
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(token.encode("ascii"))).decode("ascii") != token:
            raise ValueError("token is not canonically encoded")
        claims = json.loads(server_key.decrypt(_TOKEN_PURPOSE, token))
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
    return Identity(
        row.user_id, row.user_name, row.domain_id, row.domain_name, row.project_id, row.project_name, "token"
    )


# --- signatures -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """The parts of a received request that its signature covers."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def authenticate_signature(
    session: Session,
    *,
    request: SignedRequest,
    project_id: str,
    server_key: ServerKey,
    skew: timedelta,
    now: datetime,
) -> Identity:
    """The identity an ``SDK-HMAC-SHA256`` signature proves, bound to the project the request names.

    Raises :class:`AuthenticationError` when the signature proves nothing, and ``BCS.4030403`` when it proves an
    identity that does not own ``project_id`` (or whose ``X-Project-Id`` names another project).
    """
    try:
        header = signing.parse_authorization(request.headers.get("authorization", ""))
        if "x-sdk-date" not in header.signed_headers or "host" not in header.signed_headers:
            raise AuthenticationError("x-sdk-date and host must be signed")
        sdk_date = request.headers.get("x-sdk-date", "")
        signed_at = signing.parse_sdk_date(sdk_date)
    except signing.SignatureFormatError as exc:
        raise AuthenticationError(str(exc)) from exc
    if "+" in request.query_string:
        # The canonical query reads '+' as a literal plus but the query parser reads it as a space: refuse the
        # ambiguity rather than act on a value the signature did not cover. The SDK always sends %2B.
        raise AuthenticationError("a signed query must encode '+' as %2B")
    if abs(now - signed_at) > skew:
        raise AuthenticationError("X-Sdk-Date is outside the allowed clock skew")
    row = session.execute(_KEY_OWNER, {"access_key": header.access_key}).first()
    if row is None:
        raise AuthenticationError("unknown access key")
    secret_key = server_key.decrypt(_ACCESS_KEY_PURPOSE, row.secret_key_encrypted).decode()
    canonical = signing.canonical_request(
        method=request.method,
        raw_path=request.raw_path,
        query_string=request.query_string,
        headers=request.headers,
        signed_headers=header.signed_headers,
        body=request.body,
    )
    expected = signing.sign(secret_key, signing.string_to_sign(sdk_date, canonical))
    if not signing.signatures_match(expected, header.signature):
        raise AuthenticationError("signature mismatch")
    if not row.enabled:
        raise AuthenticationError("user disabled")
    claimed = request.headers.get("x-project-id")
    project_name = session.execute(_PROJECT_OF, {"project_id": project_id, "domain_id": row.domain_id}).scalar()
    if project_name is None or (claimed is not None and claimed != project_id):
        raise forbidden_project(project_id)
    return Identity(row.user_id, row.user_name, row.domain_id, row.domain_name, project_id, project_name, "aksk")


def forbidden_project(project_id: str) -> errors.BCSError:
    """The 403 for an identity acting outside its own project."""
    return errors.BCSError(errors.FORBIDDEN, f"forbidden to project [{project_id}]")


def authorize_project(identity: Identity, project_id: str) -> None:
    """A token identity may act only in the project its token is scoped to."""
    if identity.project_id != project_id:
        raise forbidden_project(project_id)


def projects_named(session: Session, *, domain_id: str, name: str | None) -> list[Project]:
    """The caller's projects, optionally only the one with ``name`` (the SDK's project-id discovery)."""
    query = select(Project).where(Project.domain_id == domain_id).order_by(Project.name)
    if name is not None:
        query = query.where(Project.name == name)
    return list(session.scalars(query))


def authenticate_signature_any_project(
    session: Session, *, request: SignedRequest, server_key: ServerKey, skew: timedelta, now: datetime
) -> Identity:
    """Like :func:`authenticate_signature` for IAM calls that name no project: binds to the key's own account."""
    try:
        header = signing.parse_authorization(request.headers.get("authorization", ""))
    except signing.SignatureFormatError as exc:
        raise AuthenticationError(str(exc)) from exc
    row = session.execute(
        select(Project.id)
        .join(User, User.domain_id == Project.domain_id)
        .join(AccessKey, AccessKey.user_id == User.id)
        .where(AccessKey.access_key == header.access_key)
        .order_by(Project.name)
    ).first()
    if row is None:
        raise AuthenticationError("unknown access key")
    identity = authenticate_signature(
        session, request=request, project_id=row[0], server_key=server_key, skew=skew, now=now
    )
    return identity


def utcnow() -> datetime:
    """Aware UTC now; one place so tests can reason about time."""
    return datetime.now(UTC)
