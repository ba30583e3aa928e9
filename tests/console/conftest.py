"""Fixtures of the console tests (the shared ones are in ``tests/conftest.py``): browsers of one account each, on the
``client`` app (operations run with 0 s steps), and an app of the local runtime whose nodes a fake runs (node
health, alarms and logs without Fabric's binaries, as ``tests/runtime/conftest.py`` makes it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.console.helpers import ConsoleUser
from tests.runtime.fakes import FakeRuntime
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
def fake() -> FakeRuntime:
    """The local runtime's nodes: ``fake.unhealthy[node name] = reason`` makes a node fail its health check."""
    return FakeRuntime()


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"fabric_runtime": "local", "node_ports": "31000-31999"})


@pytest.fixture
def local(local_settings: Settings, fake: FakeRuntime) -> Iterator[TestClient]:
    """An app whose instances belong to the local runtime, its nodes run by the fake, their health asked often.
    Never combine with ``client`` (``tenant``, ``console``): one app per test."""
    with TestClient(create_app(local_settings, runtime=fake), raise_server_exceptions=False) as local_client:
        local_client.app.state.supervisor.health_seconds = HEALTH_SECONDS  # type: ignore[attr-defined]
        yield local_client


@pytest.fixture
def make_local_tenant(local: TestClient, make_account: Callable[..., TestAccount]) -> Callable[[], Tenant]:
    """``make_local_tenant()``: a fresh account's API over the ``local`` app."""
    return lambda: new_tenant(local, make_account)
