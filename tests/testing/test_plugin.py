"""The pytest plugin as a user meets it: installed with OpenBCS (entry point ``pytest11``), the README's example test
passes in a project of its own, with a server the plugin starts or with a running one (``--openbcs-url``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from openbcs.testing import OpenBCSServer

README = Path(__file__).parents[2] / "README.md"


def _readme_test() -> str:
    match = re.search(r"<!-- pytest-example:.*?-->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its pytest example"
    return match.group(1)


def _pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pytest`` in a project folder of its own (no conftest, no settings of this repository)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    environment.update({"HOME": str(project), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cov", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plugin_is_registered_as_pytest11_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "openbcs"]
    assert entry.value == "openbcs.testing.plugin"


def test_readme_example_with_a_server_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(_readme_test())
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^2 passed", result.stdout, re.M), result.stdout


def test_readme_example_against_a_running_server(openbcs_server: OpenBCSServer, tmp_path: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(_readme_test())
    assert openbcs_server.admin_token
    result = _pytest(
        tmp_path, env={"OPENBCS_URL": openbcs_server.url, "OPENBCS_ADMIN_TOKEN": openbcs_server.admin_token}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The first example test reset this server: only the two accounts the example tests made are left.
    state = openbcs_server.admin("GET", "state")
    assert [a["name"][:5] for a in state["tables"]["iam_accounts"]] == ["test-", "test-"]


def test_running_server_without_admin_token_is_explained(openbcs_server: OpenBCSServer, tmp_path: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(_readme_test())
    result = _pytest(tmp_path, "--openbcs-url", openbcs_server.url)
    assert result.returncode == 1
    assert "needs its admin token for accounts and resets" in result.stdout
