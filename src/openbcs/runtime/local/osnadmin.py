"""Fabric's channel participation API (``osnadmin channel ...``) spoken from Python: one function per verb.

An orderer's admin endpoint (``ORDERER_ADMIN_LISTENADDRESS``) is HTTPS with mutual TLS: the client presents a TLS
certificate issued by one of ``ORDERER_ADMIN_TLS_CLIENTROOTCAS`` (here the orderer organisation's TLS CA, whose
admin holds an ``admin-tls`` pair) and verifies the orderer's TLS certificate against the orderer's TLS root CA.
The routes and answers follow ``orderer/common/channelparticipation/restapi.go``: JSON bodies, errors as
``{"error": "..."}`` (e.g. 405 "cannot join: channel already exists", 404 "channel does not exist").

Python's ``ssl`` loads a client certificate and key only from files, so ``_ssl_context`` writes them to a fresh
private directory (0700, files 0600), loads them and removes them at once: the key lives on disk for the duration of
one ``load_cert_chain`` call and is then held only in the in-memory ``SSLContext``, which is cached per ``AdminTLS``.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fabric_protos.common.common_pb2 import Block, Envelope
from google.protobuf.message import DecodeError

from openbcs.fabric.blocks import channel_id_of

CHANNELS = "/participation/v1/channels"
FORM_FIELD = "config-block"  # channelparticipation.FormDataConfigBlockKey
TIMEOUT = 10.0  # seconds; a join writes block 0 and starts a chain, which takes well under a second


@dataclass(frozen=True)
class AdminTLS:
    """Mutual TLS material for an orderer's admin endpoint, all PEM.

    ``ca_cert`` verifies the orderer (its organisation's TLS root CA); ``client_cert``/``client_key`` are an orderer
    organisation admin's TLS client pair, issued by a CA the orderer lists in ``ORDERER_ADMIN_TLS_CLIENTROOTCAS``.
    """

    ca_cert: bytes
    client_cert: bytes
    client_key: bytes


@dataclass(frozen=True)
class ChannelInfo:
    """What the orderer says about one of its channels (``types.ChannelInfo``).

    ``status``: active | onboarding | inactive | failed; ``consensus_relation``: consenter | follower |
    config-tracker | other; ``height``: the number of blocks in the orderer's ledger.
    """

    name: str
    status: str
    consensus_relation: str
    height: int


class OrdererAdminError(Exception):
    """The admin endpoint refused a request: the HTTP status and Fabric's ``error`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"orderer admin answered {status}: {message}" if status else message)
        self.status = status
        self.message = message


class AdminConnectionError(OrdererAdminError):
    """No HTTP answer at all (status 0): connection refused, timeout, or the TLS handshake failed, which is how the
    orderer refuses a client certificate it does not trust."""


def join(address: str, channel_id: str, config_block: bytes, tls: AdminTLS) -> ChannelInfo:
    """Join the orderer at ``address`` (its admin ``host:port``) to the channel whose config block is given.

    Fabric takes the channel id from the block, so ``channel_id`` is checked against the block first (ValueError):
    a wrong block must not be joined under another name. A channel the orderer already has is refused with 405.
    """
    try:
        block = Block.FromString(config_block)
        in_block = channel_id_of(Envelope.FromString(block.data.data[0])) if block.data.data else None
    except DecodeError as error:
        raise ValueError(f"not a config block: {error}") from error
    if in_block != channel_id:
        raise ValueError(f"the config block is for channel {in_block!r}, not {channel_id!r}")
    files = {FORM_FIELD: ("config.block", config_block, "application/octet-stream")}
    return _channel_info(_request("POST", address, CHANNELS, tls, expect=(201,), files=files))


def list_channels(address: str, tls: AdminTLS) -> list[str]:
    """Names of the channels the orderer has (any status)."""
    body = _request("GET", address, CHANNELS, tls, expect=(200,))
    # Go encodes an empty channel list as null.
    return [str(channel["name"]) for channel in body.get("channels") or ()]


def channel_info(address: str, channel_id: str, tls: AdminTLS) -> ChannelInfo | None:
    """The orderer's view of one channel, or None if it does not have it."""
    try:
        body = _request("GET", address, _channel_path(channel_id), tls, expect=(200,))
    except OrdererAdminError as error:
        if error.status == 404:
            return None
        raise
    return _channel_info(body)


def remove(address: str, channel_id: str, tls: AdminTLS) -> None:
    """Remove the orderer from a channel. A channel it does not have counts as removed.

    Fabric halts the chain and deletes the ledger in the background: until that ends the channel is still listed
    (``channel_info`` says None or gives its last status without height) and both a join and another removal are
    refused with 409 "channel pending removal"; the latter is taken here as removal under way, so it returns.
    """
    try:
        _request("DELETE", address, _channel_path(channel_id), tls, expect=(204,))
    except OrdererAdminError as error:
        if error.status not in (404, 409):
            raise


def _channel_path(channel_id: str) -> str:
    # Quoted so that an odd id cannot reach another route; Fabric's own ids ([a-z0-9.-]) pass unchanged.
    return f"{CHANNELS}/{quote(channel_id, safe='')}"


def _channel_info(body: dict[str, Any]) -> ChannelInfo:
    return ChannelInfo(
        name=str(body["name"]),
        status=str(body["status"]),
        consensus_relation=str(body["consensusRelation"]),
        height=int(body["height"]),
    )


def _request(
    method: str, address: str, path: str, tls: AdminTLS, *, expect: tuple[int, ...], **kwargs: Any
) -> dict[str, Any]:
    """Send one request; return the JSON body of an expected answer ({} when there is none), else raise."""
    url = f"https://{address}{path}"
    try:
        # trust_env=False: an HTTPS_PROXY of the server's environment must not carry admin calls to a node.
        with httpx.Client(verify=_ssl_context(tls), timeout=TIMEOUT, trust_env=False) as client:
            response = client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        raise AdminConnectionError(0, f"{method} {url}: {type(error).__name__}: {error}") from error
    if response.status_code not in expect:
        raise OrdererAdminError(response.status_code, _error_text(response))
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError as error:
        raise OrdererAdminError(response.status_code, f"answer is not JSON: {response.text[:200]!r}") from error
    if not isinstance(body, dict):
        raise OrdererAdminError(response.status_code, f"answer is not a JSON object: {response.text[:200]!r}")
    return body


def _error_text(response: httpx.Response) -> str:
    """Fabric's ``{"error": "..."}`` text, or the raw body when something else answered."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    return response.text.strip()


@functools.lru_cache(maxsize=32)
def _ssl_context(tls: AdminTLS) -> ssl.SSLContext:
    """A client context trusting ``tls.ca_cert`` and presenting the admin's pair (see the module docstring)."""
    context = ssl.create_default_context(cadata=tls.ca_cert.decode("ascii"))
    with tempfile.TemporaryDirectory(prefix="openbcs-admin-tls-") as folder:  # mkdtemp: mode 0700
        cert_path, key_path = Path(folder, "client.crt"), Path(folder, "client.key")
        for path, content in ((cert_path, tls.client_cert), (key_path, tls.client_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(content)
        context.load_cert_chain(cert_path, key_path)
    return context
