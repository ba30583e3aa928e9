"""Fixtures of the console tests (the shared ones are in ``tests/conftest.py``): browsers of one account each, on the
``client`` app (operations run with 0 s steps), and an app of the local runtime whose nodes a fake runs (node
health, alarms and logs without Fabric's binaries, as ``tests/runtime/conftest.py`` makes it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.console.helpers import ConsoleUser
from tests.support.accounts import TestAccount
from tests.support.tenants import Tenant, new_tenant

HEALTH_SECONDS = 0.05  # how often the supervisor asks the (fake) nodes' health in these tests


@pytest.fixture
def console_of(client: TestClient) -> Callable[..., ConsoleUser]:
    """``console_of(tenant_or_account)``: that account signed in to the console in a browser of its own."""

    def make(who: Tenant | TestAccount, *, sign_in: bool = True) -> ConsoleUser:
        account = who.account if isinstance(who, Tenant) else who
        return ConsoleUser.of(client, account, sign_in=sign_in)

    return make


@pytest.fixture
def console(tenant: Tenant, console_of: Callable[..., ConsoleUser]) -> ConsoleUser:
    """The ``tenant`` fixture's account, signed in to the console."""
    return console_of(tenant)


@pytest.fixture
def make_local_tenant(local: TestClient, make_account: Callable[..., TestAccount]) -> Callable[[], Tenant]:
    """``make_local_tenant()``: a fresh account's API over the ``local`` app."""
    return lambda: new_tenant(local, make_account)
