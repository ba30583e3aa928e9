"""Signing a signature request in a real browser (Playwright, Debian's Chromium, WebCrypto): the tenant's key file,
written here and given to the page's file input, never leaves the browser; the signature the page makes is low-S
DER over ``signature_header || config_update`` with the certificate as creator, and the change it completes commits
(issue 20, docs/governance.md "The browser path")."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fabric_protos.common.common_pb2 import Block, Envelope, Payload, SignatureHeader
from fabric_protos.common.configtx_pb2 import ConfigEnvelope, ConfigUpdateEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity

from openbcs.kernel.db import Database
from tests.console import test_browser
from tests.console.browser import chromium, reload_until, sign_in
from tests.governance.helpers import CHANNEL, ORDER, TenantKey, setup_external, start_removal, verify
from tests.support.snapshots import config_blocks
from tests.support.tenants import new_tenant

# The browser tests' page fixture, which fails a test whose pages break the Content-Security-Policy.
new_page = test_browser.new_page
csp_violations = test_browser.csp_violations
SIGNINGS = 8  # intercepted signatures: WebCrypto's raw s is high in half of them, so the low-S branch runs


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def api(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


def _signatures_of_last_block(db: Database, bid: str) -> list[SerializedIdentity]:
    """The creators of the ConfigSignatures in the newest config block's last update (decoded from the block)."""
    block = Block.FromString(config_blocks(db, bid, CHANNEL)[-1]["block"])
    config_envelope = ConfigEnvelope.FromString(
        Payload.FromString(Envelope.FromString(block.data.data[0]).payload).data
    )
    update = ConfigUpdateEnvelope.FromString(Payload.FromString(config_envelope.last_update.payload).data)
    return [
        SerializedIdentity.FromString(SignatureHeader.FromString(s.signature_header).creator) for s in update.signatures
    ]


def test_signing_in_the_browser_commits(
    live_server: Any,
    api: httpx.Client,
    make_account: Any,
    new_page: Any,
    db: Database,
    tmp_path: Path,
) -> None:
    tenant = new_tenant(api, make_account)
    bid, key = setup_external(tenant)
    operation_id, request = start_removal(tenant, bid)
    cert_file, key_file, wrong_file = tmp_path / "Admin@orgb-cert.pem", tmp_path / "priv_sk", tmp_path / "other_sk"
    cert_file.write_text(key.cert_pem)
    key_file.write_bytes(key.key_pem())
    wrong_file.write_bytes(TenantKey.new().key_pem())

    page = new_page()
    posted: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posted.append(r.post_data or ""))
    sign_in(page, live_server.url, tenant.account)
    page.goto(f"{live_server.url}/console/signature-requests")
    page.click(f'tr[data-request="{request["id"]}"] a')
    page.wait_for_url(f"**/console/signature-requests/{request['id']}")
    update = base64.b64decode(html.unescape(page.get_attribute("#sign-form", "data-update") or ""))
    assert page.select_option("#sign-msp", key.msp_id) == [key.msp_id]
    page.set_input_files("#sign-cert", str(cert_file))

    # A key file that is not a key: the page says so and posts nothing.
    page.set_input_files("#sign-key", str(cert_file))
    page.click("#sign-submit")
    page.locator("#sign-error:not([hidden])").wait_for()
    assert "PKCS#8" in page.inner_text("#sign-error")

    # The signatures the page makes, intercepted before they reach the server: each verifies with the tenant's
    # public key over header || update, is DER with s in the lower half, and names the certificate as creator.
    page.set_input_files("#sign-key", str(key_file))
    intercepted: list[dict[str, list[str]]] = []

    def capture(route: Any) -> None:
        intercepted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(status=204)

    page.route("**/signatures", capture)
    for n in range(SIGNINGS):
        page.click("#sign-submit")
        for _ in range(100):
            if len(intercepted) > n:
                break
            page.wait_for_timeout(50)
    page.unroute("**/signatures")
    assert len(intercepted) == SIGNINGS
    public_key = key.key.public_key()
    nonces = set()
    for form in intercepted:
        header = base64.b64decode(form["signature_header"][0])
        signature = base64.b64decode(form["signature"][0])
        parsed = SignatureHeader.FromString(header)
        creator = SerializedIdentity.FromString(parsed.creator)
        assert (creator.mspid, creator.id_bytes.decode()) == (key.msp_id, key.cert_pem)
        assert len(parsed.nonce) == 24
        nonces.add(parsed.nonce)
        assert decode_dss_signature(signature)[1] <= ORDER // 2
        public_key.verify(signature, header + update, ec.ECDSA(hashes.SHA256()))  # raises if it does not
        assert form["csrf_token"][0]
    assert len(nonces) == SIGNINGS
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["missing"] == [key.msp_id]

    # Another key's signature reaches the server, which refuses it next to the form; nothing changes.
    page.set_input_files("#sign-key", str(wrong_file))
    page.click("#sign-submit")
    refusal = page.locator('p.flash.error[data-form="sign"]')
    refusal.wait_for()
    assert "signature does not verify" in refusal.inner_text()
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "pending"

    page.set_input_files("#sign-cert", str(cert_file))
    page.set_input_files("#sign-key", str(key_file))
    page.click("#sign-submit")
    done = page.locator('p.flash.info[data-form="sign"]')
    done.wait_for()
    assert "the policy is satisfied" in done.inner_text()
    tenant.wait(operation_id)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "submitted"
    reload_until(page, '[data-testid="request-status"] .s-submitted')
    blocks = config_blocks(db, bid, CHANNEL)
    assert [o["msp_id"] for o in blocks[-1]["orgs"]] == [key.msp_id]
    assert key.msp_id in blocks[-1]["signers"]
    signers = _signatures_of_last_block(db, bid)
    assert (key.msp_id, key.cert_pem) in [(s.mspid, s.id_bytes.decode()) for s in signers]
    assert verify(db, bid) == []
    # The key never left the browser: no post carried it (only the certificate's public material, in the header).
    key_line = key.key_pem().decode().splitlines()[2]  # a line of the key's base64, in no post in any encoding
    allowed = {"csrf_token", "signature_header", "signature", "domain", "user", "password", "next"}
    assert len(posted) == 1 + SIGNINGS + 2  # sign-in, the intercepted signatures, the refused one, the good one
    for body in posted:
        assert set(parse_qs(body)) <= allowed, body
        assert "PRIVATE" not in body
        assert key_line not in body
        assert quote(key_line, safe="") not in body
