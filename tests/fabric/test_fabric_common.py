"""An independent reader: the Hyperledger Fabric Node SDK (fabric-common 2.2.20) decodes our genesis and config
blocks, and Node's crypto plus jsrsasign's ASN.1 re-check hashes and signatures.

Needs ``node`` and ``OPENBCS_FABRIC_COMMON_DIR`` naming the directory holding ``node_modules/fabric-common``
(``scripts/install-fabric-common`` makes one); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from openbcs.fabric import anchor_peers, application_orgs, block_header_hash, config_of, last_update_of
from openbcs.fabric.read import update_envelope_of

READER = Path(__file__).with_name("fabric_common_reader.js")


def _sdk_dir() -> Path:
    node = shutil.which("node")
    directory = os.environ.get("OPENBCS_FABRIC_COMMON_DIR")
    if node is None:
        pytest.skip("node is not installed")
    if not directory:
        pytest.skip("OPENBCS_FABRIC_COMMON_DIR is not set (run scripts/install-fabric-common)")
    if not (Path(directory) / "node_modules" / "fabric-common" / "package.json").is_file():
        pytest.skip(f"fabric-common is not installed under {directory} (run scripts/install-fabric-common)")
    return Path(directory)


def test_node_sdk_reads_our_blocks(chain, tmp_path, ordering, ord_org):
    sdk = _sdk_dir()
    files = []
    for number, raw in enumerate(chain.raw):
        path = tmp_path / f"{number}.block"
        path.write_bytes(raw)
        files.append(str(path))
    result = subprocess.run(
        ["node", str(READER), str(sdk), *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    summaries = json.loads(result.stdout)
    assert len(summaries) == len(chain.blocks)

    expected_consenters = [
        {"host": c.host, "port": c.port, "client_tls_cert": c.client_tls_cert.decode()} for c in ordering.consenters
    ]
    for number, (block, summary) in enumerate(zip(chain.blocks, summaries, strict=True)):
        config = config_of(block)
        assert summary["number"] == number
        assert (summary["channel_id"], summary["type"]) == ("channel-one", "CONFIG")
        assert summary["data_hash_ok"]
        # jsrsasign's DER of the header hashes to what our DER writer hashes to.
        assert summary["header_hash"] == block_header_hash(block.header).hex()
        assert summary["previous_hash"] == (summaries[number - 1]["header_hash"] if number else "")
        assert summary["sequence"] == number
        assert summary["application_orgs"] == application_orgs(config)
        assert summary["orderer_orgs"] == [ord_org.msp_id]
        assert summary["consensus_type"] == "etcdraft"
        assert summary["consenters"] == expected_consenters
        assert summary["batch_size"] == {
            "max_message_count": 321,
            "absolute_max_bytes": 77 * 1024 * 1024,
            "preferred_max_bytes": 512 * 1024,
        }
        assert summary["capabilities"] == [["V2_0"], ["V2_0"], ["V2_0"]]
        for msp_id, anchors in summary["anchor_peers"].items():
            assert [(a["host"], a["port"]) for a in anchors] == [(a.host, a.port) for a in anchor_peers(config, msp_id)]
        if number == 0:
            assert summary["last_update"] is None
            continue
        update = summary["last_update"]
        assert (update["type"], update["channel_id"]) == (2, "channel-one")
        last_update = last_update_of(block)
        assert last_update is not None
        assert update["tx_id"] == update_envelope_of(last_update)[0].tx_id
        assert update["signers"] == chain.signers[number]
        assert [s["msp"] for s in update["signatures"]] == chain.signers[number]
        assert all(s["ok"] and s["low_s"] for s in [*update["signatures"], update["submitter"]])
        assert [s["msp"] for s in summary["block_signatures"]] == [ord_org.msp_id]
        assert all(s["ok"] and s["low_s"] for s in [*summary["block_signatures"], summary["envelope_signature"]])
        assert summary["last_config"] == number
