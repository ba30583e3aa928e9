"""Fixtures of the IAM suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.iam.helpers import run_cli


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    # The CLI exports its flags as OPENBCS_* variables; keep them from leaking into later tests.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, db: object) -> Callable[..., Result]:
    """Run ``openbcs`` against the test database: ``cli("account", "list", "--json")``."""
    data_dir = tmp_path / "cli-data"

    def run(*args: str) -> Result:
        return run_cli(database_url, data_dir, *args)

    return run
