"""IAM tokens on the BCS API: GET /v2/{project_id}/operation/record with X-Auth-Token."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from openbcs.iam import tokens
from openbcs.iam.failures import AuthenticationError
from openbcs.iam.models import Account
from openbcs.iam.passwords import verify_password
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.rows import Rows
from tests.iam.helpers import KEYSTONE_WRONG_PASSWORD, assert_empty_records, held_token, records_path, user_of
from tests.support.accounts import TestAccount, token_body
from tests.support.errors import assert_forbidden, assert_unauthorized, request_id_of
from tests.support.snapshots import row_count

BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _changed(token: str, position: int) -> str:
    """The token with the character at ``position`` replaced by another base64url character."""
    original = token[position]
    replacement = "A" if original != "A" else "B"
    return token[:position] + replacement + token[position + 1 :]


def _issue(
    db: Database,
    account: TestAccount,
    server_key: ServerKey,
    *,
    now: datetime,
    lifetime: timedelta = timedelta(hours=24),
) -> str:
    issued = db.run_read(
        tokens.issue_token,
        user_id=user_of(db, account.name).id,
        project_id=None,
        project_name="cn-north-4",
        server_key=server_key,
        lifetime=lifetime,
        now=now,
    )
    assert (issued.caller.project_id, issued.caller.method) == (account.project_id, "token")
    return issued.token


def test_token_lists_the_projects_records(
    client: TestClient, make_account: Callable[..., TestAccount], token_for: Callable[[TestAccount], str]
) -> None:
    account = make_account()
    response = client.get(records_path(account.project_id), headers={"X-Auth-Token": token_for(account)})
    assert_empty_records(response)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_token_with_one_character_changed_is_refused(
    client: TestClient, make_account: Callable[..., TestAccount], token_for: Callable[[TestAccount], str], where: str
) -> None:
    account = make_account()
    token = token_for(account)
    significant = len(token.rstrip("="))
    position = {"first": 0, "middle": significant // 2, "last": significant - 1}[where]
    tampered = _changed(token, position)
    assert tampered != token
    assert len(tampered) == len(token)
    assert_unauthorized(client.get(records_path(account.project_id), headers={"X-Auth-Token": tampered}))
    # The untouched token still works: the refusal is about the change.
    assert_empty_records(client.get(records_path(account.project_id), headers={"X-Auth-Token": token}))


def test_no_single_character_change_of_a_token_is_accepted(
    make_account: Callable[..., TestAccount], db: Database, server_key: ServerKey
) -> None:
    account = make_account()
    # Issued at a whole second, the claims encrypt to a length whose base64 form ends in padding, so the last
    # character carries unused bits: the case a lenient decoder would accept after a change.
    now = datetime(2025, 1, 1, tzinfo=UTC)
    token = _issue(db, account, server_key, now=now)
    assert token.endswith("=")
    later = now + timedelta(minutes=1)
    caller = db.run_read_rows(tokens.authenticate_token, token=token, server_key=server_key, now=later)
    assert (caller.project_id, caller.domain_id, caller.method) == (account.project_id, account.domain_id, "token")

    last = len(token.rstrip("=")) - 1
    decoded = base64.urlsafe_b64decode(token)
    same_bytes = [
        variant
        for variant in (token[:last] + c + token[last + 1 :] for c in BASE64URL if c != token[last])
        if base64.urlsafe_b64decode(variant) == decoded
    ]
    assert same_bytes, "expected variants that decode to the same bytes"

    variants = {token[:i] + c + token[i + 1 :] for i in range(len(token)) for c in BASE64URL + "=" if c != token[i]}
    variants |= {token + "=", token + "A", token[:-1], " " + token, token + "\n", token.replace("-", "+", 1)}
    variants.discard(token)

    def accepted_variants(rows: Rows) -> list[str]:
        accepted = []
        for variant in sorted(variants):
            try:
                tokens.authenticate_token(rows, token=variant, server_key=server_key, now=later)
            except AuthenticationError:
                continue
            accepted.append(variant)
        return accepted

    assert db.run_read_rows(accepted_variants) == []


def test_token_after_password_change_is_refused(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database, cli: Callable[..., Result]
) -> None:
    account = make_account(password="first-password-1")
    held = held_token(client, db, account)
    before = user_of(db, account.name)

    result = cli("user", "passwd", account.name, "--password", "second-password-2")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "password changed"
    assert "second-password-2" not in result.output

    after = user_of(db, account.name)
    assert after.credential_version == before.credential_version + 1
    assert after.password_hash != before.password_hash
    assert verify_password("second-password-2", after.password_hash)
    assert not verify_password("first-password-1", after.password_hash)

    assert_unauthorized(held.records(client))
    old = client.post("/v3/auth/tokens", content=token_body(account.name, "first-password-1", account.name))
    assert old.status_code == 401
    assert old.json() == KEYSTONE_WRONG_PASSWORD
    new = client.post("/v3/auth/tokens", content=token_body(account.name, "second-password-2", account.name))
    assert new.status_code == 201, new.text
    path = records_path(account.project_id)
    assert_empty_records(client.get(path, headers={"X-Auth-Token": new.headers["X-Subject-Token"]}))


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (timedelta(hours=25), False),
        (timedelta(hours=24, seconds=5), False),
        (timedelta(hours=23, minutes=59), True),
    ],
)
def test_token_expires_after_its_lifetime(
    client: TestClient,
    make_account: Callable[..., TestAccount],
    db: Database,
    server_key: ServerKey,
    age: timedelta,
    accepted: bool,
) -> None:
    account = make_account()
    token = _issue(db, account, server_key, now=datetime.now(UTC) - age)
    response = client.get(records_path(account.project_id), headers={"X-Auth-Token": token})
    if accepted:
        assert_empty_records(response)
    else:
        assert_unauthorized(response)


def test_short_token_lifetime(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database, server_key: ServerKey
) -> None:
    account = make_account()
    issued_at = datetime.now(UTC) - timedelta(seconds=90)
    expired = _issue(db, account, server_key, now=issued_at, lifetime=timedelta(seconds=60))
    valid = _issue(db, account, server_key, now=issued_at, lifetime=timedelta(seconds=3600))
    assert_unauthorized(client.get(records_path(account.project_id), headers={"X-Auth-Token": expired}))
    assert_empty_records(client.get(records_path(account.project_id), headers={"X-Auth-Token": valid}))


@pytest.mark.parametrize("target", ["other-account", "unknown-project"])
def test_token_of_one_project_on_another_projects_path(
    client: TestClient, make_account: Callable[..., TestAccount], token_for: Callable[[TestAccount], str], target: str
) -> None:
    account, other = make_account(), make_account()
    project = other.project_id if target == "other-account" else "0" * 32
    token = token_for(account)
    assert_forbidden(client.get(records_path(project), headers={"X-Auth-Token": token}), project)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Auth-Token": ""},
        {"X-Auth-Token": "not-a-token"},
        {"X-Auth-Token": "gAAAAA" + "A" * 200},
        {"X-Auth-Token": "é".encode() * 10},
        {"Authorization": "Bearer abc"},
    ],
)
def test_missing_or_garbage_credentials(
    client: TestClient, make_account: Callable[..., TestAccount], headers: dict[str, str | bytes]
) -> None:
    account = make_account()
    assert_unauthorized(client.get(records_path(account.project_id), headers=headers))


def _delete_account(session: Session, *, domain_id: str) -> None:
    session.execute(delete(Account).where(Account.id == domain_id))


def test_a_token_of_a_deleted_account_is_refused(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    held = held_token(client, db, account)
    db.run_write(_delete_account, domain_id=account.domain_id)
    assert row_count(db, Account, Account.id == account.domain_id) == 0
    assert_unauthorized(held.records(client))


def test_every_response_carries_a_request_id(
    client: TestClient, make_account: Callable[..., TestAccount], token_for: Callable[[TestAccount], str]
) -> None:
    account, other = make_account(), make_account()
    token = token_for(account)
    responses = [
        client.post("/v3/auth/tokens", content=token_body(account.name, account.password, account.name)),
        client.post("/v3/auth/tokens", content=token_body(account.name, "wrong-password", account.name)),
        client.post("/v3/auth/tokens", content=b"{"),
        client.get(records_path(account.project_id), headers={"X-Auth-Token": token}),
        client.get(records_path(account.project_id)),
        client.get(records_path(other.project_id), headers={"X-Auth-Token": token}),
        client.get(records_path(account.project_id) + "?operation_status=bogus", headers={"X-Auth-Token": token}),
        client.get("/v2/no/such/route", headers={"X-Auth-Token": token}),
        client.get("/v3/projects"),
    ]
    assert [r.status_code for r in responses] == [201, 401, 400, 200, 401, 403, 400, 404, 401]
    ids = [request_id_of(r) for r in responses]
    assert len(set(ids)) == len(ids)
