"""``examples/consortium_lifecycle.py`` runs as written, against a server of the pytest plugin (the project's own
tests use ``openbcs_server`` and ``openbcs_account`` like a user's would)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from huaweicloudsdkbcs.v2 import ListBlockchainsRequest, ListMembersRequest, ListOpRecordRequest

from openbcs.testing import OpenBCSAccount, OpenBCSServer

EXAMPLE = Path(__file__).parents[2] / "examples" / "consortium_lifecycle.py"


def _exports(prefix: str, account: OpenBCSAccount) -> dict[str, str]:
    """What ``openbcs serve --demo`` exports for a demo account."""
    return {
        f"{prefix}_DOMAIN_ID": account.domain_id,
        f"{prefix}_DOMAIN_NAME": account.name,
        f"{prefix}_PROJECT_ID": account.project_id,
        f"{prefix}_AK": account.access_key,
        f"{prefix}_SK": account.secret_key,
    }


def test_consortium_lifecycle_example(
    openbcs_server: OpenBCSServer, openbcs_account: Callable[..., OpenBCSAccount], tmp_path: Path
) -> None:
    inviter, invitee = openbcs_account(), openbcs_account()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "OPENBCS_ENDPOINT": openbcs_server.url,
        **_exports("DEMO_INVITER", inviter),
        **_exports("DEMO_INVITEE", invitee),
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("inviter instance bcs-a-")
    assert lines[0].endswith("is ready")
    assert lines[1] == "invitee sees the invitation to channel: waiting"
    assert lines[2] == f"members of channel: ['{invitee.name}']"
    assert lines[3:] == ["invitee quit: success", "consortium lifecycle done"]
    # What it left: no instances, no members, every operation finished (create, join, quit, deletes).
    for account in (inviter, invitee):
        assert account.client.list_blockchains(ListBlockchainsRequest()).count == 0
        records = account.client.list_op_record(ListOpRecordRequest()).operation_records
        assert {r.operation_status for r in records} == {"finished"}
    assert len(inviter.client.list_op_record(ListOpRecordRequest()).operation_records) == 2  # create, delete
    assert len(invitee.client.list_op_record(ListOpRecordRequest()).operation_records) == 4  # + join, quit
    assert inviter.client.list_members(ListMembersRequest()).members == []
