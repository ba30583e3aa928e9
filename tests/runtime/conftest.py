"""Fixtures of the runtime tests: an app whose instances belong to the local runtime, its nodes run by a fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.runtime.fakes import FakeRuntime
from tests.support.accounts import TestAccount
from tests.support.tenants import Tenant, new_tenant

LOW, HIGH = 31000, 31999


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def local(settings: Settings, fake: FakeRuntime) -> Iterator[TestClient]:
    """An app whose instances belong to the local runtime, its nodes run by the fake."""
    local_settings = settings.model_copy(update={"fabric_runtime": "local", "node_ports": f"{LOW}-{HIGH}"})
    with TestClient(create_app(local_settings, runtime=fake), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tenant(local: TestClient, make_account: Callable[..., TestAccount]) -> Tenant:
    return new_tenant(local, make_account)
