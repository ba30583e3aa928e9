"""Fixtures of the operations engine's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from openbcs.engine import diagnostic as diagnostic


@pytest.fixture(autouse=True)
def _diagnostic_kind() -> None:
    # service.start() in this process needs the kind registered (the servers under test register it themselves).
    diagnostic.register()


@pytest.fixture
def effects_file(tmp_path: Path) -> Path:
    """Where the diagnostic kind's actions write one line per sub-step they run."""
    return tmp_path / "effects.log"
