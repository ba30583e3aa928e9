"""``docs/api.md``: the API reference as Markdown, rendered from the same OpenAPI document ``/openapi.json`` serves
(``openbcs docs markdown`` prints it; a test keeps the file and the code in step)."""

from __future__ import annotations

import json
from typing import Any

from openbcs.kernel.errors import CATALOG
from openbcs.openapi import text

HEADER = """\
# API reference

Generated from the server's OpenAPI document by `openbcs docs markdown` (`tests/openapi` fails when this file and
the code differ). A running server serves the same reference at `/docs` (Swagger UI, works offline) and
`/openapi.json` (OpenAPI 3.1). Every example request below is sent to a live server by the tests, with its made-up
ids replaced by real ones, and answers the documented status.

{introduction}
## Waiting for an asynchronous operation

Every call that answers an `operation_id` (creating, updating or deleting an instance, every channel change,
agreeing to an invitation, quitting a consortium) has only *started* when it answers. Poll `ListOpRecord` with that
id until `operation_status` is `finished` (success) or `failed` (its `message` says why); until then it is `waiting`
or `processing`, and the instance refuses other changes (`BCS.4001020`). With the official SDK:

```python
import time

from huaweicloudsdkbcs.v2 import ListOpRecordRequest


def wait(client, operation_id, timeout=120.0):
    \"\"\"The finished record of an operation; raises if it failed or took longer than timeout seconds.\"\"\"
    deadline = time.monotonic() + timeout
    while True:
        (record,) = client.list_op_record(ListOpRecordRequest(operation_id=operation_id)).operation_records
        if record.operation_status == "finished":
            return record
        if record.operation_status in ("failed", "stop"):
            raise RuntimeError(f"{{operation_id}} {{record.operation_status}}: {{record.message}}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{{operation_id}} still {{record.operation_status}}")
        time.sleep(0.5)
```

How long an operation takes is the server's `--operation-step-seconds` (0.5 s per step by default; 0 in tests).

## Accepting an invitation: the invitee's instance, then the accept

An invited tenant takes part with an instance of its own made for that consortium. From its notification
(ListNotifications), it creates one with `is_invitee: true`, `invitor_infos` naming the inviter's account, project and
instance, no orderers (no `orderer_node_number`), and the inviter's `consensus`, `sign_algorithm`, `database_type` and
`version_type` (the notification's `invitor_info` gives them all). Only an account that an invitation of that
instance waits for can create one: any other gets `400 BCS.4006014 Invalid Parameter invitor_infos : no invitation
for this account waits from a consortium instance with these tenant, project and ids`, the same answer whether the
instance exists or not, and never the inviter's settings:

```
POST /v2/{{project_id}}/blockchains
{{"name": "bcs-invitee", "blockchain_type": "union", "is_invitee": true,
 "invitor_infos": {{"tenant_id": "<invitor_id>", "project_id": "<invitor_project_id>",
                   "blockchain_id": "<invitor_bcs_id>"}},
 "consensus": "<invitor_consensus>", "sign_algorithm": "<invitor_signature_algorithm>",
 "database_type": "<invitor_database_type>", "version_type": <invitor_version_type>,
 "enterprise_project_id": "0", "resource_password": "Passw0rd!x", "cluster_type": "cce",
 "create_new_cluster": false, "cce_cluster_info": {{"cluster_id": "cce-0001", "cluster_name": "cce-test",
                                                  "cluster_platform_type": "VirtualMachine"}},
 "volume_type": "evs", "evs_disk_type": "SSD", "org_disk_size": 100}}
```

Once that instance's operation finished, it agrees, naming the instance and the organisations that join the channel;
the answer is `{{"result": "success"}}` and the join is an operation of the invitee's instance (ListOpRecord,
`operation_type` `05`):

```
POST /v2/{{project_id}}/notification/handle
{{"channel_name": "<channel_name>", "status": "agreed",
 "invitor_info": {{"invitor_bcs_id": "<invitor_bcs_id>", "invitor_bcs_name": "<invitor_bcs_name>",
                  "invitor_project_id": "<invitor_project_id>", "invitor_user_id": "<invitor_id>"}},
 "invitee_info": {{"invitee_bcs_id": "<the new instance's id>", "invitee_bcs_name": "bcs-invitee",
                  "invitee_project_id": "<project_id>", "invitee_user_id": "<your account id>"}},
 "invited_orgs": [{{"name": "organization"}}]}}
```

`examples/consortium_lifecycle.py` does the same through the official SDK; `docs/consortium.md` has every rule.

## Reading downloads through the SDK

`DownloadBlockchainCert`, `DownloadBlockchainSdkConfig` and `CreateBlockchainCertByUserName` answer a zip file, not
JSON. The SDK returns it as a stream response: read it with `consume_download_stream`, whose callback gets the
HTTP response (headers and `iter_content`):

```python
import io
import zipfile

from huaweicloudsdkbcs.v2 import DownloadBlockchainCertRequest

response = client.download_blockchain_cert(
    DownloadBlockchainCertRequest(blockchain_id=blockchain_id, org_name="organization", cert_type="admin")
)
chunks = []
response.consume_download_stream(lambda stream: chunks.extend(stream.iter_content(chunk_size=65536)))
archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
print(archive.namelist())
```

## Operations

| operation | method and path | SDK method |
|---|---|---|
{index}
"""


def _json(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path, operation)`` grouped by tag in the reference's order."""
    found = [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items()]
    order = {tag: i for i, tag in enumerate(text.TAG_ORDER)}
    return sorted(found, key=lambda f: order.get(f[2]["tags"][0], len(order)))


def _sdk_call(operation: dict[str, Any]) -> str:
    method = operation.get("x-sdk-method")
    if not method:
        return "—"
    return f"`{method}`"


def _section(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### {op['operationId']}", "", op.get("description") or op["summary"], ""]
    lines.append(f"`{method} {path}`")
    lines.append("")
    if op.get("x-sdk-method"):
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        body_class = body.get("$ref", "").rsplit("/", 1)[-1]
        call = f"{op['x-sdk-request-class']}(" + ("body=" + body_class + "(...)" if body_class else "...") + ")"
        lines += [f"SDK: `client.{op['x-sdk-method']}({call})` → `{op['x-sdk-response-class']}`", ""]
    params = [p for p in op.get("parameters", []) if p["name"] != "project_id"]
    if params:
        lines.append(
            "Parameters: "
            + ", ".join(f"`{p['name']}` ({p['in']}{', required' if p.get('required') else ''})" for p in params)
        )
        lines.append("")
    example_params = {p["name"]: p["example"] for p in params if "example" in p}
    if example_params:
        lines += ["Example parameters:", "", _json(example_params), ""]
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        if "example" in content:
            lines += [f"Example request body (`{media}`):", "", _json(content["example"]), ""]
        elif media != "application/json":
            lines += [f"Request body: `{media}` (see the description).", ""]
    for status, answer in op["responses"].items():
        if not status.startswith("2"):
            continue
        for media, content in answer.get("content", {}).items():
            if "example" in content:
                lines += [f"Example answer ({status}, `{media}`):", "", _json(content["example"]), ""]
            else:
                lines += [f"Answer ({status}): `{media}` — {answer['description']}", ""]
        if not answer.get("content"):
            lines += [f"Answer ({status}): {answer['description']}", ""]
    codes = op.get("x-error-codes")
    if codes:
        lines += ["Errors:", "", "| HTTP | error_code | error_msg | when |", "|---|---|---|---|"]
        for code in codes:
            entry = CATALOG[code]
            lines.append(f"| {entry.status} | {code} | {entry.message} | {entry.when} |")
        lines.append("")
    elif path.startswith("/v3/"):
        statuses = ", ".join(sorted(op.get("responses", {}).keys() - {"200", "201"}))
        lines += [f'Errors: Keystone-shaped `{{"error": {{"code", "title", "message"}}}}` answers ({statuses}).', ""]
    return lines


def render(document: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document built by :func:`openbcs.openapi.document.build`."""
    operations = _operations(document)
    index = "\n".join(
        f"| [{op['operationId']}](#{op['operationId'].lower()}) | `{m} {p}` | {_sdk_call(op)} |"
        for m, p, op in operations
    )
    out = [HEADER.format(introduction=text.INTRODUCTION, index=index)]
    current = None
    for method, path, op in operations:
        tag = op["tags"][0]
        if tag != current:
            out += [f"## {tag}", "", text.TAGS.get(tag, ""), ""]
            current = tag
        out += _section(method, path, op)
    return "\n".join(out).rstrip() + "\n"
