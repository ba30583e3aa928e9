"""The sdist and the wheel build with the build requirements ``pyproject.toml`` names, carry the LICENSE, the
classifiers and everything the server serves from inside the package (migrations, Swagger UI, examples)."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_sdist_and_wheel(tmp_path: Path) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "setuptools>=77" in pyproject["build-system"]["requires"][0]  # the SPDX license expression needs 77
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = tmp_path.glob("openbcs-*.whl")
    (sdist,) = tmp_path.glob("openbcs-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    for packaged in (
        "openbcs/openapi/static/swagger-ui/swagger-ui-bundle.js",
        "openbcs/openapi/static/swagger-ui/LICENSE",
        "openbcs/openapi/examples.yaml",
        "openbcs/openapi/responses.json",
        "openbcs/migrations/versions/0007_fabric_config_blocks.py",
        "openbcs/testing/plugin.py",
        "openbcs/py.typed",
    ):
        assert packaged in names, packaged
    assert "License-Expression: Apache-2.0" in meta
    assert "Classifier: Framework :: Pytest" in meta
    assert re.search(r"^Provides-Extra: sdk$", meta, re.M)
    assert "[pytest11]\nopenbcs = openbcs.testing.plugin" in entry_points
    assert "[console_scripts]\nopenbcs = openbcs.cli:main" in entry_points
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    for shipped in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "src/openbcs/openapi/examples.yaml"):
        assert shipped in members, shipped
