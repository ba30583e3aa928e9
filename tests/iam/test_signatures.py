"""AK/SK signatures on the BCS API: the official SDK end to end, and hand-made variants with httpx."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from huaweicloudsdkbcs.v2 import BcsClient, ListOpRecordRequest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.region.region import Region

from openbcs.kernel.db import Database
from tests.iam.helpers import (
    access_key_row,
    access_keys_of,
    assert_empty_records,
    held_token,
    records_path,
    signed_request,
    user_of,
)
from tests.support.accounts import TestAccount
from tests.support.errors import assert_forbidden, assert_unauthorized, request_id_of
from tests.support.servers import LiveServer

Mutation = Callable[[dict[str, str]], dict[str, str]]
QUERY = "?blockchain_id=x%20y&operation_status=finished&resource_type=BCSSVC01"


def _get(url: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
    return httpx.request("GET", url, headers=headers, content=content, timeout=10)


def test_sdk_lists_records(sdk_client: Callable[..., BcsClient], make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    response = sdk_client(account).list_op_record(ListOpRecordRequest())
    assert response.status_code == 200
    assert response.count == 0
    assert response.operation_records == []


def test_sdk_with_filters(sdk_client: Callable[..., BcsClient], make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    request = ListOpRecordRequest(blockchain_id="x y+z", operation_status="finished", resource_type="BCSSVC01")
    response = sdk_client(account).list_op_record(request)
    assert (response.status_code, response.count, response.operation_records) == (200, 0, [])


def test_sdk_with_a_wrong_secret_key(
    sdk_client: Callable[..., BcsClient], make_account: Callable[..., TestAccount]
) -> None:
    account = make_account()
    wrong = account.sk[:-1] + ("a" if account.sk[-1] != "a" else "b")
    with pytest.raises(ClientRequestException) as caught:
        sdk_client(account, sk=wrong).list_op_record(ListOpRecordRequest())
    assert caught.value.status_code == 401
    assert caught.value.error_code == "BCS.4010401"
    assert caught.value.error_msg == "Incorrect token or token resolution failed"
    assert len(caught.value.request_id) == 32


def test_sdk_with_another_accounts_project(
    sdk_client: Callable[..., BcsClient], make_account: Callable[..., TestAccount]
) -> None:
    account, other = make_account(), make_account()
    with pytest.raises(ClientRequestException) as caught:
        sdk_client(account, project_id=other.project_id).list_op_record(ListOpRecordRequest())
    assert caught.value.status_code == 403
    assert caught.value.error_code == "BCS.4030403"
    assert caught.value.error_msg == f"forbidden to project [{other.project_id}]"


def test_signed_request_verifies(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id) + QUERY, account=account)
    assert headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={account.ak}, SignedHeaders=")
    assert_empty_records(_get(url, headers))


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-16), False),
        (timedelta(minutes=-14), True),
        (timedelta(minutes=14), True),
        (timedelta(minutes=16), False),
        (timedelta(days=-365), False),
    ],
)
def test_sdk_date_skew(
    live_server: LiveServer, make_account: Callable[..., TestAccount], offset: timedelta, accepted: bool
) -> None:
    account = make_account()
    url, headers = signed_request(
        live_server.url, "GET", records_path(account.project_id), account=account, sdk_date=datetime.now(UTC) + offset
    )
    response = _get(url, headers)
    if accepted:
        assert_empty_records(response)
    else:
        assert_unauthorized(response)


def test_unknown_access_key(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    url, headers = signed_request(
        live_server.url, "GET", records_path(account.project_id), account=account, ak="UNKNOWNAK00000000000"
    )
    assert_unauthorized(_get(url, headers))


def test_another_accounts_secret_key(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account, other = make_account(), make_account()
    url, headers = signed_request(
        live_server.url, "GET", records_path(account.project_id), account=account, sk=other.sk
    )
    assert_unauthorized(_get(url, headers))


def _authorization(change: Callable[[str, str], str]) -> Mutation:
    """Replace the Authorization header by ``change(authorization, signature)``."""

    def mutate(headers: dict[str, str]) -> dict[str, str]:
        authorization = headers["Authorization"]
        return {**headers, "Authorization": change(authorization, authorization.rsplit("Signature=", 1)[1])}

    return mutate


def _flip_last(signature: str) -> str:
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")


# Ways a signed request's headers get altered after signing; each must make the signature prove nothing.
MUTATIONS: dict[str, Mutation] = {
    "bearer": _authorization(lambda _, signature: "Bearer " + signature),
    "algorithm-only": _authorization(lambda *_: "SDK-HMAC-SHA256"),
    "other-algorithm": _authorization(lambda auth, _: auth.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3")),
    "short-signature": _authorization(lambda auth, _: auth[:-1]),
    "flipped-signature": _authorization(lambda auth, signature: auth[: -len(signature)] + _flip_last(signature)),
    "no-signature": _authorization(lambda auth, _: auth.split(", Signature=")[0]),
    "upper-case-signed-headers": _authorization(lambda auth, _: auth.replace("host", "Host")),
    "date-not-signed": _authorization(lambda auth, _: auth.replace(";x-sdk-date", "")),
    "host-not-signed": _authorization(lambda auth, _: auth.replace(";host;", ";")),
    "empty": _authorization(lambda *_: ""),
    "no-date-header": lambda headers: {k: v for k, v in headers.items() if k != "X-Sdk-Date"},
    "date-with-dashes": lambda headers: {**headers, "X-Sdk-Date": "2024-01-01T00:00:00Z"},
    "changed-date": lambda headers: {
        **headers,
        "X-Sdk-Date": (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ"),
    },
    "changed-user-agent": lambda headers: {**headers, "User-Agent": "someone-else"},
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_malformed_or_altered_authorization(
    live_server: LiveServer, make_account: Callable[..., TestAccount], mutation: str
) -> None:
    account = make_account()
    url, headers = signed_request(
        live_server.url,
        "GET",
        records_path(account.project_id),
        account=account,
        sdk_date=datetime.now(UTC) - timedelta(minutes=2),
    )
    assert_empty_records(_get(url, headers))  # the unaltered request is fine
    altered = MUTATIONS[mutation](headers)
    assert altered != headers
    assert_unauthorized(_get(url, altered))


def test_body_tampered_after_signing(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    body = b'{"blockchain_id": "a"}'
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id), account=account, body=body)
    assert_empty_records(_get(url, headers, content=body))
    assert_unauthorized(_get(url, headers, content=b'{"blockchain_id": "b"}'))
    assert_unauthorized(_get(url, headers, content=b""))


def test_unsigned_payload_header_added_after_signing(
    live_server: LiveServer, make_account: Callable[..., TestAccount]
) -> None:
    account = make_account()
    body = b'{"blockchain_id": "a"}'
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id), account=account, body=body)
    # X-Sdk-Content-Sha256 only counts when signed: adding it later does not make the body unsigned.
    sneaky = {**headers, "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
    assert_unauthorized(_get(url, sneaky, content=b'{"blockchain_id": "b"}'))


def test_path_and_query_tampered_after_signing(
    live_server: LiveServer, make_account: Callable[..., TestAccount]
) -> None:
    account, other = make_account(), make_account()
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id) + QUERY, account=account)
    assert_empty_records(_get(url, headers))
    assert_unauthorized(_get(url.replace("finished", "failed"), headers))
    assert_unauthorized(_get(url + "&operation_type=01", headers))
    assert_unauthorized(_get(url.split("?")[0], headers))
    assert_unauthorized(_get(url.replace(account.project_id, other.project_id), headers))


def test_host_changed_after_signing(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account = make_account()
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id), account=account)
    assert headers["Host"] == f"127.0.0.1:{live_server.port}"
    assert_unauthorized(_get(url, {**headers, "Host": f"localhost:{live_server.port}"}))


@pytest.mark.parametrize("claimed", ["other-account", "unknown"])
def test_x_project_id_different_from_the_path(
    live_server: LiveServer, make_account: Callable[..., TestAccount], claimed: str
) -> None:
    account, other = make_account(), make_account()
    header = other.project_id if claimed == "other-account" else "1" * 32
    url, headers = signed_request(
        live_server.url,
        "GET",
        records_path(account.project_id),
        account=account,
        extra_headers={"X-Project-Id": header},
    )
    assert headers["X-Project-Id"] == header  # signed as sent: the signature itself is valid
    assert_forbidden(_get(url, headers), account.project_id)


def test_signed_for_another_accounts_project(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account, other = make_account(), make_account()
    url, headers = signed_request(
        live_server.url, "GET", records_path(other.project_id), account=account, project_id=other.project_id
    )
    assert_forbidden(_get(url, headers), other.project_id)
    url, headers = signed_request(
        live_server.url, "GET", records_path(other.project_id), account=account, project_id=""
    )
    assert "X-Project-Id" not in headers
    assert_forbidden(_get(url, headers), other.project_id)


def test_deleted_access_key_is_refused(
    live_server: LiveServer,
    make_account: Callable[..., TestAccount],
    db: Database,
    cli: Callable[..., Result],
) -> None:
    account = make_account()
    created = cli("key", "create", account.name, "--json")
    assert created.exit_code == 0, created.output
    second = json.loads(created.stdout)
    assert {k.access_key for k in access_keys_of(db, account.created.user_id)} == {account.ak, second["access_key"]}

    path = records_path(account.project_id)
    url, headers = signed_request(live_server.url, "GET", path, account=account)
    assert_empty_records(_get(url, headers))

    deleted = cli("key", "delete", account.ak, "--json")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.stdout) == {"deleted": account.ak}
    assert access_key_row(db, account.ak) is None
    assert [k.access_key for k in access_keys_of(db, account.created.user_id)] == [second["access_key"]]

    url, headers = signed_request(live_server.url, "GET", path, account=account)
    assert_unauthorized(_get(url, headers))
    # The account's other key still works.
    url, headers = signed_request(
        live_server.url, "GET", path, account=account, ak=second["access_key"], sk=second["secret_key"]
    )
    assert_empty_records(_get(url, headers))


@pytest.mark.parametrize(
    "sent_query",
    [
        "?resource_type=BCSSVC01&operation_status=finished&blockchain_id=x%20y",
        "?operation_status=finished&blockchain_id=x%20y&resource_type=BCSSVC01",
        "?operation_status=fin%69shed&blockchain_id=x%20y&resource_type=BCSSVC01",
    ],
)
def test_query_resent_in_another_order_still_verifies(
    live_server: LiveServer, make_account: Callable[..., TestAccount], sent_query: str
) -> None:
    account = make_account()
    url, headers = signed_request(live_server.url, "GET", records_path(account.project_id) + QUERY, account=account)
    resent = url.split("?")[0] + sent_query
    assert resent != url
    assert_empty_records(_get(resent, headers))


def test_sdk_discovers_its_project_id(
    live_server: LiveServer, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account()
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", live_server.url)
    credentials = BasicCredentials(account.ak, account.sk)
    assert credentials.project_id is None
    client = (
        BcsClient.new_builder().with_credentials(credentials).with_region(Region("cn-north-4", live_server.url)).build()
    )
    # The project id came from GET /v3/projects?name=cn-north-4 on the live server.
    assert credentials.project_id == account.project_id
    response = client.list_op_record(ListOpRecordRequest())
    assert (response.status_code, response.count, response.operation_records) == (200, 0, [])


def test_project_list_for_a_signed_caller(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> None:
    account, other = make_account(), make_account()
    expected = {
        "id": account.project_id,
        "name": "cn-north-4",
        "domain_id": account.domain_id,
        "parent_id": account.domain_id,
        "enabled": True,
        "is_domain": False,
        "description": "",
    }
    for query, projects in (("?name=cn-north-4", [expected]), ("", [expected]), ("?name=cn-south-1", [])):
        # Signed as the SDK signs its discovery call: no X-Project-Id, no Content-Type.
        url, headers = signed_request(
            live_server.url, "GET", "/v3/projects" + query, account=account, project_id="", content_type=None
        )
        assert "X-Project-Id" not in headers
        response = _get(url, headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"projects": projects}
        assert other.project_id not in response.text
        request_id_of(response)

    url, headers = signed_request(
        live_server.url, "GET", "/v3/projects?name=cn-north-4", account=account, project_id="", sk=other.sk
    )
    # An IAM endpoint answers in IAM's (Keystone's) shape, like POST /v3/auth/tokens.
    keystone_401 = {
        "error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}
    }
    for response in (_get(url, headers), _get(live_server.url + "/v3/projects?name=cn-north-4", {})):
        assert response.status_code == 401
        assert response.json() == keystone_401
        request_id_of(response)


def test_deleting_a_key_also_ends_the_owners_tokens(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database, cli: Callable[..., Result]
) -> None:
    account = make_account()
    held = held_token(client, db, account)

    assert cli("key", "delete", account.ak).exit_code == 0

    assert access_key_row(db, account.ak) is None
    assert user_of(db, account.name).credential_version == held.credential_version + 1
    assert_unauthorized(held.records(client))


def test_a_literal_plus_in_a_signed_query_is_refused(
    live_server: LiveServer, make_account: Callable[..., TestAccount]
) -> None:
    """'+' is a literal plus to the signature but a space to the query parser: the ambiguity is refused."""
    account = make_account()
    path = records_path(account.project_id)
    url, headers = signed_request(live_server.url, "GET", path + "?blockchain_id=a%2Bb", account=account)
    assert_empty_records(_get(url, headers))
    # The same signed request with %2B rewritten to a raw '+' would still verify; it is refused instead.
    assert_unauthorized(_get(url.replace("%2B", "+"), headers))
