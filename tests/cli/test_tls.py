"""``openbcs serve`` over TLS: the official SDK lists operation records over HTTPS trusting the printed CA (one
process and ``--workers 2``); plain HTTP to that port gets no answer; the console cookie is Secure over TLS and
behind a trusted TLS-terminating proxy; certificate problems stop ``serve`` with one line naming the flag."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from typer.testing import CliRunner

from openbcs.cli import app
from openbcs.cli.tls import self_signed
from openbcs.kernel.db import Database
from openbcs.network import pki
from tests.conftest import SECRET_KEY
from tests.support.accounts import TestAccount
from tests.support.diagnostic import seed
from tests.support.servers import cli_env, free_port, start_serve, stop_serve, trusting, wait_healthy

SECRET = {"OPENBCS_SECRET_KEY": SECRET_KEY}  # the suite's key: the server reads what the test stored


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sdk_lists_operation_records_over_https_with_the_printed_ca(
    workers: int,
    tmp_path: Path,
    database_url: str,
    db: Database,
    make_account: Callable[..., TestAccount],
) -> None:
    from huaweicloudsdkbcs.v2 import BcsClient, ListOpRecordRequest
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig

    account = make_account()
    finished = db.run_write(seed, "finished", domain_id=account.domain_id, project_id=account.project_id)
    port = free_port()
    data = tmp_path / "data"
    args = ["--tls", "self-signed", "--port", str(port), "--data-dir", str(data), "--database-url", database_url]
    process = start_serve([*args, "--workers", str(workers)], cwd=tmp_path, env=SECRET)
    url = f"https://127.0.0.1:{port}"
    ca = data / "tls" / "ca.pem"
    try:
        wait_healthy(url, process, ca=ca)
        config = HttpConfig.get_default_config()
        config.ssl_ca_cert = str(ca)
        client = (
            BcsClient.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials(account.ak, account.sk, account.project_id))
            .with_endpoints([url])
            .build()
        )
        for _ in range(2 * workers):  # with --workers 2, connections spread over both processes
            records = client.list_op_record(ListOpRecordRequest())
            assert [(r.operation_id, r.operation_status) for r in records.operation_records] == [(finished, "finished")]
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port: no HTTP answer at all
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # a client not trusting the CA
            httpx.get(f"{url}/healthz", timeout=5)
        assert httpx.get(f"{url}/healthz", timeout=5, verify=trusting(ca)).json()["status"] == "ok"
    finally:
        err = stop_serve(process).stderr
    assert f"OpenBCS listening on {url} (database " in err
    assert f"OpenBCS TLS: self-signed; clients trust the CA certificate {ca.resolve()}\n" in err
    assert process.returncode == 0
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in (data / "tls").iterdir()} == {
        "ca.pem": "0o644",
        "ca.key": "0o600",
        "server.pem": "0o644",
        "server.key": "0o600",
    }


@pytest.mark.slow
def test_console_cookie_is_secure_over_tls_and_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """The console's cookies carry Secure when the request came over TLS: directly, or through a proxy listed in
    --forwarded-allow-ips that says X-Forwarded-Proto: https; a peer not listed (here 127.0.0.2, another loopback
    address) cannot claim it."""
    tls_port, plain_port = free_port(), free_port()
    tls_args = ["--tls", "self-signed", "--port", str(tls_port), "--data-dir", str(tmp_path / "a")]
    tls = start_serve(tls_args, cwd=tmp_path, env=SECRET)
    plain_args = ["--port", str(plain_port), "--data-dir", str(tmp_path / "b"), "--forwarded-allow-ips", "127.0.0.1"]
    plain = start_serve(plain_args, cwd=tmp_path, env=SECRET)
    try:
        ca = tmp_path / "a" / "tls" / "ca.pem"
        wait_healthy(f"https://127.0.0.1:{tls_port}", tls, ca=ca)
        wait_healthy(f"http://127.0.0.1:{plain_port}", plain)

        def cookie(url: str, source: str = "127.0.0.1", **headers: str) -> str:
            transport = httpx.HTTPTransport(local_address=source, verify=trusting(ca))
            with httpx.Client(transport=transport, timeout=10) as client:
                response = client.get(f"{url}/console/sign-in", headers=headers)
            assert response.status_code == 200
            assert "Sign in" in response.text
            return response.headers["set-cookie"]

        direct = cookie(f"https://127.0.0.1:{tls_port}")
        proxied = cookie(f"http://127.0.0.1:{plain_port}", **{"X-Forwarded-Proto": "https"})
        bare = cookie(f"http://127.0.0.1:{plain_port}")
        claimed = cookie(f"http://127.0.0.1:{plain_port}", "127.0.0.2", **{"X-Forwarded-Proto": "https"})
    finally:
        try:
            stop_serve(tls)
        finally:  # the other one too, even when the first did not stop
            stop_serve(plain)
    for header in (direct, proxied, bare, claimed):
        assert header.startswith("openbcs_console_pre=")
        assert "; HttpOnly;" in header
        assert "; Path=/console;" in header
        assert "; SameSite=strict" in header
    assert "; Secure" in direct
    assert "; Secure" in proxied
    assert "Secure" not in bare
    assert "Secure" not in claimed


def test_self_signed_material_is_made_once_and_reissued_for_a_new_host(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    first = self_signed(folder, hosts=["127.0.0.1", "localhost"])
    files = {name: (folder / name).read_bytes() for name in ("ca.pem", "ca.key", "server.pem", "server.key")}
    again = self_signed(folder, hosts=["localhost", "127.0.0.1"])
    assert again == first
    assert {name: (folder / name).read_bytes() for name in files} == files  # reused as they were
    other = self_signed(folder, hosts=["bcs.example.test", "127.0.0.1"])
    assert (folder / "ca.pem").read_bytes() == files["ca.pem"]  # clients keep trusting the same CA
    assert (folder / "server.pem").read_bytes() != files["server.pem"]
    assert other.ca == folder / "ca.pem"
    leaf = x509.load_pem_x509_certificates((folder / "server.pem").read_bytes())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["bcs.example.test"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert pki.issued_by(leaf, files["ca.pem"])


def _pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate and its key (PEM files ``name``.pem and ``name``.key) from a CA of their own."""
    now = dt.datetime.now(dt.UTC)
    ca = pki.new_ca(common_name="ca", organization="Test", now=now)
    pair, _ = pki.issue(ca, common_name="h", organization="Test", unit=None, hosts=["127.0.0.1"], tls=True, now=now)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    return cert, key


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing cert", r"--tls-cert {d}/nope.pem: cannot read it: No such file or directory"),
        ("not a cert", r"--tls-cert {d}/a.key: not a PEM certificate \(.+\)"),
        ("not a key", r"--tls-key {d}/a.pem: not an unencrypted PEM private key \(.+\)"),
        ("mismatch", r"--tls-key {d}/b.key is not the private key of the certificate in --tls-cert {d}/a.pem"),
        ("key only", r"--tls-key needs --tls-cert too \(the certificate and its private key, PEM\)"),
        ("cert only", r"--tls-cert needs --tls-key too \(the certificate and its private key, PEM\)"),
        ("both", r"--tls self-signed makes its own certificate: give it without --tls-cert and --tls-key"),
    ],
)
def test_unusable_certificate_or_key_stops_serve_naming_the_flag(tmp_path: Path, case: str, expected: str) -> None:
    a_cert, a_key = _pair(tmp_path, "a")
    _, b_key = _pair(tmp_path, "b")
    args = {
        "missing cert": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(a_key)],
        "not a cert": ["--tls-cert", str(a_key), "--tls-key", str(a_key)],
        "not a key": ["--tls-cert", str(a_cert), "--tls-key", str(a_cert)],
        "mismatch": ["--tls-cert", str(a_cert), "--tls-key", str(b_key)],
        "key only": ["--tls-key", str(a_key)],
        "cert only": ["--tls-cert", str(a_cert)],
        "both": ["--tls", "self-signed", "--tls-cert", str(a_cert), "--tls-key", str(a_key)],
    }[case]
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--data-dir", str(data), *args], env=cli_env())
    assert result.exit_code == 2
    assert re.fullmatch("error: " + expected.format(d=re.escape(str(tmp_path))) + "\n", result.stderr), result.stderr
    assert "listening" not in result.output
    assert not (data / "openbcs.db").exists()  # refused before the database is touched
    assert not (data / "tls").exists()


def test_unreadable_key_is_refused(tmp_path: Path) -> None:
    cert, _ = _pair(tmp_path, "a")
    folder = tmp_path / "keys"  # a path that cannot be read as a file, whoever runs the test (root reads any file)
    folder.mkdir()
    result = CliRunner().invoke(
        app,
        ["serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--tls-cert", str(cert), "--tls-key", str(folder)],
        env=cli_env(),
    )
    assert result.exit_code == 2
    assert result.stderr == f"error: --tls-key {folder}: cannot read it: Is a directory\n"
    assert not (tmp_path / "d" / "openbcs.db").exists()
