"""docs/api.md's worked example of accepting an invitation runs as written: its two bodies, with the placeholders
filled from the invitee's notification, create the invitee's instance and agree; the member joins."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.consortia import setup_consortium

API_MD = Path(__file__).parents[2] / "docs" / "api.md"


def _examples() -> list[str]:
    section = API_MD.read_text().split("## Accepting an invitation", 1)[1].split("\n## ", 1)[0]
    return [block.split("\n", 1)[1] for block in re.findall(r"```\n(.*?)```", section, re.S)]


def _filled(text: str, values: dict[str, Any]) -> Any:
    for name, value in values.items():
        text = text.replace(f'"<{name}>"', json.dumps(value)).replace(f"<{name}>", json.dumps(value))
    assert "<" not in text, text
    return json.loads(text)


def test_the_worked_example_creates_the_invitee_instance_and_agrees(client: Any, make_account: Any) -> None:
    c = setup_consortium(client, make_account, invitee_instance=False)
    (notification,) = c.invitee.notifications()
    values: dict[str, Any] = dict(notification["invitor_info"])
    values["channel_name"] = notification["channel_name"]
    create, agree = _examples()
    created = c.invitee.start_creation(_filled(create, values))
    c.invitee.wait(created["operation_id"])
    values.update({"the new instance's id": created["blockchain_id"], "project_id": c.invitee.project_id,
                   "your account id": c.invitee.domain_id})  # fmt: skip
    answer = c.invitee.handle(_filled(agree, values))
    assert (answer.status_code, answer.json()) == (200, {"result": "success"})
    c.invitee_bcs_id, c.invitee_bcs_name = created["blockchain_id"], "bcs-invitee"
    c.invitee.wait(c.join_operation_id())
    (member,) = c.inviter.members()
    assert [o["status"] for o in member["invited_orgs"]] == ["joined"]
