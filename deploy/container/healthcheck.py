"""The image's HEALTHCHECK: exit 0 when OpenBCS's /healthz answers 200, else 1 (standard library only).

It reads what the server reads: OPENBCS_HOST and OPENBCS_PORT (the image sets 0.0.0.0 and 8080), and HTTPS when
OPENBCS_TLS_CERT is set or OPENBCS_TLS is self-signed. Give the port and TLS to the container by environment, not by
flags, so that this check finds them. The server's own certificate is not verified: this asks the server in the same
container whether it is alive; a client checks the certificate (docs/tls.md)."""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

# A wildcard listening address is reached on loopback.
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared with, not bound to


def url() -> str:
    """The /healthz URL of the server in this container."""
    host = os.environ.get("OPENBCS_HOST", "127.0.0.1")
    if host in _WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("OPENBCS_PORT", "8080")
    tls = bool(os.environ.get("OPENBCS_TLS_CERT")) or os.environ.get("OPENBCS_TLS", "off") not in ("", "off")
    return f"{'https' if tls else 'http'}://{host}:{port}/healthz"


def main() -> int:
    """Ask /healthz once; print the answer (the container engine keeps it in the health log)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    target = url()
    try:
        with urllib.request.urlopen(target, timeout=4, context=context) as answer:  # noqa: S310 - http(s) only
            print(target, answer.status, answer.read(200).decode(errors="replace"))
            return 0 if answer.status == 200 else 1
    except Exception as exc:  # any failure is "unhealthy", said in one line
        print(target, "unhealthy:", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
