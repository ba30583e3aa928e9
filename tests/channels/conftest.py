"""Fixtures of the channel tests (the shared ones are in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.tenants import Tenant, new_tenant


@pytest.fixture
def frozen_tenant(frozen_client: TestClient, make_account: Callable[..., TestAccount], db: Database) -> Tenant:
    """An account on the ``frozen_client`` app: operations hold still until the test drives them (``wait`` does)."""
    return new_tenant(frozen_client, make_account, drive=db)
