"""Seeded organisations' PKI rows (``cert_org_pki``, ``cert_issued``): one generated set of certificates per role,
copied to every organisation.

Issuing real certificates costs about a millisecond each and a seeded membership needs about thirty, so the bench
generates one signing CA and one TLS CA, then one certificate per role under them (admin and default user with their
TLS certificates, a peer and an orderer signing certificate, a node TLS certificate), seals each private key once with
the server key, and gives every organisation rows holding these same certificates. A Fabric MSP accepts them: each
organisation's MSP lists the shared CA as its root, an identity is its MSP id with its certificate (so the same
certificate under two MSP ids is two identities), and ``openbcs channel verify`` passes on every seeded channel.
What is not realistic: subjects name the template's organisation, and node TLS certificates carry the template's
host names, not each node's. Nothing measured reads either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import pki
from openbcs.network.identities import DEFAULT_USER, seal, utc_now

TEMPLATE_ORG = "bench-template"
TEMPLATE_MSP = "BenchTemplateMSP"


@dataclass(frozen=True)
class Issued:
    """One template certificate: its PEM, sealed key and serial as ``cert_issued`` stores them."""

    subject: str
    cert: str
    key: str
    serial: str


class PkiTemplate:
    """The generated certificates, and the rows that give them to an organisation."""

    def __init__(self, server_key: ServerKey) -> None:
        now = utc_now()
        self.ca = pki.new_ca(common_name=f"ca.{TEMPLATE_ORG}", organization=TEMPLATE_MSP, now=now)
        self.tlsca = pki.new_ca(common_name=f"tlsca.{TEMPLATE_ORG}", organization=TEMPLATE_MSP, now=now)
        self.sealed_ca, self.sealed_tlsca = seal(server_key, self.ca.key_pem), seal(server_key, self.tlsca.key_pem)

        def issue(who: str, unit: str | None, *, tls: bool = False, hosts: tuple[str, ...] = ()) -> Issued:
            ca = self.tlsca if tls else self.ca
            pair, serial = pki.issue(
                ca, common_name=who, organization=TEMPLATE_MSP, unit=unit, tls=tls, hosts=hosts, now=now
            )
            return Issued(who, pair.cert_pem.decode(), seal(server_key, pair.key_pem), format(serial, "x"))

        admin, user = f"Admin@{TEMPLATE_ORG}", f"{DEFAULT_USER}@{TEMPLATE_ORG}"
        self.members = {
            "admin": issue(admin, "admin"),
            "admin-tls": issue(admin, None, tls=True),
            "user": issue(user, "client"),
            "user-tls": issue(user, None, tls=True),
        }
        self.node = {role: issue(f"{role}.{TEMPLATE_ORG}", role) for role in ("peer", "orderer")}
        self.node_tls = issue(f"node.{TEMPLATE_ORG}", None, tls=True, hosts=(f"node.{TEMPLATE_ORG}",))

    def org_pki(self, org_id: int) -> dict[str, Any]:
        """The organisation's ``cert_org_pki`` row."""
        return {
            "org_id": org_id,
            "ca_cert": self.ca.cert_pem.decode(),
            "ca_key": self.sealed_ca,
            "tlsca_cert": self.tlsca.cert_pem.decode(),
            "tlsca_key": self.sealed_tlsca,
            "crl_number": 0,
        }

    def issued(self, org_id: int, role: str, node_names: list[str]) -> list[dict[str, Any]]:
        """The organisation's ``cert_issued`` rows (without ids): admin and user, then each node's two."""
        now = now_ns()
        rows = [_row(org_id, name, cert, None, now) for name, cert in self.members.items()]
        for node_name in node_names:
            rows.append(_row(org_id, "node", self.node[role], node_name, now))
            rows.append(_row(org_id, "node-tls", self.node_tls, node_name, now))
        return rows


def _row(org_id: int, role: str, cert: Issued, node_name: str | None, now: int) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "role": role,
        "subject": node_name or cert.subject,
        "node_name": node_name,
        "user_name": None,
        "hosted": True,
        "serial": cert.serial,
        "cert": cert.cert,
        "key": cert.key,
        "revoked_at": None,
        "created_time": now,
    }
