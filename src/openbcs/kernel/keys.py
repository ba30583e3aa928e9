"""The server key: one secret in the data directory from which every symmetric key of OpenBCS is derived.

Tokens, secret keys at rest (an SK is needed in clear to verify signatures) and, later, private keys of the PKI are
each encrypted with their own Fernet key derived by HKDF, so that a token can never be decrypted as a stored SK.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openbcs.kernel.settings import Settings


class ServerKey:
    """Holds the master secret and hands out purpose-bound Fernet keys."""

    def __init__(self, master: bytes) -> None:
        if len(master) < 32:
            raise ValueError("the server key must hold at least 32 bytes")
        self._master = master

    @cache  # noqa: B019 - one ServerKey lives as long as the process; the cache is bounded by the purposes
    def fernet(self, purpose: str) -> Fernet:
        """The Fernet key for one purpose (``token``, ``access-key``, ...)."""
        return Fernet(base64.urlsafe_b64encode(self.derive(purpose)))

    @cache  # noqa: B019 - as above
    def derive(self, purpose: str) -> bytes:
        """32 bytes bound to one purpose (HKDF-SHA256), e.g. an HMAC key; never the same as another purpose's."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(self._master)

    def encrypt(self, purpose: str, data: bytes) -> str:
        """Encrypt ``data`` for storage under ``purpose``."""
        return self.fernet(purpose).encrypt(data).decode("ascii")

    def decrypt(self, purpose: str, token: str) -> bytes:
        """Decrypt what :meth:`encrypt` produced for the same purpose."""
        return self.fernet(purpose).decrypt(token.encode("ascii"))

    def fingerprint(self) -> str:
        """A public identifier of this key (do two servers, or a state export and a server, share it?), never the key
        itself: 16 bytes derived for no other purpose."""
        derived = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"fingerprint").derive(self._master)
        return derived.hex()


def load_server_key(settings: Settings) -> ServerKey:
    """The key from ``OPENBCS_SECRET_KEY``, else from ``<data-dir>/server.key`` (created, mode 0600, if absent).

    Servers sharing one PostgreSQL database must share this key (same file or same environment variable).
    """
    if settings.secret_key:
        return ServerKey(base64.urlsafe_b64decode(settings.secret_key.encode()))
    path: Path = settings.secret_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key + b"\n")
    return ServerKey(base64.urlsafe_b64decode(path.read_bytes().strip()))
