"""The README's SDK snippet runs, unchanged, against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def _snippet() -> str:
    text = README.read_text()
    match = re.search(r"<!-- sdk-snippet:.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its SDK snippet"
    return match.group(1)


def test_readme_sdk_snippet_runs_against_a_live_server(live_server, make_account, tmp_path):
    account = make_account("demo-inviter")
    env = {
        **os.environ,
        "OPENBCS_ENDPOINT": live_server.url,
        "DEMO_INVITER_AK": account.ak,
        "DEMO_INVITER_SK": account.sk,
        "DEMO_INVITER_PROJECT_ID": account.project_id,
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", _snippet()], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_readme_first_two_commands_are_what_ci_runs():
    text = README.read_text()
    commands = re.findall(r"```sh\n(python3 -m venv[^\n]*)\n```", text)
    assert commands[0].endswith("pip install . && openbcs serve --demo")
    assert commands[1].endswith("pip install -e '.[test]' && pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci
    assert "\npytest\n" in ci
