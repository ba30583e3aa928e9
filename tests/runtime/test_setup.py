"""What ``openbcs serve`` checks before serving with a runtime: the local runtime's binaries (a missing or wrong
Fabric is refused, naming the setting), and that a database's instances belong to the runtime that created them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.runtime.setup import foreign_instances, problem
from tests.runtime.network import OPENBCS
from tests.support import bodies


def test_serve_refuses_the_local_runtime_without_fabric(tmp_path: Path) -> None:
    done = subprocess.run(
        [OPENBCS, "serve", "--port", "0", "--data-dir", str(tmp_path), "--fabric-runtime", "local",
         "--fabric-bin", str(tmp_path / "no-fabric")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --fabric-runtime local: Fabric binaries folder {tmp_path / 'no-fabric'} does not exist "
        "(--fabric-bin / OPENBCS_FABRIC_BIN)"
    )
    assert "listening" not in done.stderr


def test_a_wrong_fabric_version_is_refused(tmp_path: Path, db: Database, settings: Settings) -> None:
    for name in ("orderer", "peer"):
        script = tmp_path / "bin" / name
        script.parent.mkdir(exist_ok=True)
        script.write_text("#!/bin/sh\necho ' Version: 2.4.9'\n")
        script.chmod(0o755)
    local = settings.model_copy(update={"fabric_runtime": "local", "fabric_bin": tmp_path / "bin"})
    found = problem(local, db)
    assert found is not None
    assert "2.4.9" in found
    assert "--fabric-bin / OPENBCS_FABRIC_BIN" in found


def test_a_database_serves_only_the_runtime_that_created_its_instances(
    make_tenant: Any, settings: Settings, db: Database
) -> None:
    assert problem(settings, db) is None
    make_tenant().create_instance(bodies.union_instance_body())
    assert problem(settings, db) is None  # the modelled runtime's own instance
    assert foreign_instances(db, "modelled") is None
    assert foreign_instances(db, "local") == (
        "the database holds 1 instance(s) of the modelled runtime; it cannot be served with --fabric-runtime local "
        "(OPENBCS_FABRIC_RUNTIME): serve it with the runtime that created them, or give this runtime its own "
        "--data-dir / --database-url"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20000", "node_ports must be a range LOW-HIGH"),
        ("a-b", "node_ports must be a range LOW-HIGH"),
        ("80-2000", "node_ports must lie within 1024-65535 and hold at least 9 ports"),
        ("20000-20004", "node_ports must lie within 1024-65535 and hold at least 9 ports"),
        ("60000-70000", "node_ports must lie within 1024-65535 and hold at least 9 ports"),
    ],
)
def test_node_ports_must_be_a_usable_range(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(node_ports=value)
    assert Settings(node_ports=" 21000-21999 ".strip()).node_port_range == (21000, 21999)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--fabric-runtime", "kubernetes"],
            "--fabric-runtime (OPENBCS_FABRIC_RUNTIME): Input should be 'modelled' or 'local'",
        ),
        (
            ["--node-ports", "5-6"],
            "--node-ports (OPENBCS_NODE_PORTS): node_ports must lie within 1024-65535 and hold at least 9 ports",
        ),
    ],
)
def test_serve_names_a_setting_it_cannot_take(tmp_path: Path, flags: list[str], message: str) -> None:
    done = subprocess.run(
        [OPENBCS, "serve", "--port", "0", "--data-dir", str(tmp_path), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "openbcs.db").exists()
