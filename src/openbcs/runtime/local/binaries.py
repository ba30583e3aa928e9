"""Finding Hyperledger Fabric's ``orderer`` and ``peer`` binaries and their sample ``config/`` folder.

Fabric is not in any package registry: operators unpack a release archive (``bin/`` and ``config/``) and point
OpenBCS at it, or put the binaries on ``PATH``. Everything wrong with that setup is reported as a
``FabricSetupError`` whose message names the setting to change and what was found instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BIN_SETTING = "--fabric-bin / OPENBCS_FABRIC_BIN"
CONFIG_SETTING = "--fabric-config / OPENBCS_FABRIC_CONFIG"
REQUIRED_MAJOR_MINOR = (2, 5)
CONFIG_FILES = ("core.yaml", "orderer.yaml")
VERSION_TIMEOUT = 10.0  # seconds; `version` only prints constants, so a hang means a broken binary

# Both binaries print a block such as "orderer:\n Version: 2.5.16\n Commit SHA: ..." (release builds add no "v").
_VERSION = re.compile(r"^\s*Version:\s*v?(\d+)\.(\d+)\.(\d+)\S*\s*$", re.MULTILINE)


class FabricSetupError(Exception):
    """The Fabric binaries or configuration cannot be used; the message says which setting to fix."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the binaries in use, the folder holding ``core.yaml``/``orderer.yaml``, and the version.

    ``version`` is the orderer's (the peer's is checked to be 2.5.x as well).
    """

    orderer: Path
    peer: Path
    config_dir: Path
    version: str


def find_binaries(bin_dir: Path | None, config_dir: Path | None) -> Binaries:
    """Locate and check Fabric 2.5 binaries (in ``bin_dir``, else on ``PATH``) and their ``config/`` folder.

    ``config_dir`` defaults to the ``config`` folder next to the binaries' folder, as a release archive unpacks them.
    """
    if bin_dir is None:
        orderer, peer = _on_path("orderer"), _on_path("peer")
        # A symlink on PATH (e.g. /usr/local/bin/orderer) still belongs to the release folder it points into.
        default_config = orderer.resolve().parent.parent / "config"
    else:
        bin_dir = bin_dir.expanduser().absolute()
        if not bin_dir.is_dir():
            raise FabricSetupError(f"Fabric binaries folder {bin_dir} does not exist ({BIN_SETTING})")
        orderer, peer = _in_dir(bin_dir, "orderer"), _in_dir(bin_dir, "peer")
        default_config = bin_dir.parent / "config"
    version = _check_version(orderer)
    _check_version(peer)
    config = default_config if config_dir is None else config_dir.expanduser().absolute()
    _check_config(config, defaulted=config_dir is None)
    return Binaries(orderer=orderer, peer=peer, config_dir=config, version=version)


def _on_path(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise FabricSetupError(
            f"no `{name}` binary on PATH: install Hyperledger Fabric 2.5 binaries and name their folder ({BIN_SETTING})"
        )
    # Absolute: nodes run with their home as working directory.
    return Path(found).absolute()


def _in_dir(bin_dir: Path, name: str) -> Path:
    path = bin_dir / name
    if not path.is_file():
        raise FabricSetupError(f"no `{name}` binary in {bin_dir} ({BIN_SETTING})")
    if not os.access(path, os.X_OK):
        raise FabricSetupError(f"{path} is not executable ({BIN_SETTING})")
    return path


def _check_version(binary: Path) -> str:
    """Run ``<binary> version`` and require 2.5.x; return the version string."""
    name = binary.name
    try:
        # A minimal environment: a FABRIC_CFG_PATH or CORE_* left in the server's environment must not matter here.
        result = subprocess.run(  # noqa: S603 - the operator's configured binary, no shell
            [str(binary), "version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            env={"PATH": os.environ.get("PATH", os.defpath)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FabricSetupError(
            f"`{binary} version` did not answer within {VERSION_TIMEOUT:g} s ({BIN_SETTING})"
        ) from None
    except OSError as error:
        raise FabricSetupError(f"cannot run {binary}: {error.strerror or error} ({BIN_SETTING})") from None
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        said = (result.stdout + result.stderr).strip().splitlines()
        raise FabricSetupError(
            f"`{binary} version` exited {result.returncode} without a Fabric version"
            f"{': ' + said[-1] if said else ''} ({BIN_SETTING})"
        )
    major, minor, patch = (int(part) for part in match.groups())
    version = f"{major}.{minor}.{patch}"
    if (major, minor) != REQUIRED_MAJOR_MINOR:
        raise FabricSetupError(
            f"{name} version {version} at {binary}: the local runtime needs Fabric 2.5.x ({BIN_SETTING})"
        )
    return version


def _check_config(config_dir: Path, *, defaulted: bool) -> None:
    how = "next to the binaries' folder, by default" if defaulted else "as configured"
    if not config_dir.is_dir():
        raise FabricSetupError(
            f"Fabric config folder {config_dir} ({how}) does not exist: it must hold {' and '.join(CONFIG_FILES)} "
            f"from Fabric's release archive ({CONFIG_SETTING})"
        )
    missing = [name for name in CONFIG_FILES if not (config_dir / name).is_file()]
    if missing:
        raise FabricSetupError(
            f"Fabric config folder {config_dir} ({how}) has no {' or '.join(missing)} ({CONFIG_SETTING})"
        )
