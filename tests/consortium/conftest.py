"""Fixtures of the consortium tests: cheap password hashing, and an app whose worker is frozen so that joining and
quitting states hold still."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.iam import passwords
from openbcs.kernel.settings import Settings


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every consortium test creates several accounts and logs each in: hash their passwords with a small scrypt
    cost (the parameters are stored with each hash, so verification is unchanged). Passwords are not under test
    here (tests/iam covers them)."""
    monkeypatch.setattr(passwords, "_N", 2**4)


@pytest.fixture
def frozen_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose worker starts an operation's first sub-step and then waits an hour for the next one.

    Drive operations from the test (``Party(drive=db)`` / ``tests.instances.helpers.drive_operations``). Never
    combine with ``client``, ``token_for`` or ``live_server``: their workers (step 0 s) would run the operations.
    """
    frozen = settings.model_copy(update={"operation_step_seconds": 3600.0, "worker_poll_seconds": 3600.0})
    with TestClient(create_app(frozen), raise_server_exceptions=False) as test_client:
        yield test_client
