"""The console's signature requests and admin custody (docs/governance.md, docs/console.md): the list and a request's
page show what the API shows; signing (the browser's form fields), uploading a ``signconfigtx`` file and rejecting
go through the governance service with its refusals shown next to the form; another tenant sees nothing of it. The
signing in a real browser (WebCrypto) is in ``test_signature_requests_browser.py``."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable

from openbcs.kernel.db import Database
from tests.console.helpers import ConsoleUser, flashes, text_of
from tests.governance.helpers import (
    CHANNEL,
    TenantKey,
    admin_rows,
    latest_msp,
    org_id,
    setup_external,
    signature_body,
    start_removal,
    update_of,
    verify,
    with_signature,
)
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant

UPDATE = re.compile(r'data-update="([^"]*)"')


def test_list_and_page_show_the_request_and_the_form_signature_commits(
    tenant: Tenant, db: Database, console_of: Callable[..., ConsoleUser]
) -> None:
    bid, key = setup_external(tenant)
    operation_id, request = start_removal(tenant, bid)
    console = console_of(tenant)
    listed = console.get("/console/signature-requests")
    assert listed.status_code == 200
    row = text_of(re.search(rf'<tr data-request="{request["id"]}">.*?</tr>', listed.text, re.S).group(0))  # type: ignore[union-attr]
    assert "remove organisation(s)" in row
    assert key.msp_id in row
    assert request["signed_by"][0] in row
    assert row.endswith("pending")
    assert 'aria-current="page">Signatures' in listed.text
    # Filtered by another status: not there.
    assert 'data-testid="no-requests"' in console.get("/console/signature-requests?status=submitted").text

    url = f"/console/signature-requests/{request['id']}"
    page = console.get(url)
    assert page.status_code == 200
    shown = text_of(page.text)
    assert f"Missing {key.msp_id}" in shown
    assert "/Channel/Application/Admins" in shown
    assert request["expires_at"] in shown
    update = base64.b64decode(html.unescape(UPDATE.search(page.text).group(1)))  # type: ignore[union-attr]
    assert (
        update == update_of(tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content).config_update
    )
    assert '<script src="/console/static/signing.js" defer></script>' in page.text

    # A form without its CSRF token is refused before anything runs; a high-S signature is refused with the API's
    # message next to the signing form; neither changes the request.
    assert console.post(f"{url}/signatures", signature_body(key.signature(update)), csrf=False).status_code == 403
    refused = console.follow(console.post(f"{url}/signatures", signature_body(key.signature(update, high_s=True))))
    ((kind, form, text),) = flashes(refused.text)
    assert (kind, form) == ("error", "sign")
    assert "not low-S" in text
    assert "BCS.4006014" in text
    empty = console.follow(console.post(f"{url}/signatures", {}))
    assert flashes(empty.text)[0][2].startswith("one of parameters is nil: signature_header")
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["missing"] == [key.msp_id]

    done = console.follow(console.post(f"{url}/signatures", signature_body(key.signature(update))))
    ((kind, form, text),) = flashes(done.text)
    assert (kind, form) == ("info", "sign")
    assert "the policy is satisfied" in text
    tenant.wait(operation_id)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "submitted"
    assert [o["msp_id"] for o in config_blocks(db, bid, CHANNEL)[-1]["orgs"]] == [key.msp_id]
    assert verify(db, bid) == []
    final = console.get(url)
    assert "s-submitted" in final.text
    assert 'id="sign-form"' not in final.text  # no action on a request that is not pending


def test_signconfigtx_upload_with_refusals(
    tenant: Tenant, db: Database, console_of: Callable[..., ConsoleUser]
) -> None:
    bid, key = setup_external(tenant)
    operation_id, request = start_removal(tenant, bid)
    console = console_of(tenant)
    url = f"/console/signature-requests/{request['id']}"
    file = console.get(f"{url}/envelope.pb")
    assert file.status_code == 200
    assert file.headers["content-type"] == "application/octet-stream"
    assert file.headers["content-disposition"] == f'attachment; filename="{request["id"]}.pb"'
    update = update_of(file.content).config_update

    def upload(content: bytes | None) -> str:
        files = {"envelope": ("update.pb", content, "application/octet-stream")} if content is not None else None
        response = console.http.post(
            f"{url}/upload", data={"csrf_token": console.csrf}, files=files, follow_redirects=False
        )
        ((kind, form, text),) = flashes(console.follow(response).text)
        assert form == "upload"
        return f"{kind}: {text}"

    assert upload(None).startswith("error: one of parameters is nil: envelope (BCS.")
    assert "not a serialized CONFIG_UPDATE envelope" in upload(b"\xff\xff garbage")
    assert "carries no signature" in upload(file.content)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "pending"
    outcome = upload(with_signature(file.content, key.signature(update)))
    assert outcome.startswith("info: Signature added")
    tenant.wait(operation_id)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "submitted"
    assert [o["msp_id"] for o in config_blocks(db, bid, CHANNEL)[-1]["orgs"]] == [key.msp_id]


def test_reject_with_a_reason(tenant: Tenant, db: Database, console_of: Callable[..., ConsoleUser]) -> None:
    bid, _ = setup_external(tenant)
    before = config_blocks(db, bid, CHANNEL)
    operation_id, request = start_removal(tenant, bid)
    console = console_of(tenant)
    url = f"/console/signature-requests/{request['id']}"
    blank = console.follow(console.post(f"{url}/reject", {"reason": "  "}))
    ((kind, form, text),) = flashes(blank.text)
    assert (kind, form) == ("error", "reject")
    assert "reason" in text
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "pending"
    done = console.follow(console.post(f"{url}/reject", {"reason": "we do not agree"}))
    ((kind, form, text),) = flashes(done.text)
    assert (kind, form) == ("info", "reject")
    assert operation_id in text
    record = tenant.wait(operation_id, expect="failed")
    assert "rejected: we do not agree" in str(record)
    assert config_blocks(db, bid, CHANNEL) == before
    shown = text_of(console.get(url).text)
    assert "Status rejected we do not agree" in shown
    late = console.follow(console.post(f"{url}/reject", {"reason": "again"}))
    assert "is rejected, not pending" in flashes(late.text)[0][2]


def test_another_tenant_neither_sees_nor_acts(
    tenant: Tenant, other_tenant: Tenant, console_of: Callable[..., ConsoleUser]
) -> None:
    bid, key = setup_external(tenant)
    _, request = start_removal(tenant, bid)
    update = update_of(tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content).config_update
    other = console_of(other_tenant)
    assert 'data-testid="no-requests"' in other.get("/console/signature-requests").text
    url = f"/console/signature-requests/{request['id']}"
    assert other.get(url).status_code == 404
    assert other.get(f"{url}/envelope.pb").status_code == 404
    assert other.post(f"{url}/signatures", signature_body(key.signature(update))).status_code == 404
    assert other.post(f"{url}/reject", {"reason": "no"}).status_code == 404
    assert other.get(f"/console/instances/{bid}/orgs/orga/admin-custody").status_code == 404
    assert other.post(f"/console/instances/{bid}/orgs/orga/admin-custody", {"csr": key.csr()}).status_code == 404
    shown = tenant.ok("GET", f"/signature-requests/{request['id']}")
    assert (shown["status"], shown["missing"]) == ("pending", [key.msp_id])


def test_custody_switch_from_the_console(tenant: Tenant, db: Database, console_of: Callable[..., ConsoleUser]) -> None:
    bid = tenant.create_instance(
        "gov-console", peer_orgs=[("orga", 1), ("orgb", 1)], channels=[(CHANNEL, ["orga", "orgb"])]
    )
    console = console_of(tenant)
    assert f'href="/console/instances/{bid}/orgs/orgb/admin-custody"' in console.get(f"/console/instances/{bid}").text
    url = f"/console/instances/{bid}/orgs/orgb/admin-custody"
    assert console.get(url).status_code == 200
    assert console.get(f"/console/instances/{bid}/orgs/nosuch/admin-custody").status_code == 404
    bad = console.follow(console.post(url, {"csr": "not a csr"}))
    ((kind, form, text),) = flashes(bad.text)
    assert (kind, form) == ("error", "custody")
    assert "Invalid Parameter csr : not a PEM certificate signing request" in text
    assert [r["has_key"] for r in admin_rows(db, org_id(db, bid, "orgb"))] == [True, True]

    key = TenantKey.new()
    response = console.http.post(
        url,
        data={"csrf_token": console.csrf},
        files={"csr_file": ("admin.csr", key.csr().encode(), "application/pkcs10")},
        follow_redirects=False,
    )
    assert response.status_code == 200
    cert = html.unescape(re.search(r'data-testid="admin-cert">(.*?)</pre>', response.text, re.S).group(1))  # type: ignore[union-attr]
    operation_id = re.search(r'data-testid="custody-operation">([^<]+)<', response.text).group(1)  # type: ignore[union-attr]
    tenant.wait(operation_id)
    rows = admin_rows(db, org_id(db, bid, "orgb"))
    assert [(r["role"], r["has_key"]) for r in rows] == [
        ("admin", False),
        ("admin-tls", False),
        ("admin-external", False),
    ]
    assert rows[2]["cert"] == cert
    msp_id = next(o["msp_id"] for o in config_blocks(db, bid, CHANNEL)[-1]["orgs"] if o["name"] == "orgb")
    assert [bytes(a).decode() for a in latest_msp(db, bid, CHANNEL, msp_id).admins] == [cert]
    again = console.follow(console.post(url, {"csr": key.csr()}))
    assert "external already" in flashes(again.text)[0][2]
