"""The official SDK (huaweicloudsdkbcs) driving the five certificate operations against a live server: file answers
read from the SDK's raw stream, the freeze form as the SDK encodes it (with and without a file), SDK errors."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from openbcs.kernel.db import Database
from tests.instances.helpers import Tenant, create_instance, new_tenant
from tests.certs.helpers import (
    Certs,
    cert,
    crl_of,
    domain,
    issued_by,
    issued_rows,
    leaf,
    msp_id,
    names,
    org_hash,
    org_pki,
    pki_state,
    same_key,
    unzip,
)
from tests.support import LiveServer


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(http: httpx.Client, make_account: Callable[..., Any]) -> Tenant:
    return new_tenant(http, make_account)  # type: ignore[arg-type]


@pytest.fixture
def sdk(sdk_client: Callable[..., Any], owner: Tenant) -> Any:
    return sdk_client(owner.account)


@pytest.fixture
def instance(http: httpx.Client, owner: Tenant) -> str:
    return create_instance(
        http,  # type: ignore[arg-type]
        owner.headers,
        owner.project_id,
        "bcs-sdk",
        peer_orgs=[{"name": "orga", "node_count": 2}],
    )


def _read(response: Any) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers of an SDK stream answer (``SdkStreamResponse.consume_download_stream``)."""
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
    return got["content"], headers


def _files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _form_file(tmp_path: Path, content: bytes) -> Any:
    from huaweicloudsdkcore.http.formdata import FormFile

    path = tmp_path / "usercert.zip"
    path.write_bytes(content)
    return FormFile(str(path))


def test_download_and_user_certificates_through_the_sdk(sdk: Any, instance: str, db: Database) -> None:
    from huaweicloudsdkbcs.v2 import (
        CreateBlockchainCertByUserNameRequest,
        CreateBlockchainCertByUserNameRequestBody,
        DownloadBlockchainCertRequest,
    )

    bid = instance
    ca = cert(org_pki(db, bid, "orga").ca_cert)
    for org, cert_type in (("orga", "admin"), ("orga", "user"), ("orderer", "admin"), ("orga", "ca")):
        content, headers = _read(
            sdk.download_blockchain_cert(
                DownloadBlockchainCertRequest(blockchain_id=bid, org_name=org, cert_type=cert_type)
            )
        )
        assert headers["content-disposition"] == f'attachment; filename="bcs-sdk-{org}-{cert_type}.zip"'
        files = _files(content)
        org_ca = cert(org_pki(db, bid, org).ca_cert)
        assert files[f"msp/cacerts/ca.{domain(bid, org)}-cert.pem"].decode() == org_pki(db, bid, org).ca_cert
        if cert_type != "ca":
            _, signcert = leaf(files, "signcerts")
            assert issued_by(signcert, org_ca)
            assert same_key(signcert, files["msp/keystore/priv_sk"])
            assert issued_by(cert(files["tls/client.crt"]), cert(files["tls/ca.crt"]))
        else:
            assert not any(p.startswith(("msp/signcerts", "msp/keystore", "tls/")) for p in files)

    hosted = [
        _read(
            sdk.create_blockchain_cert_by_user_name(
                CreateBlockchainCertByUserNameRequest(
                    blockchain_id=bid,
                    org_name="orga",
                    user_name="sdkuser",
                    body=CreateBlockchainCertByUserNameRequestBody(security_mode=True),
                )
            )
        )[0]
        for _ in range(2)
    ]
    a, b = _files(hosted[0]), _files(hosted[1])
    assert a["msp/signcerts/sdkuser@orga-cert.pem"] == b["msp/signcerts/sdkuser@orga-cert.pem"]
    _, user = leaf(a, "signcerts")
    assert issued_by(user, ca)
    assert names(user) == ["sdkuser"]
    assert same_key(user, a["msp/keystore/priv_sk"])
    # Without a body (the SDK sends none): a user-managed certificate, new each time.
    plain = _files(
        _read(
            sdk.create_blockchain_cert_by_user_name(
                CreateBlockchainCertByUserNameRequest(blockchain_id=bid, org_name="orga", user_name="sdkuser")
            )
        )[0]
    )
    assert leaf(plain, "signcerts")[1].serial_number != user.serial_number
    rows = issued_rows(db, bid, "orga", role="enrolled")
    assert [(r.user_name, r.hosted, r.key is None) for r in rows] == [
        ("sdkuser", True, False),
        ("sdkuser", False, True),
    ]


def test_freeze_and_unfreeze_through_the_sdk(
    sdk: Any, instance: str, db: Database, tmp_path: Path, http: httpx.Client, owner: Tenant
) -> None:
    from huaweicloudsdkbcs.v2 import (
        FreezeCertRequest,
        FreezeCertRequestBody,
        FreezeCertResponse,
        UnfreezeCertRequest,
        UnfreezeCertRequestBody,
        UnfreezeCertResponse,
    )
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    bid = instance
    api = Certs(http, owner)
    first = api.issue(bid, "orga", "alice", hosted=False)
    second = api.issue(bid, "orga", "alice", hosted=False)
    ca = cert(org_pki(db, bid, "orga").ca_cert)
    s1, s2 = (leaf(f, "signcerts")[1].serial_number for f in (first, second))

    def crl() -> tuple[int, set[int]]:
        return crl_of(api.archive(bid, "orga", "ca")["msp/crls/crl.pem"], ca)

    def zipped(files: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        return buffer.getvalue()

    # With a file: exactly that certificate.
    frozen = sdk.freeze_cert(
        FreezeCertRequest(
            user_name="alice",
            blockchain_id=bid,
            org_name="orga",
            body=FreezeCertRequestBody(file=_form_file(tmp_path, zipped(first))),
        )
    )
    assert isinstance(frozen, FreezeCertResponse)
    assert (frozen.status_code, frozen.result) == (200, "success")
    assert crl() == (1, {s1})
    # Without a file (no body model, and a body model without a file): every certificate of the user.
    frozen = sdk.freeze_cert(FreezeCertRequest(user_name="alice", blockchain_id=bid, org_name="orga"))
    assert (frozen.status_code, frozen.result) == (200, "success")
    assert crl() == (2, {s1, s2})
    assert all(r.revoked_at is not None for r in issued_rows(db, bid, "orga", role="enrolled"))

    # A refusal surfaces as the SDK's ClientRequestException with the BCS code; nothing changes.
    before = pki_state(db)
    with pytest.raises(ClientRequestException) as refused:
        sdk.freeze_cert(
            FreezeCertRequest(user_name="alice", blockchain_id=bid, org_name="orga", body=FreezeCertRequestBody())
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "BCS.4006003")
    assert refused.value.error_msg == "Invalid Parameter user alice status : already frozen"
    with pytest.raises(ClientRequestException) as refused:
        sdk.unfreeze_cert(
            UnfreezeCertRequest(
                user_name="alice",
                blockchain_id=bid,
                org_name="orga",
                body=UnfreezeCertRequestBody(file=_form_file(tmp_path, b"not a zip")),
            )
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "BCS.4006014")
    assert refused.value.error_msg == "Invalid Parameter file : not a zip archive"
    assert pki_state(db) == before

    unfrozen = sdk.unfreeze_cert(
        UnfreezeCertRequest(
            user_name="alice",
            blockchain_id=bid,
            org_name="orga",
            body=UnfreezeCertRequestBody(file=_form_file(tmp_path, zipped(second))),
        )
    )
    assert isinstance(unfrozen, UnfreezeCertResponse)
    assert (unfrozen.status_code, unfrozen.result) == (200, "success")
    assert crl() == (3, {s1})
    unfrozen = sdk.unfreeze_cert(
        UnfreezeCertRequest(user_name="alice", blockchain_id=bid, org_name="orga", body=UnfreezeCertRequestBody())
    )
    assert unfrozen.result == "success"
    assert crl() == (4, set())
    assert all(r.revoked_at is None for r in issued_rows(db, bid, "orga", role="enrolled"))


def test_sdk_config_and_errors_through_the_sdk(sdk: Any, instance: str, db: Database) -> None:
    from huaweicloudsdkbcs.v2 import CfgRequestBody, DownloadBlockchainCertRequest, DownloadBlockchainSdkConfigRequest
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    bid = instance
    content, headers = _read(
        sdk.download_blockchain_sdk_config(
            DownloadBlockchainSdkConfigRequest(
                blockchain_id=bid,
                body=CfgRequestBody(
                    chaincode_name="sdkcc01",
                    cert_path="/srv/crypto",
                    channel_name="channel",
                    peer_orgs={"orga": ["0", "1"]},
                    union_info={"me": [org_hash(bid, "orga")]},
                    is_multi_chan=False,
                ),
            )
        )
    )
    assert headers["content-disposition"] == 'attachment; filename="bcs-sdk-sdk-config.zip"'
    files = unzip(content)
    profile = yaml.safe_load(files["sdk-config.yaml"])
    assert profile["organizations"]["orga"]["mspid"] == msp_id(bid, "orga")
    assert list(profile["peers"]) == [f"peer-{org_hash(bid, 'orga')}-{i}" for i in (0, 1)]
    assert profile["channels"]["channel"]["chaincodes"] == ["sdkcc01"]
    for entry in [*profile["peers"].values(), *profile["orderers"].values()]:
        tlsca = files[entry["tlsCACerts"]["path"].removeprefix("/srv/crypto/")]
        assert issued_by(cert(tlsca), cert(tlsca))

    with pytest.raises(ClientRequestException) as refused:
        sdk.download_blockchain_cert(
            DownloadBlockchainCertRequest(blockchain_id=bid, org_name="orga", cert_type="blok")
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "BCS.4006005")
    assert refused.value.error_msg == "keyType error, keyType: blok not supported"
    with pytest.raises(ClientRequestException) as refused:
        sdk.download_blockchain_cert(DownloadBlockchainCertRequest(blockchain_id=bid, org_name="nope", cert_type="ca"))
    assert (refused.value.error_code, refused.value.error_msg) == ("BCS.4001051", "Input org nope is not exist")
    with pytest.raises(ClientRequestException) as refused:
        sdk.download_blockchain_sdk_config(
            DownloadBlockchainSdkConfigRequest(
                blockchain_id=bid,
                body=CfgRequestBody(
                    chaincode_name="sdkcc01", cert_path="/c", channel_name="nochan", peer_orgs={"orga": ["0"]}
                ),
            )
        )
    assert (refused.value.error_code, refused.value.error_msg) == ("BCS.4001052", "Input channel nochan is not exist")
