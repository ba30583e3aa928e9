"""Helpers of the IAM suite: Keystone's answers, the probe endpoint (ListOpRecord), requests signed by the official
SDK's Signer, the IAM rows as stored, and the operator CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openbcs.cli import app
from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount, issue_token
from tests.support.errors import request_id_of
from tests.support.servers import sdk_signed_headers
from tests.support.snapshots import row_count

T = TypeVar("T")
ISO_MICROS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
KEYSTONE_WRONG_PASSWORD = {
    "error": {"code": 401, "title": "Unauthorized", "message": "The username or password is wrong."}
}


def records_path(project_id: str) -> str:
    """ListOpRecord of ``project_id``: the BCS call these tests authenticate against."""
    return f"/v2/{project_id}/operation/record"


def assert_empty_records(response: httpx.Response) -> None:
    """The call was let in: ListOpRecord answered 200 with the (empty) records of a fresh account."""
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 0, "operation_records": []}
    request_id_of(response)


@dataclass(frozen=True)
class HeldToken:
    """A token of ``account``, shown to work when it was issued, and its user's credential version then."""

    account: TestAccount
    token: str
    credential_version: int

    def records(self, http: httpx.Client | Any) -> httpx.Response:
        """ListOpRecord of the account's project, sent with this token."""
        return http.get(records_path(self.account.project_id), headers={"X-Auth-Token": self.token})


def held_token(http: httpx.Client | Any, db: Database, account: TestAccount) -> HeldToken:
    """A fresh token of ``account`` from ``POST /v3/auth/tokens``, asserted to let ListOpRecord in."""
    held = HeldToken(account, issue_token(http, account), user_of(db, account.name).credential_version)
    assert_empty_records(held.records(http))
    return held


def signed_request(
    base_url: str,
    method: str,
    path_and_query: str,
    *,
    account: TestAccount | None = None,
    ak: str | None = None,
    sk: str | None = None,
    project_id: str | None = None,
    body: bytes = b"",
    sdk_date: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> tuple[str, dict[str, str]]:
    """The URL and the headers the official SDK's Signer produces for this request."""
    url = base_url.rstrip("/") + path_and_query
    headers = sdk_signed_headers(
        method=method,
        url=url,
        ak=ak or (account.ak if account else ""),
        sk=sk or (account.sk if account else ""),
        project_id=project_id if project_id is not None else (account.project_id if account else None),
        body=body,
        content_type=content_type,
        sdk_date=sdk_date,
        extra_headers=extra_headers,
    )
    return url, headers


def _detached(session: Session, fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    result = fn(session, **kwargs)
    session.expunge_all()  # the rows keep their loaded values once the session is gone
    return result


def read_rows(db: Database, fn: Callable[..., T], **kwargs: Any) -> T:
    """``fn(session, **kwargs)`` in a read transaction; the rows it returns come back detached."""
    return db.run_read(_detached, fn, kwargs)


def _own_user(session: Session, *, account_name: str) -> User | None:
    return session.scalar(
        select(User)
        .join(Account, Account.id == User.domain_id)
        .where(Account.name == account_name)
        .where(User.name == account_name)
    )


def user_of(db: Database, account_name: str) -> User:
    """The account's own user row, as stored now."""
    user = read_rows(db, _own_user, account_name=account_name)
    assert user is not None, f"no user for account {account_name}"
    return user


def _access_key(session: Session, *, access_key: str) -> AccessKey | None:
    return session.get(AccessKey, access_key)


def access_key_row(db: Database, access_key: str) -> AccessKey | None:
    return read_rows(db, _access_key, access_key=access_key)


def _keys_of(session: Session, *, user_id: str) -> list[AccessKey]:
    return list(session.scalars(select(AccessKey).where(AccessKey.user_id == user_id)))


def access_keys_of(db: Database, user_id: str) -> list[AccessKey]:
    return read_rows(db, _keys_of, user_id=user_id)


def _accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.name)))


def accounts(db: Database) -> list[Account]:
    return read_rows(db, _accounts)


def _projects_of(session: Session, *, domain_id: str) -> list[Project]:
    return list(session.scalars(select(Project).where(Project.domain_id == domain_id)))


def projects_of(db: Database, domain_id: str) -> list[Project]:
    return read_rows(db, _projects_of, domain_id=domain_id)


def row_counts(db: Database) -> dict[str, int]:
    """How many accounts, projects, users and access keys are stored."""
    return {model.__tablename__: row_count(db, model) for model in (Account, Project, User, AccessKey)}


def run_cli(database_url: str, data_dir: Path, *args: str) -> Result:
    """``openbcs ARGS --database-url URL --data-dir DIR`` in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(app, [*args, "--database-url", database_url, "--data-dir", str(data_dir)])
