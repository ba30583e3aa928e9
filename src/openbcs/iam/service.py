"""IAM rules: accounts with their project and own user, access keys, passwords, and tenant lookups.

Tokens are issued and checked in :mod:`openbcs.iam.tokens`, signatures in :mod:`openbcs.iam.signatures`; the HTTP
authenticator that uses both is :mod:`openbcs.iam.authentication`.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.iam.passwords import hash_password
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey

ACCOUNT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{3,63}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
ACCESS_KEY_PURPOSE = "access-key"  # the label of the key that seals secret keys at rest
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
            secret_key_encrypted=server_key.encrypt(ACCESS_KEY_PURPOSE, secret_key.encode()),
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


def access_key_secret(session: Session, *, account_name: str, access_key: str, server_key: ServerKey) -> str | None:
    """The SK of ``access_key`` if it belongs to the account's own user, else None (seed files, never printed)."""
    user = _own_user(session, _account_by_name(session, account_name))
    key = session.get(AccessKey, access_key)
    if key is None or key.user_id != user.id:
        return None
    return server_key.decrypt(ACCESS_KEY_PURPOSE, key.secret_key_encrypted).decode()


def add_access_key(
    session: Session, *, account_name: str, access_key: str, secret_key: str, server_key: ServerKey
) -> None:
    """Give the account's own user this exact AK/SK pair (reproducible CI credentials from a seed file)."""
    if not re.fullmatch(r"[A-Z0-9]{20}", access_key) or not re.fullmatch(r"[A-Za-z0-9]{40}", secret_key):
        raise IAMRuleError("an access key is 20 upper-case letters or digits, its secret key 40 letters or digits")
    user = _own_user(session, _account_by_name(session, account_name))
    if session.get(AccessKey, access_key) is not None:
        raise IAMRuleError(f"access key {access_key} exists already")
    session.add(
        AccessKey(
            access_key=access_key,
            user_id=user.id,
            secret_key_encrypted=server_key.encrypt(ACCESS_KEY_PURPOSE, secret_key.encode()),
            created_at=now_ns(),
        )
    )


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


def projects_named(session: Session, *, domain_id: str, name: str | None) -> list[Project]:
    """The caller's projects, optionally only the one with ``name`` (the SDK's project-id discovery)."""
    query = select(Project).where(Project.domain_id == domain_id).order_by(Project.name)
    if name is not None:
        query = query.where(Project.name == name)
    return list(session.scalars(query))
