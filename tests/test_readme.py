"""The README's SDK snippet runs, unchanged, against a live server."""

from __future__ import annotations

import json
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
    assert (
        commands[0] == "python3 -m venv .venv && . .venv/bin/activate && pip install '.[sdk]' && openbcs serve --demo"
    )
    assert (
        commands[1] == "python3 -m venv .venv-test && . .venv-test/bin/activate && pip install -e '.[test]' && pytest"
    )
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci
    assert "\npytest\n" in ci


def test_readme_curl_example_works_when_pasted(live_server, make_account, tmp_path):
    """The curl block, as pasted into a shell holding the ``export`` lines of ``serve --demo``."""
    match = re.search(r"<!-- curl-example:.*?-->\n```sh\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its curl example"
    account = make_account("demo-inviter", "Demo-Passw0rd")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "OPENBCS_ENDPOINT": live_server.url,
        "DEMO_INVITER_PASSWORD": "Demo-Passw0rd",
        "DEMO_INVITER_PROJECT_ID": account.project_id,
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", match.group(1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"count": 0, "operation_records": []}
