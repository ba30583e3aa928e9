"""Signing a signature request with Fabric's own ``peer channel signconfigtx``, as a tenant would: its MSP folder is
the organisation's DownloadBlockchainCert ``cert_type=ca`` archive (CA certificates and the NodeOUs ``config.yaml``)
plus its own admin certificate in ``signcerts/`` and its own key in ``keystore/``. Skipped without Fabric's binaries."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from openbcs.kernel.db import Database
from tests.governance.helpers import CHANNEL, setup_external, start_removal, verify
from tests.runtime.local.realnet import find_fabric
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant


def test_peer_signconfigtx_signature_commits(tenant: Tenant, db: Database, tmp_path: Path) -> None:
    binaries = find_fabric()
    if isinstance(binaries, str):
        pytest.skip(binaries)
    bid, key = setup_external(tenant)
    operation_id, request = start_removal(tenant, bid)

    archive = tenant.call("GET", f"/blockchains/{bid}/cert", org_name="orgb", cert_type="ca")
    assert archive.status_code == 200, archive.text
    folder = tmp_path / "tenant"
    zipfile.ZipFile(io.BytesIO(archive.content)).extractall(folder)
    msp = folder / "msp"
    assert (msp / "config.yaml").is_file()
    (msp / "signcerts").mkdir(exist_ok=True)
    (msp / "signcerts" / "Admin@orgb-cert.pem").write_text(key.cert_pem)
    (msp / "keystore").mkdir(exist_ok=True)
    (msp / "keystore" / "priv_sk").write_bytes(key.key_pem())
    envelope = tmp_path / "update.pb"
    envelope.write_bytes(tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content)
    before = envelope.read_bytes()

    done = subprocess.run(
        [str(binaries.peer), "channel", "signconfigtx", "-f", str(envelope)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "FABRIC_CFG_PATH": str(binaries.config_dir),
            "CORE_PEER_LOCALMSPID": key.msp_id,
            "CORE_PEER_MSPCONFIGPATH": str(msp),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert envelope.read_bytes() != before

    upload = tenant.call(
        "POST",
        f"/signature-requests/{request['id']}/signatures",
        raw=envelope.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["missing"] == []
    assert upload.json()["signed_by"][-1] == key.msp_id
    tenant.wait(operation_id)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "submitted"
    blocks = config_blocks(db, bid, CHANNEL)
    assert [o["msp_id"] for o in blocks[-1]["orgs"]] == [key.msp_id]
    assert key.msp_id in blocks[-1]["signers"]
    assert verify(db, bid) == []
