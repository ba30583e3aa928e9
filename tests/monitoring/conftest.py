"""Fixtures of the monitoring tests: cheap password hashing and a tenant on the in-process app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.iam import passwords
from tests.instances.helpers import Tenant, new_tenant


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts are created and logged in by most tests here: hash their passwords with a small scrypt cost (the
    parameters are stored with each hash, so verification is unchanged). tests/iam covers passwords."""
    monkeypatch.setattr(passwords, "_N", 2**4)


@pytest.fixture
def tenant(client: TestClient, make_account: Callable[..., Any]) -> Tenant:
    """An account with a token, on the ``client`` app (operations run at once)."""
    return new_tenant(client, make_account)
