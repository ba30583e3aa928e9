"""Fabric nodes' ``/metrics`` served on loopback by a test: the text format as Fabric's Go client writes it, and a
small HTTP server answering each node's exposition (tests/monitoring)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def family(name: str, kind: str, samples: list[tuple[str, float]]) -> list[str]:
    """One metric family in the text format: its HELP and TYPE lines, then ``name{labels} value`` per sample."""
    return [f"# HELP {name} {name}.", f"# TYPE {name} {kind}"] + [
        f"{name}{{{labels}}} {value}" if labels else f"{name} {value}" for labels, value in samples
    ]


def exposition(
    *,
    heights: dict[str, float] | None = None,
    tx: list[float] | None = None,
    leader: dict[str, float] | None = None,
    broadcast: list[float] | None = None,
    cpu: float | None = None,
    rss: float | None = None,
) -> str:
    """A Fabric node's ``/metrics`` as the Go client writes it (counters without ``_total``, except the process's)."""
    lines = family("go_goroutines", "gauge", [("", 42)])
    if heights is not None:
        lines += family("ledger_blockchain_height", "gauge", [(f'channel="{c}"', h) for c, h in heights.items()])
    if tx is not None:
        labels = 'chaincode="cc",channel="c",transaction_type="ENDORSER_TRANSACTION",validation_code="{}"'
        lines += family("ledger_transaction_count", "counter", [(labels.format(i), v) for i, v in enumerate(tx)])
    if leader is not None:
        lines += family("consensus_etcdraft_is_leader", "gauge", [(f'channel="{c}"', v) for c, v in leader.items()])
    if broadcast is not None:
        labels = 'channel="c",status="SUCCESS",type="{}"'
        lines += family(
            "broadcast_processed_count", "counter", [(labels.format(i), v) for i, v in enumerate(broadcast)]
        )
    if cpu is not None:
        lines += family("process_cpu_seconds_total", "counter", [("", cpu)])
    if rss is not None:
        lines += family("process_resident_memory_bytes", "gauge", [("", rss)])
    return "\n".join(lines) + "\n"


@dataclass
class Nodes:
    """Node ``/metrics`` endpoints on 127.0.0.1: ``texts[name]`` is served at ``/<name>/metrics`` (a missing name:
    404, ``"!500"``: a 500), ``requests`` counts what each was asked."""

    texts: dict[str, str] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        nodes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/").removesuffix("/metrics")
                nodes.requests[name] += 1
                text = nodes.texts.get(name)
                status = 404 if text is None else 500 if text == "!500" else 200
                payload = (text or "").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
