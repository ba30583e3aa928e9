"""Fixtures of the channel tests: an account's API over the in-process app, and apps with slow operations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.channels.helpers import Bcs, issue_token
from tests.support import TestAccount


@pytest.fixture
def make_bcs(client: TestClient, make_account: Callable[..., TestAccount]) -> Callable[..., Bcs]:
    """``make_bcs()``: a fresh account's API over the ``client`` app (operations run with 0 s steps)."""

    def make(account: TestAccount | None = None) -> Bcs:
        account = account or make_account()
        return Bcs(client, account, issue_token(client, account))

    return make


@pytest.fixture
def bcs(make_bcs: Callable[..., Bcs]) -> Bcs:
    return make_bcs()


@pytest.fixture
def app_with_steps(settings: Settings) -> Callable[[float], AbstractContextManager[TestClient]]:
    """``with app_with_steps(3600) as client:`` an app whose operation steps take that long (no ``client`` app
    may run meanwhile: its worker would advance the same operations)."""

    @contextmanager
    def run(step_seconds: float) -> Iterator[TestClient]:
        slow = settings.model_copy(update={"operation_step_seconds": step_seconds})
        with TestClient(create_app(slow), raise_server_exceptions=False) as test_client:
            yield test_client

    return run
