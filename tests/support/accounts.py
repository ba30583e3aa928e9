"""Accounts for tests: the ids, password and key pair an account was created with, and tokens for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from openbcs.iam.service import NewAccount

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class TestAccount:
    """An account created for a test, with the password and key pair it was given."""

    __test__ = False
    created: NewAccount
    password: str

    @property
    def project_id(self) -> str:
        return self.created.project_id

    @property
    def domain_id(self) -> str:
        return self.created.domain_id

    @property
    def name(self) -> str:
        return self.created.domain_name

    @property
    def ak(self) -> str:
        return self.created.access_key

    @property
    def sk(self) -> str:
        return self.created.secret_key


def token_body(
    user: str, password: str, domain: str, *, project_name: str | None = None, project_id: str | None = None
) -> bytes:
    """A Keystone v3 password-method token request."""
    scope: dict[str, str] = {"id": project_id} if project_id else {"name": project_name or "cn-north-4"}
    return json.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
                },
                "scope": {"project": scope},
            }
        }
    ).encode()


def issue_token(http: httpx.Client | Any, account: TestAccount) -> str:
    """A token of ``account`` from ``POST /v3/auth/tokens`` of ``http`` (any app on the same database)."""
    response = http.post(
        "/v3/auth/tokens", content=token_body(account.name, account.password, account.name), headers=JSON
    )
    assert response.status_code == 201, response.text
    return str(response.headers["X-Subject-Token"])
