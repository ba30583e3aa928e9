"""The official SDK (huaweicloudsdkbcs) driving the five certificate operations against a live server: file answers
read from the SDK's raw stream, the freeze form as the SDK encodes it (with and without a file), SDK errors.

The SDK is imported where it is used: importing it writes below $HOME, which ``tests/conftest.py`` points at a
temporary folder only once the session runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from openbcs.kernel.db import Database
from tests.certs.helpers import (
    Certs,
    cert,
    crl_of,
    domain,
    issued_by,
    issued_rows,
    leaf,
    names,
    org_pki,
    same_key,
    unchanged,
    unzip,
    zip_of,
)
from tests.support.accounts import TestAccount
from tests.support.expected import msp_id, org_hash, peer_names
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant, new_tenant


@pytest.fixture
def owner(live_server: LiveServer, make_account: Callable[..., TestAccount]) -> Iterator[Tenant]:
    """An account on the live server, called over plain HTTP for what the SDK is not under test for."""
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield new_tenant(http, make_account)


@pytest.fixture
def sdk(sdk_client: Callable[..., Any], owner: Tenant) -> Any:
    return sdk_client(owner.account)


@pytest.fixture
def bid(owner: Tenant) -> str:
    """The owner's instance ``bcs-sdk``: orga (2 peers) and the orderers, channel ``channel``."""
    return owner.create_instance("bcs-sdk", peer_orgs=[("orga", 2)])


def _read(response: Any) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files and headers of an SDK stream answer (``SdkStreamResponse.consume_download_stream``)."""
    from huaweicloudsdkcore.sdk_stream_response import SdkStreamResponse

    assert isinstance(response, SdkStreamResponse)
    assert response.status_code == 200
    got: dict[str, Any] = {}

    def consume(stream: Any) -> None:
        got["headers"] = dict(stream.headers)
        got["content"] = b"".join(stream.iter_content(chunk_size=4096))

    response.consume_download_stream(consume)
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["content-type"] == "application/zip"
    assert headers["content-disposition"].startswith('attachment; filename="')
    return unzip(got["content"]), headers


def _user_cert(sdk: Any, bid: str, *, hosted: bool | None) -> dict[str, bytes]:
    """CreateBlockchainCertByUserName of ``sdkuser`` in orga; ``hosted=None`` sends no body (the SDK's default)."""
    from huaweicloudsdkbcs.v2 import CreateBlockchainCertByUserNameRequest, CreateBlockchainCertByUserNameRequestBody

    body = None if hosted is None else CreateBlockchainCertByUserNameRequestBody(security_mode=hosted)
    request = CreateBlockchainCertByUserNameRequest(blockchain_id=bid, org_name="orga", user_name="sdkuser", body=body)
    return _read(sdk.create_blockchain_cert_by_user_name(request))[0]


def test_download_and_user_certificates_through_the_sdk(sdk: Any, bid: str, db: Database) -> None:
    from huaweicloudsdkbcs.v2 import DownloadBlockchainCertRequest

    ca = cert(org_pki(db, bid, "orga").ca_cert)
    for org, cert_type in (("orga", "admin"), ("orga", "user"), ("orderer", "admin"), ("orga", "ca")):
        files, headers = _read(
            sdk.download_blockchain_cert(
                DownloadBlockchainCertRequest(blockchain_id=bid, org_name=org, cert_type=cert_type)
            )
        )
        assert headers["content-disposition"] == f'attachment; filename="bcs-sdk-{org}-{cert_type}.zip"'
        org_ca = cert(org_pki(db, bid, org).ca_cert)
        assert files[f"msp/cacerts/ca.{domain(bid, org)}-cert.pem"].decode() == org_pki(db, bid, org).ca_cert
        if cert_type != "ca":
            _, signcert = leaf(files, "signcerts")
            assert issued_by(signcert, org_ca)
            assert same_key(signcert, files["msp/keystore/priv_sk"])
            assert issued_by(cert(files["tls/client.crt"]), cert(files["tls/ca.crt"]))
        else:
            assert not any(p.startswith(("msp/signcerts", "msp/keystore", "tls/")) for p in files)

    a, b = _user_cert(sdk, bid, hosted=True), _user_cert(sdk, bid, hosted=True)
    assert a["msp/signcerts/sdkuser@orga-cert.pem"] == b["msp/signcerts/sdkuser@orga-cert.pem"]
    _, user = leaf(a, "signcerts")
    assert issued_by(user, ca)
    assert names(user) == ["sdkuser"]
    assert same_key(user, a["msp/keystore/priv_sk"])
    # Without a body (the SDK sends none): a user-managed certificate, new each time.
    plain = _user_cert(sdk, bid, hosted=None)
    assert leaf(plain, "signcerts")[1].serial_number != user.serial_number
    rows = issued_rows(db, bid, "orga", role="enrolled")
    assert [(r.user_name, r.hosted, r.key is None) for r in rows] == [
        ("sdkuser", True, False),
        ("sdkuser", False, True),
    ]


def _set_frozen(sdk: Any, bid: str, action: str, *, form: bool, upload: Path | None = None) -> Any:
    """FreezeCert / UnfreezeCert of alice in orga through the SDK: without a body model (``form=False``), with one
    and no file, or with the file ``upload``."""
    from huaweicloudsdkbcs.v2 import (
        FreezeCertRequest,
        FreezeCertRequestBody,
        UnfreezeCertRequest,
        UnfreezeCertRequestBody,
    )
    from huaweicloudsdkcore.http.formdata import FormFile

    request_type, body_type = {
        "freeze": (FreezeCertRequest, FreezeCertRequestBody),
        "unfreeze": (UnfreezeCertRequest, UnfreezeCertRequestBody),
    }[action]
    body = body_type(file=FormFile(str(upload)) if upload else None) if form else None
    request = request_type(user_name="alice", blockchain_id=bid, org_name="orga", body=body)
    return sdk.freeze_cert(request) if action == "freeze" else sdk.unfreeze_cert(request)


def test_freeze_and_unfreeze_through_the_sdk(sdk: Any, bid: str, db: Database, tmp_path: Path, owner: Tenant) -> None:
    from huaweicloudsdkbcs.v2 import FreezeCertResponse, UnfreezeCertResponse
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    api = Certs(owner)
    first = api.issue(bid, "orga", "alice", hosted=False)
    second = api.issue(bid, "orga", "alice", hosted=False)
    ca = cert(org_pki(db, bid, "orga").ca_cert)
    s1, s2 = (leaf(f, "signcerts")[1].serial_number for f in (first, second))

    def crl() -> tuple[int, set[int]]:
        return crl_of(api.archive(bid, "orga", "ca")["msp/crls/crl.pem"], ca)

    def upload(content: bytes) -> Path:
        path = tmp_path / "usercert.zip"
        path.write_bytes(content)
        return path

    # With a file: exactly that certificate.
    frozen = _set_frozen(sdk, bid, "freeze", form=True, upload=upload(zip_of(first)))
    assert isinstance(frozen, FreezeCertResponse)
    assert (frozen.status_code, frozen.result) == (200, "success")
    assert crl() == (1, {s1})
    # Without a file (no body model): every certificate of the user.
    frozen = _set_frozen(sdk, bid, "freeze", form=False)
    assert (frozen.status_code, frozen.result) == (200, "success")
    assert crl() == (2, {s1, s2})
    assert all(r.revoked_at is not None for r in issued_rows(db, bid, "orga", role="enrolled"))

    # A refusal surfaces as the SDK's ClientRequestException with the BCS code; nothing changes.
    with unchanged(db):
        with pytest.raises(ClientRequestException) as raised:
            _set_frozen(sdk, bid, "freeze", form=True)  # a body model without a file
        assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4006003")
        assert raised.value.error_msg == "Invalid Parameter user alice status : already frozen"
        with pytest.raises(ClientRequestException) as raised:
            _set_frozen(sdk, bid, "unfreeze", form=True, upload=upload(b"not a zip"))
        assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4006014")
        assert raised.value.error_msg == "Invalid Parameter file : not a zip archive"

    unfrozen = _set_frozen(sdk, bid, "unfreeze", form=True, upload=upload(zip_of(second)))
    assert isinstance(unfrozen, UnfreezeCertResponse)
    assert (unfrozen.status_code, unfrozen.result) == (200, "success")
    assert crl() == (3, {s1})
    unfrozen = _set_frozen(sdk, bid, "unfreeze", form=True)
    assert unfrozen.result == "success"
    assert crl() == (4, set())
    assert all(r.revoked_at is None for r in issued_rows(db, bid, "orga", role="enrolled"))


def _sdk_config(sdk: Any, bid: str, **fields: Any) -> Any:
    from huaweicloudsdkbcs.v2 import CfgRequestBody, DownloadBlockchainSdkConfigRequest

    return sdk.download_blockchain_sdk_config(
        DownloadBlockchainSdkConfigRequest(blockchain_id=bid, body=CfgRequestBody(**fields))
    )


def test_sdk_config_and_errors_through_the_sdk(sdk: Any, bid: str, db: Database) -> None:
    from huaweicloudsdkbcs.v2 import DownloadBlockchainCertRequest
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    files, headers = _read(
        _sdk_config(
            sdk,
            bid,
            chaincode_name="sdkcc01",
            cert_path="/srv/crypto",
            channel_name="channel",
            peer_orgs={"orga": ["0", "1"]},
            union_info={"me": [org_hash(bid, "orga")]},
            is_multi_chan=False,
        )
    )
    assert headers["content-disposition"] == 'attachment; filename="bcs-sdk-sdk-config.zip"'
    profile = yaml.safe_load(files["sdk-config.yaml"])
    assert profile["organizations"]["orga"]["mspid"] == msp_id(bid, "orga")
    assert list(profile["peers"]) == peer_names(bid, "orga", 2)
    assert profile["channels"]["channel"]["chaincodes"] == ["sdkcc01"]
    for entry in [*profile["peers"].values(), *profile["orderers"].values()]:
        tlsca = files[entry["tlsCACerts"]["path"].removeprefix("/srv/crypto/")]
        assert issued_by(cert(tlsca), cert(tlsca))

    with unchanged(db):
        with pytest.raises(ClientRequestException) as raised:
            sdk.download_blockchain_cert(
                DownloadBlockchainCertRequest(blockchain_id=bid, org_name="orga", cert_type="blok")
            )
        assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4006005")
        assert raised.value.error_msg == "keyType error, keyType: blok not supported"
        with pytest.raises(ClientRequestException) as raised:
            sdk.download_blockchain_cert(
                DownloadBlockchainCertRequest(blockchain_id=bid, org_name="nope", cert_type="ca")
            )
        assert (raised.value.error_code, raised.value.error_msg) == ("BCS.4001051", "Input org nope is not exist")
        with pytest.raises(ClientRequestException) as raised:
            _sdk_config(
                sdk, bid, chaincode_name="sdkcc01", cert_path="/c", channel_name="nochan", peer_orgs={"orga": ["0"]}
            )
        assert (raised.value.error_code, raised.value.error_msg) == (
            "BCS.4001052",
            "Input channel nochan is not exist",
        )
