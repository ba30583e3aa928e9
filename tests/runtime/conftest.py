"""Fixtures of the runtime tests: the suite's local-runtime app (tests/conftest.py) under the runtime tests' names."""

from __future__ import annotations

import pytest

from tests.conftest import LOCAL_PORTS
from tests.support.tenants import Tenant

LOW, HIGH = LOCAL_PORTS


@pytest.fixture
def tenant(local_tenant: Tenant) -> Tenant:
    """A fresh account's API over the local-runtime app."""
    return local_tenant
