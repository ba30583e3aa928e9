"""POST /v3/auth/tokens: Keystone v3 password tokens, their body, their scope and their failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.iam import service
from openbcs.iam.passwords import verify_password
from openbcs.kernel.db import Database
from tests.iam.helpers import (
    ISO_MICROS_Z,
    KEYSTONE_WRONG_PASSWORD,
    assert_empty_records,
    held_token,
    projects_of,
    records_path,
    user_of,
)
from tests.support.accounts import TestAccount, token_body
from tests.support.errors import assert_unauthorized, request_id_of

JSON = {"Content-Type": "application/json;charset=utf8"}
Malformed = Callable[[TestAccount], bytes]


def _parse_iso(value: str) -> datetime:
    assert ISO_MICROS_Z.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _post_token(client: TestClient, body: bytes, query: str = "") -> object:
    return client.post(f"/v3/auth/tokens{query}", content=body, headers=JSON)


def test_token_issued_with_keystone_body(client: TestClient, make_account: Callable[..., TestAccount], db: Database):
    account = make_account("tenant-alpha")
    before = datetime.now(UTC)
    response = client.post(
        "/v3/auth/tokens", content=token_body(account.name, account.password, account.name), headers=JSON
    )
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    request_id_of(response)
    token = response.headers["X-Subject-Token"]
    assert len(token) > 100
    assert account.password not in token

    body = response.json()
    assert set(body) == {"token"}
    t = body["token"]
    assert set(t) == {"expires_at", "issued_at", "methods", "project", "user", "roles", "catalog"}
    issued, expires = _parse_iso(t["issued_at"]), _parse_iso(t["expires_at"])
    assert before - timedelta(seconds=1) <= issued <= after + timedelta(seconds=1)
    assert expires - issued == timedelta(hours=24)
    assert t["methods"] == ["password"]

    user = user_of(db, account.name)
    domain = {"id": account.domain_id, "name": "tenant-alpha"}
    assert t["project"] == {"id": account.project_id, "name": "cn-north-4", "domain": domain}
    assert [(p.id, p.name) for p in projects_of(db, account.domain_id)] == [(account.project_id, "cn-north-4")]
    assert t["user"]["id"] == user.id == account.created.user_id
    assert t["user"]["name"] == "tenant-alpha"
    assert t["user"]["domain"] == domain
    assert "password_expires_at" in t["user"]
    assert t["roles"]
    assert all(set(role) == {"id", "name"} and role["name"] for role in t["roles"])

    catalog = {entry["type"]: entry for entry in t["catalog"]}
    assert set(catalog) >= {"bcs", "iam"}
    for entry in catalog.values():
        assert entry["endpoints"], entry
        for endpoint in entry["endpoints"]:
            assert endpoint["region"] == endpoint["region_id"] == "cn-north-4"
            assert endpoint["interface"] == "public"
            assert endpoint["url"].startswith("http://testserver/")

    # The token works, and issuing it changed nothing stored about the user.
    assert_empty_records(client.get(records_path(account.project_id), headers={"X-Auth-Token": token}))
    after_user = user_of(db, account.name)
    assert (after_user.credential_version, after_user.enabled, after_user.password_hash) == (
        user.credential_version,
        user.enabled,
        user.password_hash,
    )


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_nocatalog_omits_the_catalog(client: TestClient, make_account: Callable[..., TestAccount], value: str):
    account = make_account()
    response = _post_token(client, token_body(account.name, account.password, account.name), f"?nocatalog={value}")
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert "catalog" not in token
    assert token["project"]["id"] == account.project_id
    assert response.headers["X-Subject-Token"]


def test_empty_nocatalog_keeps_the_catalog(client: TestClient, make_account: Callable[..., TestAccount]):
    account = make_account()
    response = _post_token(client, token_body(account.name, account.password, account.name), "?nocatalog=")
    assert response.status_code == 201, response.text
    assert {entry["type"] for entry in response.json()["token"]["catalog"]} >= {"bcs", "iam"}


def test_scope_by_project_id(client: TestClient, make_account: Callable[..., TestAccount]):
    account = make_account()
    body = token_body(account.name, account.password, account.name, project_id=account.project_id)
    assert json.loads(body)["auth"]["scope"] == {"project": {"id": account.project_id}}
    response = _post_token(client, body)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"]["id"] == account.project_id
    token = response.headers["X-Subject-Token"]
    assert_empty_records(client.get(records_path(account.project_id), headers={"X-Auth-Token": token}))


def test_scope_by_project_name(client: TestClient, make_account: Callable[..., TestAccount]):
    account = make_account()
    body = token_body(account.name, account.password, account.name, project_name="cn-north-4")
    assert json.loads(body)["auth"]["scope"] == {"project": {"name": "cn-north-4"}}
    response = _post_token(client, body)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"] == {
        "id": account.project_id,
        "name": "cn-north-4",
        "domain": {"id": account.domain_id, "name": account.name},
    }


@pytest.mark.parametrize("scope", ["other-project-id", "unknown-id", "unknown-name"])
def test_scope_outside_the_users_projects(
    client: TestClient, make_account: Callable[..., TestAccount], scope: str
) -> None:
    account, other = make_account(), make_account()
    if scope == "other-project-id":
        body = token_body(account.name, account.password, account.name, project_id=other.project_id)
    elif scope == "unknown-id":
        body = token_body(account.name, account.password, account.name, project_id="f" * 32)
    else:
        body = token_body(account.name, account.password, account.name, project_name="cn-south-1")
    response = _post_token(client, body)
    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The project in the scope does not exist or is not the user's.",
        }
    }
    assert "X-Subject-Token" not in response.headers
    request_id_of(response)


@pytest.mark.parametrize("wrong", ["password", "user", "domain", "user-of-other-domain"])
def test_wrong_credentials_answer_keystone_401(
    client: TestClient, make_account: Callable[..., TestAccount], wrong: str
) -> None:
    account = make_account("tenant-one", "correct-horse-1")
    other = make_account("tenant-two", "correct-horse-2")
    user, password, domain = account.name, account.password, account.name
    if wrong == "password":
        password = "correct-horse-2"
    elif wrong == "user":
        user = "nobody-here"
    elif wrong == "domain":
        domain = "no-such-domain"
    else:  # a real user and its real password, claimed in another account
        domain = other.name
    response = _post_token(client, token_body(user, password, domain))
    assert response.status_code == 401, response.text
    # One answer for every case: the caller cannot tell which part was wrong.
    assert response.json() == KEYSTONE_WRONG_PASSWORD
    assert "X-Subject-Token" not in response.headers
    request_id_of(response)


def _raw(content: bytes) -> Malformed:
    return lambda _account: content


def _edited(change: Callable[[dict[str, Any], TestAccount], object]) -> Malformed:
    """The account's valid token request with ``change(auth, account)`` made to its ``auth`` object."""

    def body(account: TestAccount) -> bytes:
        request = json.loads(token_body(account.name, account.password, account.name))
        change(request["auth"], account)
        return json.dumps(request).encode()

    return body


def _user(auth: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = auth["identity"]["password"]["user"]
    return user


# Token requests Keystone answers 400 to, by what is wrong with them.
MALFORMED: dict[str, Malformed] = {
    "not-json": _raw(b'{"auth": '),
    "empty": _raw(b""),
    "array": _raw(b"[]"),
    "no-auth": _raw(b"{}"),
    "no-identity": _edited(lambda auth, _: auth.pop("identity")),
    "token-method": _edited(lambda auth, _: auth["identity"].update(methods=["token"])),
    "no-methods": _edited(lambda auth, _: auth["identity"].update(methods=[])),
    "no-password": _edited(lambda auth, _: auth["identity"].pop("password")),
    "password-not-string": _edited(lambda auth, _: _user(auth).update(password=12345678)),
    "no-user-name": _edited(lambda auth, _: _user(auth).pop("name")),
    "no-domain": _edited(lambda auth, _: _user(auth).pop("domain")),
    "domain-without-name": _edited(lambda auth, account: _user(auth).update(domain={"id": account.domain_id})),
    "no-scope": _edited(lambda auth, _: auth.pop("scope")),
    "empty-project-scope": _edited(lambda auth, _: auth.update(scope={"project": {}})),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_body_answers_keystone_400(
    client: TestClient, make_account: Callable[..., TestAccount], kind: str
) -> None:
    account = make_account()
    sent = MALFORMED[kind](account)
    assert sent != token_body(account.name, account.password, account.name)
    response = _post_token(client, sent)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "title", "message"}
    assert body["error"]["code"] == 400
    assert body["error"]["title"] == "Bad Request"
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert account.password not in body["error"]["message"]
    assert "X-Subject-Token" not in response.headers
    request_id_of(response)


def test_disabled_user_token_is_refused_and_stays_revoked(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    held = held_token(client, db, account)
    version = held.credential_version

    db.run_write(service.set_user_enabled, account_name=account.name, user_name=None, enabled=False)
    disabled = user_of(db, account.name)
    assert disabled.enabled is False
    assert disabled.credential_version == version + 1

    assert_unauthorized(held.records(client))
    # A disabled user gets no new token either, and learns nothing more than from a wrong password.
    refused = _post_token(client, token_body(account.name, account.password, account.name))
    assert refused.status_code == 401
    assert refused.json() == KEYSTONE_WRONG_PASSWORD

    # Enabling the user again does not revive the tokens issued before it was disabled.
    db.run_write(service.set_user_enabled, account_name=account.name, user_name=None, enabled=True)
    enabled = user_of(db, account.name)
    assert enabled.enabled is True
    assert enabled.credential_version == version + 1
    assert_unauthorized(held.records(client))
    assert_empty_records(held_token(client, db, account).records(client))


def test_passwords_are_stored_as_scrypt_hashes(make_account: Callable[..., TestAccount], db: Database) -> None:
    account = make_account(password="a-very-secret-password")
    stored = user_of(db, account.name).password_hash
    assert stored.startswith("scrypt$")
    assert "a-very-secret-password" not in stored
    assert verify_password("a-very-secret-password", stored)
    assert not verify_password("a-very-secret-passworD", stored)
