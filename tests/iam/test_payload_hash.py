"""A signed ``X-Sdk-Content-Sha256`` must cover the body received (issue 12 item 4): a hex digest is the SHA-256 of
that very body, and ``UNSIGNED-PAYLOAD`` is accepted only with the non-JSON content types the official SDKs send it
for. Otherwise a captured request could be replayed with any body for as long as its date is valid.

Requests are signed by the official Python SDK's Signer and, where ``OPENBCS_HUAWEICLOUD_SDK_CORE_DIR`` names a
directory holding ``@huaweicloud/huaweicloud-sdk-core`` (``scripts/install-huaweicloud-sdk-core``), by the Node.js
core's signer too. Runs on SQLite and on PostgreSQL like the rest of the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from openbcs.kernel.db import Database
from openbcs.network.models import Instance
from tests.iam.helpers import assert_empty_records, records_path, signed_request
from tests.support.accounts import TestAccount
from tests.support.bodies import create_body
from tests.support.errors import assert_unauthorized
from tests.support.servers import LiveServer
from tests.support.snapshots import row_count, snapshot

NODE_SIGNER = Path(__file__).with_name("node_signer.js")


def _blockchains(project_id: str) -> str:
    return f"/v2/{project_id}/blockchains"


def _post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(url, headers=headers, content=body, timeout=30)


def _instances(db: Database, name: str) -> int:
    return row_count(db, Instance, Instance.name == name)


def _signed_create(
    server: LiveServer, account: TestAccount, body: bytes, content_type: str | None, content_sha256: str
) -> tuple[str, dict[str, str]]:
    """CreateNewBlockchain signed by the official SDK's Signer with this ``X-Sdk-Content-Sha256`` (signed)."""
    return signed_request(
        server.url,
        "POST",
        _blockchains(account.project_id),
        account=account,
        body=body,
        content_type=content_type,
        extra_headers={"X-Sdk-Content-Sha256": content_sha256},
    )


def test_a_signed_digest_of_another_body_is_refused_and_changes_nothing(
    live_server: LiveServer, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    signed_body = json.dumps(create_body("signed-body")).encode()
    other_body = json.dumps(create_body("other-body")).encode()
    digest = hashlib.sha256(signed_body).hexdigest()
    url, headers = _signed_create(live_server, account, signed_body, "application/json", digest)
    assert "x-sdk-content-sha256" in headers["Authorization"]
    before = snapshot(db)

    assert_unauthorized(_post(url, headers, other_body))
    assert_unauthorized(_post(url, headers, b""))
    assert snapshot(db) == before

    # The same headers with the body they were signed for go through.
    answer = _post(url, headers, signed_body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["blockchain_name"] == "signed-body"
    assert (_instances(db, "signed-body"), _instances(db, "other-body")) == (1, 0)


def test_unsigned_payload_with_a_json_body_is_refused_where_no_sdk_sends_it(
    live_server: LiveServer, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    body = json.dumps(create_body("unsigned-json")).encode()
    before = snapshot(db)
    # Exactly application/json, or no Content-Type at all: neither core sends UNSIGNED-PAYLOAD with them.
    for content_type in ("application/json", None):
        url, headers = _signed_create(live_server, account, body, content_type, "UNSIGNED-PAYLOAD")
        assert_unauthorized(_post(url, headers, body))
        assert snapshot(db) == before


@pytest.mark.parametrize("body", [b"", b"opaque bytes"])
def test_unsigned_payload_where_the_python_sdk_sends_it_is_accepted(
    live_server: LiveServer, make_account: Callable[..., TestAccount], body: bytes
) -> None:
    account = make_account()
    path, multipart = records_path(account.project_id), "multipart/form-data; boundary=x"
    url, headers = signed_request(live_server.url, "GET", path, account=account, body=body, content_type=multipart)
    # The SDK's own Signer added and signed it.
    assert headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert_empty_records(httpx.request("GET", url, headers=headers, content=body, timeout=10))


def _node_core() -> Path:
    directory = os.environ.get("OPENBCS_HUAWEICLOUD_SDK_CORE_DIR")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not directory:
        pytest.skip("OPENBCS_HUAWEICLOUD_SDK_CORE_DIR is not set (run scripts/install-huaweicloud-sdk-core)")
    if not (Path(directory) / "node_modules" / "@huaweicloud" / "huaweicloud-sdk-core").is_dir():
        pytest.skip(f"@huaweicloud/huaweicloud-sdk-core is not installed under {directory}")
    return Path(directory)


def _node_signed(
    server: LiveServer, account: TestAccount, method: str, path: str, content_type: str, body: str
) -> dict[str, str]:
    spec = {
        "ak": account.ak,
        "sk": account.sk,
        "method": method,
        "endpoint": server.url,
        "path": path,
        "headers": {"Content-Type": content_type, "X-Project-Id": account.project_id},
        "body": body,
    }
    done = subprocess.run(
        ["node", str(NODE_SIGNER), str(_node_core()), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    headers: dict[str, str] = json.loads(done.stdout)
    return headers


def test_the_nodejs_core_signer_is_accepted(
    live_server: LiveServer, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    # A JSON type with a charset is not JSON to the Node.js core: it signs UNSIGNED-PAYLOAD, even without a body
    # (where the Python core would sign the empty body's hash).
    headers = _node_signed(
        live_server, account, "GET", records_path(account.project_id), "application/json;charset=UTF-8", ""
    )
    assert headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert_empty_records(httpx.get(live_server.url + records_path(account.project_id), headers=headers, timeout=10))

    # Exactly application/json: the body's hash is signed; the body sent is JSON.stringify's.
    body = json.dumps(create_body("node-signed"), separators=(",", ":"))
    headers = _node_signed(live_server, account, "POST", _blockchains(account.project_id), "application/json", body)
    assert "X-Sdk-Content-Sha256" not in headers
    url = live_server.url + _blockchains(account.project_id)
    assert_unauthorized(_post(url, headers, json.dumps(create_body("node-other"), separators=(",", ":")).encode()))
    answer = _post(url, headers, body.encode())
    assert answer.status_code == 200, answer.text
    assert (_instances(db, "node-signed"), _instances(db, "node-other")) == (1, 0)
