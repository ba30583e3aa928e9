"""The API reference: ``/openapi.json`` validates as OpenAPI 3.1 and names all 32 operations with the SDK's names
and models; every example request answers its documented status on a live server, with an answer of the documented
schema; ``docs/api.md`` is generated from the same document; ``/docs`` works from files shipped in the package."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from openbcs.app import create_app
from openbcs.cli.docs import reference_document
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.openapi.examples import examples
from openbcs.openapi.markdown import render
from openbcs.openapi.routes import STATIC
from tests.openapi.scenario import run_scenario
from tests.support.snapshots import row_count

ROOT = Path(__file__).parents[2]
SDK_METHODS = {
    "batch_invite_members_to_channel", "handle_notification", "list_notifications", "list_members",
    "delete_member_invite", "handle_union_member_quit_list", "create_new_blockchain", "list_blockchains",
    "show_blockchain_detail", "show_blockchain_status", "show_blockchain_nodes", "update_instance",
    "delete_blockchain", "batch_create_channels", "list_blockchain_channels", "batch_add_peers_to_channel",
    "batch_remove_orgs_from_channel", "batch_remove_peers_from_channel", "delete_channel",
    "download_blockchain_cert", "download_blockchain_sdk_config", "create_blockchain_cert_by_user_name",
    "freeze_cert", "unfreeze_cert", "list_bcs_events", "list_bcs_events_statistic", "list_bcs_metric",
    "list_entity_metric", "list_instance_metric", "list_op_record", "list_quotas", "show_blockchain_flavors",
}  # fmt: skip
EXTENSIONS = {
    ("GET", "/v2/{project_id}/blockchains/{blockchain_id}/channels/{channel_name}/config-history"),
    ("GET", "/v2/{project_id}/blockchains/{blockchain_id}/channels/{channel_name}/blocks/{number}"),
    ("GET", "/v2/{project_id}/blockchains/{blockchain_id}/channels/{channel_name}/blocks/{number}/update"),
    ("GET", "/v2/{project_id}/blockchains/{blockchain_id}/nodes/{node_name}/logs"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/v3/auth/tokens"),
    ("GET", "/v3/projects"),
    # Governance (docs/governance.md)
    ("POST", "/v2/{project_id}/blockchains/{blockchain_id}/orgs/{org_name}/admin-custody"),
    ("GET", "/v2/{project_id}/signature-requests"),
    ("GET", "/v2/{project_id}/signature-requests/{request_id}"),
    ("GET", "/v2/{project_id}/signature-requests/{request_id}/envelope"),
    ("POST", "/v2/{project_id}/signature-requests/{request_id}/signatures"),
    ("POST", "/v2/{project_id}/signature-requests/{request_id}/reject"),
}
# Their examples are not in the tour (a signature needs a key the tenant makes): tests/governance sends them.
NOT_TOURED = {
    "SwitchAdminCustody",
    "ListSignatureRequests",
    "ShowSignatureRequest",
    "ShowSignatureRequestEnvelope",
    "AddSignatureRequestSignatures",
    "RejectSignatureRequest",
}
ADMIN = {
    ("POST", "/openbcs/admin/reset"),
    ("GET", "/openbcs/admin/state"),
    ("PUT", "/openbcs/admin/state"),
    ("POST", "/openbcs/admin/apply"),
}
# Response fields the SDK models have and OpenBCS never sends: it models no Kafka, OBS bucket or IEF edge nodes
# (docs/instances.md); every response field is optional in the SDK.
NOT_MODELLED = {
    "ShowBlockchainDetailResponse": {"dms_kafka_info", "ief_info", "obs_bucket_info"},
    "ShowBlockchainStatusResponse": {"kafka", "obs"},
}


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m.upper(), p): op for p, item in document["paths"].items() for m, op in item.items()}


def _schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": document["components"]})


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return reference_document()


def test_served_document_validates_and_lists_every_operation(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    validate(document)  # openapi-spec-validator: OpenAPI 3.1
    assert document["openapi"] == "3.1.0"
    operations = _operations(document)
    sdk = {op["x-sdk-method"] for op in operations.values() if "x-sdk-method" in op}
    assert sdk == SDK_METHODS
    assert set(operations) == {k for k, op in operations.items() if "x-sdk-method" in op} | EXTENSIONS
    assert len({op["operationId"] for op in operations.values()}) == len(operations) == 46
    # Without --admin-token the admin API is neither served nor documented.
    assert not set(operations) & ADMIN
    assert client.post("/openbcs/admin/reset").status_code == 404


def test_reference_with_admin_api(reference: dict[str, Any]) -> None:
    validate(reference)
    operations = _operations(reference)
    assert set(operations) >= ADMIN
    assert len(operations) == 50
    for key in ADMIN:
        assert operations[key]["security"] == [{"admin": []}]


def test_every_operation_documents_its_errors_and_one_example(reference: dict[str, Any]) -> None:
    every = examples()
    for (_method, path), op in _operations(reference).items():
        example = every[op["operationId"]]
        assert op["summary"], op["operationId"]
        assert op["description"], op["operationId"]
        if path.startswith("/v2/"):
            codes = op["x-error-codes"]
            assert {"BCS.4010401", "BCS.4030403", "BCS.5000500"} <= set(codes), op["operationId"]
            documented = {c for status, answer in op["responses"].items() if not status.startswith("2")
                          for c in answer["content"]["application/json"]["examples"]}  # fmt: skip
            assert documented == set(codes)
        if "body" in example.get("request", {}):
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            _schema_validator(reference, schema).validate(example["request"]["body"])
        answer = next(a for s, a in op["responses"].items() if s.startswith("2"))
        media = answer.get("content", {}).get("application/json", {})
        if "schema" in media and "example" in media:
            _schema_validator(reference, media["schema"]).validate(media["example"])
    # Traced codes: an instance operation names the busy states; a read of one instance its unknown id only.
    by_id = {op["operationId"]: op for op in _operations(reference).values()}
    assert {"BCS.4001001", "BCS.4001003", "BCS.4001011", "BCS.4001020"} <= set(by_id["UpdateInstance"]["x-error-codes"])
    assert "BCS.4001020" not in by_id["ShowBlockchainDetail"]["x-error-codes"]
    assert "BCS.4001060" in by_id["BatchInviteMembersToChannel"]["x-error-codes"]
    assert "BCS.4001061" in by_id["HandleUnionMemberQuitList"]["x-error-codes"]


def test_request_and_response_schemas_match_the_sdk_models(reference: dict[str, Any]) -> None:
    import huaweicloudsdkbcs.v2 as sdk
    from huaweicloudsdkbcs.v2 import BcsClient

    components = reference["components"]["schemas"]
    checked = 0
    for (method, path), op in _operations(reference).items():
        if "x-sdk-method" not in op:
            continue
        request_class = getattr(sdk, op["x-sdk-request-class"])
        info = getattr(BcsClient, f"_{op['x-sdk-method']}_http_info")(request_class())
        assert (info["method"], info["resource_path"]) == (method, path)
        assert info["response_type"] == op["x-sdk-response-class"]
        params = {p["name"] for p in op.get("parameters", []) if not p.get("x-openbcs-extension")} - {"project_id"}
        assert params == set(request_class.attribute_map.values()) - {"body"}, op["operationId"]
        body_type = request_class.openapi_types.get("body")
        if body_type is not None:
            content = op["requestBody"]["content"]
            if "multipart/form-data" in content:
                properties = set(content["multipart/form-data"]["schema"]["properties"])
            else:
                name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert name == body_type
                properties = set(components[name]["properties"])
            assert properties == set(getattr(sdk, body_type).attribute_map.values()), op["operationId"]
        media = op["responses"]["200"].get("content", {}).get("application/json")
        if media is not None:
            ours = set(components[media["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"])
            theirs = set(getattr(sdk, op["x-sdk-response-class"]).attribute_map.values()) - {"X-request-Id"}
            assert ours == theirs - NOT_MODELLED.get(op["x-sdk-response-class"], set()), op["operationId"]
        checked += 1
    assert checked == 32


def test_every_example_request_answers_its_documented_status(
    database_url: str, tmp_path: Path, db: Database, reference: dict[str, Any]
) -> None:
    tour = run_scenario(database_url, tmp_path / "data")
    names = [s.name for s in tour.sent]
    assert set(names) - {"setup"} == set(examples()) - NOT_TOURED
    for sent in tour.sent:
        assert sent.response.status_code == sent.expected, (sent.name, sent.response.text)
    operations = {op["operationId"]: op for op in _operations(reference).values()}
    every = examples()
    for sent in tour.sent:
        if sent.name == "setup":
            continue
        answer = operations[sent.name]["responses"][str(sent.expected)]
        media = answer.get("content", {})
        if "application/json" in media and "schema" in media["application/json"]:
            body = sent.response.json()
            _schema_validator(reference, media["application/json"]["schema"]).validate(body)
            recorded = every[sent.name].get("response")
            if isinstance(recorded, dict):
                assert set(recorded) == set(body), sent.name
        for content_type in media:
            assert sent.response.headers["content-type"].startswith(content_type.split(";")[0]), sent.name
    # The tour ends with the admin reset: nothing is left.
    assert row_count(db, "iam_accounts") == 0


def test_docs_api_md_is_generated_from_the_document(reference: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    assert text == render(reference), "docs/api.md is stale: openbcs docs markdown > docs/api.md"
    for name in ("ListBlockchains", "ListBlockchainChannels", "ListQuotas", "ShowBlockchainDetail",
                 "ShowBlockchainNodes", "handle_union_member_quit_list", "consume_download_stream"):  # fmt: skip
        assert name in text
    assert re.search(r"operation_id=operation_id", text)


def test_docs_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/docs/static/") for s in sources)
    assert 'url: "/openapi.json"' in page.text
    assert "validatorUrl: null" in page.text
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200
        assert asset.content == (STATIC / source.rsplit("/", 1)[-1]).read_bytes()
    assert "Apache License" in (STATIC / "LICENSE").read_text()
    assert client.get("/docs/static/../../app.py").status_code == 404


def test_an_app_without_admin_token_refuses_none_and_with_one_wants_it(settings: Settings) -> None:
    admin = settings.model_copy(update={"admin_token": "t" * 32})
    with TestClient(create_app(admin)) as http:
        assert http.get("/openbcs/admin/state").json() == {
            "error_code": "BCS.4010401",
            "error_msg": "the admin API needs Authorization: Bearer <admin token>",
        }
        assert http.get("/openbcs/admin/state", headers={"Authorization": "Bearer " + "u" * 32}).status_code == 401
        assert http.get("/openbcs/admin/state", headers={"Authorization": "Bearer " + "t" * 32}).status_code == 200
