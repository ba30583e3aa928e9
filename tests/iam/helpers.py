"""Helpers of the IAM suite: expected error bodies, request ids, signed requests, database look-ups, the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openbcs.cli import app
from openbcs.kernel.db import Database
from openbcs.iam.models import AccessKey, Account, Project, User
from tests.support import TestAccount, sdk_signed_headers

T = TypeVar("T")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
ISO_MICROS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
UNAUTHORIZED = {"error_code": "BCS.4010401", "error_msg": "Incorrect token or token resolution failed"}
KEYSTONE_WRONG_PASSWORD = {
    "error": {"code": 401, "title": "Unauthorized", "message": "The username or password is wrong."}
}


def records_path(project_id: str) -> str:
    return f"/v2/{project_id}/operation/record"


def request_id_of(response: httpx.Response) -> str:
    """The response's ``X-Request-Id`` (asserted to be present and well formed)."""
    request_id = response.headers.get("X-Request-Id", "")
    assert REQUEST_ID.match(request_id), f"no X-Request-Id on {response.status_code}: {response.headers}"
    return request_id


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED
    request_id_of(response)


def assert_forbidden(response: httpx.Response, project_id: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"error_code": "BCS.4030403", "error_msg": f"forbidden to project [{project_id}]"}
    request_id_of(response)


def assert_empty_records(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 0, "operation_records": []}
    request_id_of(response)


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


def read_rows(db: Database, fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in a read transaction and hand back its rows detached, their loaded values kept."""

    def run(session: Session) -> T:
        result = fn(session)
        session.expunge_all()  # before the read transaction's rollback would expire them
        return result

    return db.run_read(run)


def user_of(db: Database, account_name: str) -> User:
    """The account's own user row, as stored now."""
    user = read_rows(
        db,
        lambda s: s.scalar(
            select(User)
            .join(Account, Account.id == User.domain_id)
            .where(Account.name == account_name, User.name == account_name)
        ),
    )
    assert user is not None, f"no user for account {account_name}"
    return user


def access_key_row(db: Database, access_key: str) -> AccessKey | None:
    return read_rows(db, lambda s: s.get(AccessKey, access_key))


def access_keys_of(db: Database, user_id: str) -> list[AccessKey]:
    return read_rows(db, lambda s: list(s.scalars(select(AccessKey).where(AccessKey.user_id == user_id))))


def accounts(db: Database) -> list[Account]:
    return read_rows(db, lambda s: list(s.scalars(select(Account).order_by(Account.name))))


def projects_of(db: Database, domain_id: str) -> list[Project]:
    return read_rows(db, lambda s: list(s.scalars(select(Project).where(Project.domain_id == domain_id))))


def row_counts(db: Database) -> dict[str, int]:
    """How many accounts, projects, users and access keys are stored."""

    def count(session: Any) -> dict[str, int]:
        return {
            model.__tablename__: len(list(session.scalars(select(model))))
            for model in (Account, Project, User, AccessKey)
        }

    return db.run_read(count)


def run_cli(database_url: str, data_dir: Path, *args: str) -> Result:
    """``openbcs ARGS --database-url URL --data-dir DIR`` in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(app, [*args, "--database-url", database_url, "--data-dir", str(data_dir)])
