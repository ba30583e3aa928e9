"""The pytest plugin (entry point ``pytest11: openbcs``): options and fixtures; see :mod:`openbcs.testing`.

Loaded in every pytest run where OpenBCS is installed, so it imports nothing heavy until a fixture is used."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openbcs.testing.server import LocalServer, OpenBCSAccount, OpenBCSServer


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--openbcs-url`` and ``--openbcs-admin-token``."""
    group = parser.getgroup("openbcs", "OpenBCS (a BCS v2 API server for tests)")
    group.addoption(
        "--openbcs-url",
        default=os.environ.get("OPENBCS_URL"),
        help="Use this running OpenBCS server instead of starting one (env OPENBCS_URL).",
    )
    group.addoption(
        "--openbcs-admin-token",
        default=os.environ.get("OPENBCS_ADMIN_TOKEN"),
        help="The --admin-token of that server: accounts and resets need it (env OPENBCS_ADMIN_TOKEN).",
    )


@pytest.fixture(scope="session")
def openbcs_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBCSServer]:
    """The OpenBCS server of this test session: ``--openbcs-url``, or one started on a free port with a temporary
    SQLite database and zero-length operation steps (stopped at the end of the session)."""
    url = request.config.getoption("--openbcs-url")
    if url:
        yield OpenBCSServer(url, request.config.getoption("--openbcs-admin-token"))
        return
    local = LocalServer(tmp_path_factory.mktemp("openbcs"))
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def openbcs_account(openbcs_server: OpenBCSServer) -> Callable[..., OpenBCSAccount]:
    """A factory of fresh accounts: ``account = openbcs_account()``; ``account.client`` is a ready ``BcsClient``."""

    def create(name: str | None = None, *, quota: int | None = None) -> OpenBCSAccount:
        return openbcs_server.create_account(name, quota=quota)

    return create


@pytest.fixture
def openbcs_reset(openbcs_server: OpenBCSServer) -> Any:
    """Empty the server before the test: no accounts, instances or operations are left from earlier tests."""
    openbcs_server.reset()
    return openbcs_server
