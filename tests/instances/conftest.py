"""Fixtures of the instance tests: tenants, and an app without a running worker so intermediate states hold still."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.iam import passwords
from openbcs.kernel.settings import Settings
from tests.instances.helpers import Tenant, new_tenant, stop_worker


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test here creates accounts and logs them in: hash their passwords with a small scrypt cost (the
    parameters are stored with each hash, so verification is unchanged). tests/iam covers passwords."""
    monkeypatch.setattr(passwords, "_N", 2**4)


@pytest.fixture
def tenant(client: TestClient, make_account) -> Tenant:
    """An account with a token, on the ``client`` app (operations run at once)."""
    return new_tenant(client, make_account)


@pytest.fixture
def other_tenant(client: TestClient, make_account) -> Tenant:
    """A second, unrelated account."""
    return new_tenant(client, make_account)


@pytest.fixture
def frozen_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose operation worker is stopped once the app has started: operations stay where they are.

    Tests drive operations on with ``helpers.drive_operations`` / ``helpers.step_operation``, so what an instance
    looks like while an operation runs is observed without any timing assumption (not even that a worker has
    made an operation's first transition). Never combine with ``client``, ``token_for`` or ``live_server``: their
    workers (step 0 s) would run the operations.
    """
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        stop_worker(test_client)
        yield test_client
