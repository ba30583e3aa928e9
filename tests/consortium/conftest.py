"""Fixtures of the consortium tests: an app whose worker is frozen, so joining and quitting states hold still."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.settings import Settings


@pytest.fixture
def frozen_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose worker starts an operation's first sub-step and then waits an hour for the next one.

    Drive operations from the test (``Party(drive=db)`` / ``tests.blockchains.helpers.drive_operations``). Never
    combine with ``client``, ``token_for`` or ``live_server``: their workers (step 0 s) would run the operations.
    """
    frozen = settings.model_copy(update={"operation_step_seconds": 3600.0, "worker_poll_seconds": 3600.0})
    with TestClient(create_app(frozen), raise_server_exceptions=False) as test_client:
        yield test_client
