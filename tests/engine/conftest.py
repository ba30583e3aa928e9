"""Fixtures of the operation engine's tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def effects_file(tmp_path: Path) -> Path:
    """Where the diagnostic kind's actions write one line per sub-step they run."""
    return tmp_path / "effects.log"
