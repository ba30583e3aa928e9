"""A node's home folder and launch settings: MSP, TLS and configuration files written from a ``NodeSpec``.

Layout of ``spec.home`` (paths the environment below points at; ``tls/`` matches ``core.yaml``'s own defaults)::

    msp/cacerts/ca.pem  msp/tlscacerts/tlsca.pem  msp/signcerts/cert.pem  msp/keystore/key.pem  msp/config.yaml
    tls/server.crt  tls/server.key  tls/ca.crt      admin-ca.crt (orderers: who may use the admin endpoint)
    orderer.yaml | core.yaml                        (Fabric's sample files: FABRIC_CFG_PATH is the home)
    ledger/  etcdraft/wal/  etcdraft/snapshot/      (orderers)     ledger/  snapshots/  (peers)
    node.log

Every setting that differs from the sample files is an environment override (``ORDERER_*`` / ``CORE_*``), so the
copied YAML stays Fabric's own, except the peer's ``vm.endpoint``, emptied in the file (an environment variable
cannot empty a setting). Writing is idempotent: a restart renders the same files again and leaves the ledger.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from openbcs.network.pki import node_ous_config
from openbcs.runtime.local.binaries import Binaries
from openbcs.runtime.specs import NodeRole, NodeSpec, PortName

LOG_FILE = "node.log"
LOG_FORMAT = "%{time:2006-01-02 15:04:05.000 MST} %{id:04x} %{level:.4s} [%{module}] %{shortfunc} -> %{message}"
SECRET = 0o600
PUBLIC = 0o644


@dataclass(frozen=True)
class NodeLaunch:
    """How to start a rendered node: command, environment (complete, not added to the server's), folder, log."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    health_url: str


def write_node(spec: NodeSpec, binaries: Binaries) -> NodeLaunch:
    """Write ``spec.home`` for ``spec`` and return how to launch the node from it."""
    home = spec.home.absolute()  # the node runs with its home as working directory: no relative path may leak in
    # Settings first: a spec without a needed port or CA is refused before anything is written.
    if spec.role is NodeRole.ORDERER:
        if spec.admin_tls_ca is None:
            raise ValueError(f"orderer {spec.name}: admin_tls_ca is required (the admin endpoint uses mutual TLS)")
        config_name, env, argv = "orderer.yaml", _orderer_env(spec, home), [str(binaries.orderer)]
        ledger_dirs: tuple[str, ...] = ("ledger", "etcdraft/wal", "etcdraft/snapshot")
        extra = [("admin-ca.crt", spec.admin_tls_ca, PUBLIC)]
    else:
        config_name, env, argv = "core.yaml", _peer_env(spec, home), [str(binaries.peer), "node", "start"]
        ledger_dirs, extra = ("ledger", "snapshots"), []
    operations = _join(spec.endpoint.host, _port(spec, PortName.OPERATIONS))
    ident = spec.identity
    files: list[tuple[str, bytes, int]] = [
        ("msp/cacerts/ca.pem", ident.ca_cert, PUBLIC),
        ("msp/tlscacerts/tlsca.pem", ident.tlsca_cert, PUBLIC),
        ("msp/signcerts/cert.pem", ident.cert, PUBLIC),
        # Fabric's keystore finds the key by its SKI among the folder's files, so the file name is free.
        ("msp/keystore/key.pem", ident.key, SECRET),
        ("msp/config.yaml", node_ous_config("ca.pem"), PUBLIC),
        ("tls/server.crt", ident.tls_cert, PUBLIC),
        ("tls/server.key", ident.tls_key, SECRET),
        ("tls/ca.crt", ident.tlsca_cert, PUBLIC),
        *extra,
        (config_name, _config_file(binaries.config_dir / config_name, spec.role), PUBLIC),
    ]
    _make_dir(home)
    for relative, content, mode in files:
        _write(home / relative, content, mode)
    for relative in ledger_dirs:
        _make_dir(home / relative)  # exist_ok: a restart keeps the ledger
    base = {
        # PATH for what a node itself runs (a peer runs external chaincode builders' scripts); nothing else of
        # the server's environment, so a stray CORE_*/ORDERER_* there cannot change a node.
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "FABRIC_CFG_PATH": str(home),
        "FABRIC_LOGGING_SPEC": "info",
        # Fabric's default format without its %{color} codes, which it writes to files too: node.log is read by
        # people and quoted in errors.
        "FABRIC_LOGGING_FORMAT": LOG_FORMAT,
    }
    return NodeLaunch(
        argv=argv,
        env=base | env,
        cwd=home,
        log_path=home / LOG_FILE,
        health_url=f"http://{operations}/healthz",
    )


def _orderer_env(spec: NodeSpec, home: Path) -> dict[str, str]:
    host = spec.endpoint.host
    cert, key, ca = str(home / "tls/server.crt"), str(home / "tls/server.key"), str(home / "tls/ca.crt")
    return {
        "ORDERER_GENERAL_LISTENADDRESS": host,
        "ORDERER_GENERAL_LISTENPORT": str(_port(spec, PortName.LISTEN)),
        "ORDERER_GENERAL_LOCALMSPID": spec.identity.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(home / "msp"),
        # No system channel: channels are joined one by one through the admin endpoint (channel participation).
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
        "ORDERER_GENERAL_TLS_ENABLED": "true",
        "ORDERER_GENERAL_TLS_CERTIFICATE": cert,
        "ORDERER_GENERAL_TLS_PRIVATEKEY": key,
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{ca}]",
        # The cluster shares the main listener; etcdraft recognises "this node" among the consenters by the TLS
        # certificate it presents as a client, so the client pair must be the node's TLS pair.
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": cert,
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": key,
        "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{ca}]",
        "ORDERER_ADMIN_LISTENADDRESS": _join(host, _port(spec, PortName.ADMIN)),
        "ORDERER_ADMIN_TLS_ENABLED": "true",
        "ORDERER_ADMIN_TLS_CERTIFICATE": cert,
        "ORDERER_ADMIN_TLS_PRIVATEKEY": key,
        "ORDERER_ADMIN_TLS_ROOTCAS": f"[{ca}]",
        # Only clients whose TLS certificate comes from the orderer organisation's TLS CA may join/remove channels.
        "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{home / 'admin-ca.crt'}]",
        # /healthz and /metrics in plain HTTP on the operations port (loopback only).
        "ORDERER_OPERATIONS_LISTENADDRESS": _join(host, _port(spec, PortName.OPERATIONS)),
        "ORDERER_OPERATIONS_TLS_ENABLED": "false",
        "ORDERER_METRICS_PROVIDER": "prometheus",
        "ORDERER_FILELEDGER_LOCATION": str(home / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(home / "etcdraft/wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(home / "etcdraft/snapshot"),
    }


def _peer_env(spec: NodeSpec, home: Path) -> dict[str, str]:
    host = spec.endpoint.host
    address = _join(host, _port(spec, PortName.LISTEN))
    chaincode = _join(host, _port(spec, PortName.CHAINCODE))
    return {
        "CORE_PEER_ID": spec.name,
        "CORE_PEER_ADDRESS": address,
        "CORE_PEER_LISTENADDRESS": address,
        "CORE_PEER_CHAINCODEADDRESS": chaincode,
        "CORE_PEER_CHAINCODELISTENADDRESS": chaincode,
        # Every peer is a static org leader: each pulls blocks from the orderers itself, at once after joining (a
        # peer waiting for a leader election pulled nothing for about 6 s), and gossip spreads nothing it needs.
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": address,
        "CORE_PEER_GOSSIP_BOOTSTRAP": address,
        "CORE_PEER_GOSSIP_USELEADERELECTION": "false",
        "CORE_PEER_GOSSIP_ORGLEADER": "true",
        "CORE_PEER_LOCALMSPID": spec.identity.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(home / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(home / "tls/server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(home / "tls/server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(home / "tls/ca.crt"),
        "CORE_PEER_FILESYSTEMPATH": str(home / "ledger"),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(home / "snapshots"),
        "CORE_OPERATIONS_LISTENADDRESS": _join(host, _port(spec, PortName.OPERATIONS)),
        "CORE_OPERATIONS_TLS_ENABLED": "false",
        "CORE_METRICS_PROVIDER": "prometheus",
        # No Docker: says what the rendered core.yaml says (see _config_file); Viper ignores it, being empty.
        "CORE_VM_ENDPOINT": "",
    }


def _config_file(source: Path, role: NodeRole) -> bytes:
    """Fabric's sample file; for a peer with ``vm.endpoint`` emptied.

    A peer with a VM endpoint registers a Docker check in ``/healthz``, which then answers 503 without Docker.
    ``CORE_VM_ENDPOINT=`` cannot empty it: Viper ignores empty environment variables, so the YAML must say it.
    """
    content = source.read_bytes()
    if role is NodeRole.ORDERER:
        return content
    core = yaml.safe_load(content)
    core["vm"] = (core.get("vm") or {}) | {"endpoint": ""}
    header = f"# {source}, with vm.endpoint emptied by OpenBCS (no Docker chaincode runtime).\n"
    return header.encode() + yaml.safe_dump(core, sort_keys=False).encode()


def _port(spec: NodeSpec, name: PortName) -> int:
    try:
        return spec.endpoint.ports[name]
    except KeyError:
        raise ValueError(f"{spec.role} {spec.name}: no {name} port") from None


def _join(host: str, port: int) -> str:
    """``host:port``, with an IPv6 literal in brackets as Go's net.JoinHostPort writes it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _make_dir(path: Path) -> None:
    # 0700 when created: the home holds private keys. An existing folder keeps the mode its owner chose.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write(path: Path, content: bytes, mode: int) -> None:
    """Replace ``path`` atomically with ``content``; the new file has ``mode`` from its creation (no readable
    window for keys), whatever the umask."""
    _make_dir(path.parent)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            descriptor = -1  # the file object owns it now
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        if descriptor >= 0:
            os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
