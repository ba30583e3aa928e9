"""Looking at a local-runtime network as its users would: with Fabric's own ``peer`` CLI, given only the material the
API hands out (DownloadBlockchainCert's admin MSP, DownloadBlockchainSdkConfig's endpoints and TLS roots)."""

from __future__ import annotations

import io
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fabric_protos.common.common_pb2 import Block

from openbcs.fabric import application_orgs, config_of
from openbcs.runtime.local.binaries import Binaries


def zip_of(response: Any) -> zipfile.ZipFile:
    chunks: list[bytes] = []
    response.consume_download_stream(lambda stream: chunks.extend(stream.iter_content(chunk_size=65536)))
    return zipfile.ZipFile(io.BytesIO(b"".join(chunks)))


@dataclass(frozen=True)
class AdminMsp:
    """An organisation's admin as DownloadBlockchainCert hands it out, unpacked."""

    msp_id: str
    folder: Path

    @property
    def msp_dir(self) -> Path:
        return self.folder / "msp"

    @property
    def tls_ca(self) -> Path:
        return self.folder / "tls" / "ca.crt"


def download_admin(client: Any, blockchain_id: str, org: str, msp_id: str, into: Path) -> AdminMsp:
    """DownloadBlockchainCert ``cert_type=admin`` of ``org``, unpacked into ``into``."""
    from huaweicloudsdkbcs.v2 import DownloadBlockchainCertRequest

    response = client.download_blockchain_cert(
        DownloadBlockchainCertRequest(blockchain_id=blockchain_id, org_name=org, cert_type="admin")
    )
    zip_of(response).extractall(into)
    return AdminMsp(msp_id, into)


@dataclass(frozen=True)
class Orderer:
    """An orderer as the SDK configuration names it: its address and its TLS root CA file."""

    address: str
    tls_ca: Path


def download_orderers(client: Any, blockchain_id: str, org: str, channel: str, into: Path) -> list[Orderer]:
    """The orderers in DownloadBlockchainSdkConfig's profile for ``channel``, with their TLS roots unpacked."""
    from huaweicloudsdkbcs.v2 import CfgRequestBody, DownloadBlockchainSdkConfigRequest

    body = CfgRequestBody(
        cert_path=str(into), channel_name=channel, chaincode_name="chaincode1", peer_orgs={org: ["0"]}
    )
    archive = zip_of(
        client.download_blockchain_sdk_config(
            DownloadBlockchainSdkConfigRequest(blockchain_id=blockchain_id, body=body)
        )
    )
    archive.extractall(into)
    profile = yaml.safe_load((into / "sdk-config.yaml").read_text())
    return [
        Orderer(entry["url"].removeprefix("grpcs://"), Path(entry["tlsCACerts"]["path"]))
        for entry in profile["orderers"].values()
    ]


class PeerCli:
    """Fabric's ``peer`` CLI as an organisation's admin."""

    def __init__(self, binaries: Binaries, admin: AdminMsp, work: Path) -> None:
        self.binaries, self.admin, self.work = binaries, admin, work
        work.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, peer: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.work),
            "FABRIC_CFG_PATH": str(self.binaries.config_dir),
            "CORE_PEER_LOCALMSPID": self.admin.msp_id,
            "CORE_PEER_MSPCONFIGPATH": str(self.admin.msp_dir),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(self.admin.tls_ca),
            "CORE_PEER_ADDRESS": peer or "127.0.0.1:1",
        }
        done = subprocess.run(
            [str(self.binaries.peer), *args], env=env, cwd=self.work, capture_output=True, text=True, timeout=60
        )
        if check:
            assert done.returncode == 0, f"peer {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    def height(self, peer: str, channel: str) -> int:
        """``peer channel getinfo``: the peer's ledger height (-1 while the peer does not answer: one started a
        moment ago answers its health check before its gRPC port)."""
        done = self.run("channel", "getinfo", "-c", channel, peer=peer, check=False)
        if done.returncode != 0:
            return -1
        return int(yaml.safe_load(done.stdout.split("Blockchain info:", 1)[1])["height"])

    def channels(self, peer: str) -> list[str]:
        """``peer channel list``."""
        out = self.run("channel", "list", peer=peer).stdout
        return [line.strip() for line in out.split("Channels peers has joined:", 1)[1].splitlines() if line.strip()]

    def fetch(self, orderer: Orderer, channel: str, which: str, *, check: bool = True) -> tuple[bytes | None, str]:
        """``peer channel fetch <which>`` from the orderer: the block's bytes (None if refused) and stderr."""
        out = self.work / f"{channel}-{which}.block"
        out.unlink(missing_ok=True)
        done = self.run(
            "channel", "fetch", which, str(out), "-c", channel, "-o", orderer.address, "--tls", "--cafile",
            str(orderer.tls_ca), check=check,
        )  # fmt: skip
        return (out.read_bytes() if done.returncode == 0 else None), done.stderr

    def members(self, orderer: Orderer, channel: str) -> list[str]:
        """The MSP ids in the channel's newest config, as the orderer serves it."""
        block, _ = self.fetch(orderer, channel, "config")
        assert block is not None
        return application_orgs(config_of(Block.FromString(block)))
