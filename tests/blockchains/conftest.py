"""Fixtures of the instance tests: tenants, and an app whose worker is frozen so intermediate states hold still."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.settings import Settings
from tests.blockchains.helpers import Tenant, new_tenant


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
    """An app whose worker starts an operation's first sub-step and then waits an hour for the next one.

    Tests drive operations on with ``helpers.drive_operations`` / ``helpers.step_operation``, so what an instance
    looks like while an operation runs is observed without any timing assumption. Never combine with ``client``,
    ``token_for`` or ``live_server``: their workers (step 0 s) would run the operations.
    """
    frozen = settings.model_copy(update={"operation_step_seconds": 3600.0, "worker_poll_seconds": 3600.0})
    with TestClient(create_app(frozen), raise_server_exceptions=False) as test_client:
        yield test_client
