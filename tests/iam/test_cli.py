"""The operator CLI: accounts, access keys and passwords, run in-process against the test database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from click.testing import Result
from fastapi.testclient import TestClient

from openbcs.iam.passwords import verify_password
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from tests.iam.helpers import (
    KEYSTONE_WRONG_PASSWORD,
    access_key_row,
    access_keys_of,
    accounts,
    assert_empty_records,
    projects_of,
    records_path,
    row_counts,
    signed_request,
    user_of,
)
from tests.support.accounts import TestAccount, token_body
from tests.support.errors import assert_unauthorized

NEW_ACCOUNT_KEYS = {
    "domain_id",
    "domain_name",
    "project_id",
    "project_name",
    "user_id",
    "user_name",
    "access_key",
    "secret_key",
}
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
EMPTY = {"iam_accounts": 0, "iam_projects": 0, "iam_users": 0, "iam_access_keys": 0}


def _create(cli: Callable[..., Result], name: str, password: str) -> dict[str, str]:
    result = cli("account", "create", name, "--password", password, "--json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    created = json.loads(lines[0])
    assert isinstance(created, dict)
    return created


def _signed_get(client: TestClient, project_id: str, ak: str, sk: str) -> object:
    url, headers = signed_request(
        "http://testserver", "GET", records_path(project_id), ak=ak, sk=sk, project_id=project_id
    )
    return client.get(url, headers=headers)


def test_account_create(cli: Callable[..., Result], db: Database, server_key: ServerKey, client: TestClient) -> None:
    created = _create(cli, "acme-corp", "s3cret-Passw0rd")
    assert set(created) == NEW_ACCOUNT_KEYS
    assert created["domain_name"] == created["user_name"] == "acme-corp"
    assert created["project_name"] == "cn-north-4"
    for key in ("domain_id", "project_id", "user_id"):
        assert HEX_ID.match(created[key]), created
    assert re.fullmatch(r"[A-Z0-9]{20}", created["access_key"])
    assert re.fullmatch(r"[A-Za-z0-9]{40}", created["secret_key"])

    stored_accounts = accounts(db)
    assert [(a.id, a.name) for a in stored_accounts] == [(created["domain_id"], "acme-corp")]
    assert [(p.id, p.name) for p in projects_of(db, created["domain_id"])] == [(created["project_id"], "cn-north-4")]
    user = user_of(db, "acme-corp")
    assert user.id == created["user_id"]
    assert user.enabled is True
    assert user.credential_version == 1
    assert user.password_hash.startswith("scrypt$")
    assert "s3cret-Passw0rd" not in user.password_hash
    assert verify_password("s3cret-Passw0rd", user.password_hash)

    keys = access_keys_of(db, user.id)
    assert [k.access_key for k in keys] == [created["access_key"]]
    stored_secret = keys[0].secret_key_encrypted
    assert created["secret_key"] not in stored_secret
    assert server_key.decrypt("access-key", stored_secret).decode() == created["secret_key"]
    assert row_counts(db) == {"iam_accounts": 1, "iam_projects": 1, "iam_users": 1, "iam_access_keys": 1}

    # What was printed works: the password gets a token, the key pair signs requests.
    token = client.post("/v3/auth/tokens", content=token_body("acme-corp", "s3cret-Passw0rd", "acme-corp"))
    assert token.status_code == 201, token.text
    assert token.json()["token"]["project"]["id"] == created["project_id"]
    assert_empty_records(_signed_get(client, created["project_id"], created["access_key"], created["secret_key"]))


def test_account_create_text_output(cli: Callable[..., Result], db: Database) -> None:
    result = cli("account", "create", "plain-text", "--password", "s3cret-Passw0rd")
    assert result.exit_code == 0, result.output
    printed = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert set(printed) == NEW_ACCOUNT_KEYS
    assert printed["domain_id"] == accounts(db)[0].id


def test_account_create_duplicate_name(cli: Callable[..., Result], db: Database) -> None:
    first = _create(cli, "acme-corp", "s3cret-Passw0rd")
    before_user = user_of(db, "acme-corp")
    before = row_counts(db)

    result = cli("account", "create", "acme-corp", "--password", "another-Passw0rd", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: an account named 'acme-corp' exists already" in result.stderr
    assert "another-Passw0rd" not in result.output

    assert row_counts(db) == before
    after_user = user_of(db, "acme-corp")
    assert after_user.password_hash == before_user.password_hash
    assert verify_password("s3cret-Passw0rd", after_user.password_hash)
    assert [k.access_key for k in access_keys_of(db, first["user_id"])] == [first["access_key"]]


@pytest.mark.parametrize("name", ["abc", "1acme", "_acme", "acme corp", "acme!", "a" * 65, "", "acmé-corp"])
def test_account_create_bad_name(cli: Callable[..., Result], db: Database, name: str) -> None:
    result = cli("account", "create", name, "--password", "s3cret-Passw0rd", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: an account name has 4 to 64 letters" in result.stderr
    assert row_counts(db) == EMPTY


@pytest.mark.parametrize("password", ["short", "x" * 129])
def test_account_create_bad_password(cli: Callable[..., Result], db: Database, password: str) -> None:
    result = cli("account", "create", "acme-corp", "--password", password, "--json")
    assert result.exit_code == 1
    assert "error: a password has 8 to 128 characters" in result.stderr
    assert password not in result.output
    assert row_counts(db) == EMPTY


def test_account_list_shows_no_secrets(cli: Callable[..., Result], db: Database) -> None:
    first = _create(cli, "acme-corp", "s3cret-Passw0rd-1")
    second = _create(cli, "beta-corp", "s3cret-Passw0rd-2")
    extra = cli("key", "create", "beta-corp", "--json")
    assert extra.exit_code == 0, extra.output
    extra_key = json.loads(extra.stdout)

    result = cli("account", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    for entry in listed:
        entry["access_keys"].sort()
    assert listed == [
        {
            "domain_id": first["domain_id"],
            "domain_name": "acme-corp",
            "project_id": first["project_id"],
            "project_name": "cn-north-4",
            "user_id": first["user_id"],
            "access_keys": [first["access_key"]],
        },
        {
            "domain_id": second["domain_id"],
            "domain_name": "beta-corp",
            "project_id": second["project_id"],
            "project_name": "cn-north-4",
            "user_id": second["user_id"],
            "access_keys": sorted([second["access_key"], extra_key["access_key"]]),
        },
    ]
    text = cli("account", "list")
    assert text.exit_code == 0
    assert "acme-corp" in text.stdout
    assert first["project_id"] in text.stdout
    for secret in (first["secret_key"], second["secret_key"], extra_key["secret_key"], "s3cret-Passw0rd", "scrypt$"):
        assert secret not in result.output
        assert secret not in text.output
    assert row_counts(db)["iam_access_keys"] == 3


def test_account_list_empty(cli: Callable[..., Result]) -> None:
    result = cli("account", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_key_create(cli: Callable[..., Result], db: Database, server_key: ServerKey, client: TestClient) -> None:
    created = _create(cli, "acme-corp", "s3cret-Passw0rd")
    result = cli("key", "create", "acme-corp", "--json")
    assert result.exit_code == 0, result.output
    key = json.loads(result.stdout)
    assert set(key) == {"access_key", "secret_key"}
    assert re.fullmatch(r"[A-Z0-9]{20}", key["access_key"])
    assert re.fullmatch(r"[A-Za-z0-9]{40}", key["secret_key"])
    assert key["access_key"] != created["access_key"]

    row = access_key_row(db, key["access_key"])
    assert row is not None
    assert row.user_id == created["user_id"]
    assert key["secret_key"] not in row.secret_key_encrypted
    assert server_key.decrypt("access-key", row.secret_key_encrypted).decode() == key["secret_key"]
    assert_empty_records(_signed_get(client, created["project_id"], key["access_key"], key["secret_key"]))


def test_key_create_for_unknown_account(cli: Callable[..., Result], db: Database) -> None:
    result = cli("key", "create", "nobody-here", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: no account named 'nobody-here'" in result.stderr
    assert row_counts(db) == EMPTY


def test_key_delete(cli: Callable[..., Result], db: Database, client: TestClient) -> None:
    created = _create(cli, "acme-corp", "s3cret-Passw0rd")
    assert_empty_records(_signed_get(client, created["project_id"], created["access_key"], created["secret_key"]))

    result = cli("key", "delete", created["access_key"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"deleted {created['access_key']}"
    assert access_key_row(db, created["access_key"]) is None
    assert row_counts(db) == {"iam_accounts": 1, "iam_projects": 1, "iam_users": 1, "iam_access_keys": 0}
    assert_unauthorized(_signed_get(client, created["project_id"], created["access_key"], created["secret_key"]))

    again = cli("key", "delete", created["access_key"], "--json")
    assert again.exit_code == 1
    assert again.stdout == ""
    assert f"error: no access key '{created['access_key']}'" in again.stderr


def test_user_passwd(
    cli: Callable[..., Result], db: Database, client: TestClient, make_account: Callable[..., TestAccount]
) -> None:
    account = make_account("acme-corp", "s3cret-Passw0rd")
    bystander = make_account("beta-corp", "b3ta-Passw0rd")
    bystander_before = user_of(db, "beta-corp")
    before = user_of(db, "acme-corp")

    result = cli("user", "passwd", "acme-corp", "--password", "n3w-Passw0rd!", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"account": "acme-corp", "user": "acme-corp", "password_changed": True}
    assert "n3w-Passw0rd!" not in result.output

    after = user_of(db, "acme-corp")
    assert after.credential_version == before.credential_version + 1
    assert verify_password("n3w-Passw0rd!", after.password_hash)
    assert not verify_password("s3cret-Passw0rd", after.password_hash)
    bystander_after = user_of(db, "beta-corp")
    assert (bystander_after.password_hash, bystander_after.credential_version) == (
        bystander_before.password_hash,
        bystander_before.credential_version,
    )

    old = client.post("/v3/auth/tokens", content=token_body("acme-corp", "s3cret-Passw0rd", "acme-corp"))
    assert (old.status_code, old.json()) == (401, KEYSTONE_WRONG_PASSWORD)
    new = client.post("/v3/auth/tokens", content=token_body("acme-corp", "n3w-Passw0rd!", "acme-corp"))
    assert new.status_code == 201, new.text
    # Access keys are not affected by a password change.
    assert_empty_records(_signed_get(client, account.project_id, account.ak, account.sk))
    assert bystander.project_id != account.project_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("acme-corp", "--password", "short"), "error: a password has 8 to 128 characters"),
        (("nobody-here", "--password", "n3w-Passw0rd!"), "error: no account named 'nobody-here'"),
        (
            ("acme-corp", "--user", "someone", "--password", "n3w-Passw0rd!"),
            "error: no user 'someone' in account 'acme-corp'",
        ),
    ],
)
def test_user_passwd_refused(
    cli: Callable[..., Result],
    db: Database,
    make_account: Callable[..., TestAccount],
    args: tuple[str, ...],
    message: str,
) -> None:
    make_account("acme-corp", "s3cret-Passw0rd")
    before = user_of(db, "acme-corp")
    result = cli("user", "passwd", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in result.stderr
    after = user_of(db, "acme-corp")
    assert (after.password_hash, after.credential_version) == (before.password_hash, before.credential_version)
