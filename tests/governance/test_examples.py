"""The API reference's examples of the governance extensions (``examples.yaml``; not in the example tour, whose
single run cannot make a tenant's key): each request sent with the real ids of a tenant's instance answers as
documented. The signature example is illustrative (a real one signs the request's own bytes): it is refused."""

from __future__ import annotations

from openbcs.openapi.examples import examples
from tests.governance.helpers import CHANNEL, start_removal
from tests.support.tenants import Tenant


def test_governance_examples_answer_as_documented(tenant: Tenant) -> None:
    bid = tenant.create_instance(
        "gov-example", peer_orgs=[("organization", 1), ("organization2", 1)], channels=[(CHANNEL, ["organization"])]
    )
    tenant.run(tenant.add_peers(bid, CHANNEL, {"organization2": 1}))
    custody = examples()["SwitchAdminCustody"]["request"]
    switched = tenant.call("POST", f"/blockchains/{bid}/orgs/organization2/admin-custody", custody["body"])
    assert switched.status_code == 200, switched.text
    assert sorted(switched.json()) == ["admin_cert", "operation_id"]
    tenant.wait(switched.json()["operation_id"])

    operation_id, request = start_removal(tenant, bid, org="organization")
    listed = tenant.call("GET", "/signature-requests", **examples()["ListSignatureRequests"]["request"]["query"])
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["signature_requests"]] == [request["id"]]
    shown = tenant.call("GET", f"/signature-requests/{request['id']}")
    assert shown.status_code == 200
    assert shown.json() == request
    envelope = tenant.call("GET", f"/signature-requests/{request['id']}/envelope")
    assert envelope.status_code == 200
    assert envelope.headers["content-type"] == "application/octet-stream"
    illustrative = examples()["AddSignatureRequestSignatures"]["request"]["body"]
    refused = tenant.call("POST", f"/signature-requests/{request['id']}/signatures", illustrative)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "BCS.4006014"
    reject = examples()["RejectSignatureRequest"]["request"]["body"]
    rejected = tenant.call("POST", f"/signature-requests/{request['id']}/reject", reject)
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == reject["reason"]
    tenant.wait(operation_id, expect="failed")
