"""Context for the reads, where moto is installed: Amazon Managed Blockchain's ListMembers on moto's server (an
in-memory mock of the AWS API, a comparable kind of management API), loaded like OpenBCS's calls.

Skipped, with a line saying so in the report, when ``moto`` (with its server extra) or ``boto3`` is missing.
"""

from __future__ import annotations

import importlib.util
import sys

from bench.harness import free_port, running
from bench.load import Measurement, measure
from bench.report import pairs_table
from bench.runner import Run

MEMBER = {
    "Name": "bench-member",
    "Description": "bench",
    "FrameworkConfiguration": {"Fabric": {"AdminUsername": "admin", "AdminPassword": "Admin12345"}},
    "LogPublishingConfiguration": {"Fabric": {"CaLogs": {"Cloudwatch": {"Enabled": False}}}},
}
POLICY = {"ApprovalThresholdPolicy": {"ThresholdPercentage": 50, "ProposalDurationInHours": 24}}


def measure_moto(run: Run) -> tuple[str, Measurement | None]:
    """Markdown for the report (moto's ListMembers table, or why it was skipped) and the measurement, if any."""
    if not all(importlib.util.find_spec(name) for name in ("moto", "boto3", "flask")):
        return "moto is not installed (`pip install -e '.[bench]'`): the moto comparison was skipped.", None
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running("moto", cmd, env=run.env, log=run.tmp / "moto.log", port=port, health="/moto-api/") as server:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        client = session.client("managedblockchain", endpoint_url=server.url(""))
        network = client.create_network(
            Name="bench",
            Framework="HYPERLEDGER_FABRIC",
            FrameworkVersion="1.2",
            FrameworkConfiguration={"Fabric": {"Edition": "STARTER"}},
            VotingPolicy=POLICY,
            MemberConfiguration=MEMBER,
        )
        path = f"/networks/{network['NetworkId']}/members"
        request = AWSRequest(method="GET", url=server.url(path))
        credentials = session.get_credentials()
        assert credentials is not None
        SigV4Auth(credentials, "managedblockchain", "us-east-1").add_auth(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        found = run.keep(measure("AMB ListMembers (moto server)", server, path, headers=headers, **run.load()))
    text = "\n".join(
        [
            "Context: moto's server (one network, one member), SigV4-signed.",
            "",
            *pairs_table([(found, None)], notes=False),
        ]
    )
    return text, found
