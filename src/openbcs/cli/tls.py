"""``openbcs serve``'s TLS material: a given certificate and key checked before anything listens, or, with ``--tls
self-signed``, a development CA and a server certificate made once under ``<data_dir>/tls`` and reused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from openbcs.kernel.clock import utcnow
from openbcs.kernel.settings import Settings
from openbcs.network import pki

# A server certificate this close to its end is made again at the next start (same CA, so clients keep trusting).
RENEW_BEFORE = dt.timedelta(days=30)
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # noqa: S104 - the addresses that mean "every interface"


class TlsProblem(Exception):
    """Why the TLS material cannot be used: one line naming the flag."""


@dataclass(frozen=True)
class TlsFiles:
    """What uvicorn is given (``ssl_certfile``, ``ssl_keyfile``) and, for ``self-signed``, the CA to trust."""

    cert: Path
    key: Path
    ca: Path | None = None


def tls_files(settings: Settings) -> TlsFiles | None:
    """The certificate and key ``serve`` uses, checked (or made, for ``--tls self-signed``); None for plain HTTP.

    :raises TlsProblem: a file missing or unreadable, not PEM, or a key that is not the certificate's."""
    if settings.tls == "self-signed":
        if settings.tls_cert or settings.tls_key:
            raise TlsProblem("--tls self-signed makes its own certificate: give it without --tls-cert and --tls-key")
        return self_signed(settings.data_dir / "tls", hosts=server_names(settings.host))
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        given, missing = ("--tls-key", "--tls-cert") if settings.tls_cert is None else ("--tls-cert", "--tls-key")
        raise TlsProblem(f"{given} needs {missing} too (the certificate and its private key, PEM)")
    check_pair(settings.tls_cert, settings.tls_key)
    return TlsFiles(settings.tls_cert, settings.tls_key)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsProblem(f"{flag} {path}: cannot read it: {exc.strerror or exc}") from exc


def check_pair(cert_path: Path, key_path: Path) -> None:
    """Refuse a certificate file or key file that cannot serve TLS, naming the flag of the file at fault."""
    try:
        certs = x509.load_pem_x509_certificates(_read(cert_path, "--tls-cert"))
    except ValueError as exc:
        raise TlsProblem(f"--tls-cert {cert_path}: not a PEM certificate ({exc})") from exc
    try:
        key = serialization.load_pem_private_key(_read(key_path, "--tls-key"), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted (uvicorn would prompt for a password)
        raise TlsProblem(f"--tls-key {key_path}: not an unencrypted PEM private key ({exc})") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(serialization.Encoding.PEM, public) != key.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ):
        raise TlsProblem(f"--tls-key {key_path} is not the private key of the certificate in --tls-cert {cert_path}")


def server_names(host: str) -> list[str]:
    """The names the self-signed certificate is valid for: the listening host (this machine's name when it listens
    on every address), localhost, 127.0.0.1 and ::1."""
    names = [socket.gethostname() if host in WILDCARD_HOSTS else host, "localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(name for name in names if name))


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` owner-only (0600), replacing the file in one step."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def _covers(cert: x509.Certificate, hosts: list[str], now: dt.datetime) -> bool:
    """Whether ``cert`` is valid for every host for a while longer."""
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    names = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return all(_normal(host) in names for host in hosts)


def _normal(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def self_signed(folder: Path, *, hosts: list[str]) -> TlsFiles:
    """``ca.pem`` (with ``ca.key``) and ``server.pem`` (with ``server.key``) in ``folder``: made on the first start,
    reused later; the server certificate is made again (by the same CA) when it misses a host or nears its end."""
    ca_pem, ca_key = folder / "ca.pem", folder / "ca.key"
    server_pem, server_key = folder / "server.pem", folder / "server.key"
    now = utcnow()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if ca_pem.exists() and ca_key.exists():
            ca = pki.KeyPair(ca_pem.read_bytes(), ca_key.read_bytes())
        else:
            ca = pki.new_ca(common_name="OpenBCS development CA", organization="OpenBCS", now=now)
            _write_private(ca_key, ca.key_pem)
            ca_pem.write_bytes(ca.cert_pem)
        if server_pem.exists() and server_key.exists() and _covers(pki.load_cert(server_pem.read_bytes()), hosts, now):
            return TlsFiles(server_pem, server_key, ca_pem)
        pair, _ = pki.issue(ca, common_name=hosts[0], organization="OpenBCS", unit=None, hosts=hosts, tls=True, now=now)
        _write_private(server_key, pair.key_pem)
        server_pem.write_bytes(pair.cert_pem + ca.cert_pem)  # the chain: clients that trust ca.pem verify it
    except (OSError, ValueError) as exc:
        raise TlsProblem(f"--tls self-signed: cannot keep the certificates in {folder}: {exc}") from exc
    return TlsFiles(server_pem, server_key, ca_pem)
