"""Benchmark of openbcs.fabric: one membership change on a 10-organisation channel.

Each iteration does what OpenBCS does when organisation 10 quits: ``next_config_block`` builds the target config,
computes the config update, chooses and collects the admin signatures (a majority: 6 of 10), wraps the update in a
signed CONFIG_UPDATE transaction, applies it and cuts the orderer-signed config block. ``verify_chain`` of the
resulting two-block chain is timed separately.

    .venv/bin/python bench/bench_fabric.py                 # ~200 iterations, prints median/p90 in ms
    .venv/bin/python bench/bench_fabric.py --seconds 2     # a smoke run bounded in time
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import time
from collections.abc import Callable

from openbcs.fabric import (
    ApplicationOrg,
    ChannelSpec,
    Consenter,
    MSPSpec,
    OrdererSpec,
    Signer,
    build_config,
    genesis_block,
    next_config_block,
    verify_chain,
)
from openbcs.network import pki

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
CHANNEL = "bench-channel"


def _org(name: str) -> tuple[MSPSpec, Signer, Signer, pki.KeyPair]:
    msp_id = hashlib.sha1(name.encode()).hexdigest() + "MSP"
    ca = pki.new_ca(common_name=f"ca.{name}", organization=name, now=NOW)
    tls = pki.new_ca(common_name=f"tlsca.{name}", organization=name, now=NOW)
    admin, _ = pki.issue(ca, common_name=f"admin@{name}", organization=name, unit="admin", now=NOW)
    node, _ = pki.issue(ca, common_name=f"node@{name}", organization=name, unit="orderer", now=NOW)
    spec = MSPSpec(msp_id, (ca.cert_pem,), (tls.cert_pem,))
    return spec, Signer(msp_id, admin.cert_pem, admin.key_pem), Signer(msp_id, node.cert_pem, node.key_pem), tls


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(label: str, action: Callable[[], object], iterations: int, deadline: float) -> None:
    samples = []
    while len(samples) < iterations and (not samples or time.perf_counter() < deadline):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    print(
        f"{label:<44} n={len(samples):<4} median {statistics.median(samples):6.2f} ms"
        f"   p90 {_percentile(samples, 0.9):6.2f} ms   min {min(samples):6.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=None, help="stop each measurement after this long")
    parser.add_argument("--smoke", action="store_true", help="a short run for CI: 2 s per measurement at most")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds = min(args.seconds or 2.0, 2.0)

    orgs = [_org(f"org{i}") for i in range(1, args.orgs + 1)]
    ord_spec, _, orderer, ord_tls = _org("orderer-org")
    consenters = []
    for i in range(3):
        host = f"orderer-{i}.orderer.default.svc.cluster.local"
        tls, _ = pki.issue(
            ord_tls, common_name=host, organization="orderer-org", unit=None, hosts=[host], tls=True, now=NOW
        )
        consenters.append(Consenter(host, 7050, tls.cert_pem, tls.cert_pem))
    ordering = OrdererSpec(
        org=ord_spec, consenters=tuple(consenters), addresses=tuple(f"{c.host}:7050" for c in consenters)
    )
    apps = [ApplicationOrg(spec) for spec, _, _, _ in orgs]
    genesis = genesis_block(CHANNEL, build_config(ChannelSpec(CHANNEL, ordering, tuple(apps))), NOW)
    target = ChannelSpec(CHANNEL, ordering, tuple(apps[:-1]))
    # The quitting organisation acts first, then the others in order (as the consortium service would pass them).
    admins = [orgs[-1][1], *(admin for _, admin, _, _ in orgs[:-1])]

    def change() -> object:
        return next_config_block(genesis, target, admins, admins[0], orderer, NOW)

    result = next_config_block(genesis, target, admins, admins[0], orderer, NOW)
    assert result is not None
    block, _, signers = result
    chain = [genesis.SerializeToString(deterministic=True), block.SerializeToString(deterministic=True)]
    assert verify_chain(chain) == []
    size = len(chain[1])
    print(f"{args.orgs} organisations, org {args.orgs} quits: {len(signers)} admin signatures, {size}-byte block")

    deadline = time.perf_counter() + args.seconds if args.seconds else float("inf")
    _measure("next_config_block (update + signatures + block)", change, args.iterations, deadline)
    deadline = time.perf_counter() + args.seconds if args.seconds else float("inf")
    _measure("verify_chain (genesis + that block)", lambda: verify_chain(chain), args.iterations, deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
