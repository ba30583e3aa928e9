"""find_binaries: the real Fabric 2.5 binaries are accepted; every wrong setup is refused naming the setting to fix."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openbcs.runtime.local import binaries
from openbcs.runtime.local.binaries import FabricSetupError, find_binaries
from tests.runtime.local.realnet import fabric_bin_or_skip

BIN = ("--fabric-bin", "OPENBCS_FABRIC_BIN")
CONFIG = ("--fabric-config", "OPENBCS_FABRIC_CONFIG")


def fake_release(root: Path, *, orderer: str = "2.5.3", peer: str = "2.5.3", config: bool = True) -> Path:
    """A release-like folder: bin/ with scripts that print ``version`` like Fabric's, and config/."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for name, version in (("orderer", orderer), ("peer", peer)):
        script(bin_dir / name, f'printf "{name}:\\n Version: {version}\\n Commit SHA: fake\\n"')
    if config:
        (root / "config").mkdir()
        for name in ("core.yaml", "orderer.yaml"):
            (root / "config" / name).write_text("# fake\n")
    return bin_dir


def script(path: Path, body: str) -> None:
    """An executable shell script."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def refused(bin_dir: Path | None, config_dir: Path | None = None) -> str:
    """The message find_binaries refuses with."""
    with pytest.raises(FabricSetupError) as caught:
        find_binaries(bin_dir, config_dir)
    return str(caught.value)


def names(message: str, setting: tuple[str, str]) -> bool:
    """True if the message names both spellings of the setting."""
    return all(spelling in message for spelling in setting)


def test_real_binaries_are_fabric_2_5() -> None:
    found = fabric_bin_or_skip()
    again = find_binaries(found.orderer.parent, found.config_dir)
    assert again == found
    assert found.version.startswith("2.5.")
    assert found.orderer.is_absolute()
    assert found.peer.name == "peer"
    assert (found.config_dir / "core.yaml").is_file()


def test_path_lookup_follows_a_symlink_to_the_release_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fabric_bin_or_skip()
    links = tmp_path / "links"
    links.mkdir()
    for binary in (real.orderer, real.peer):
        (links / binary.name).symlink_to(binary)
    monkeypatch.setenv("PATH", str(links))
    found = find_binaries(None, None)
    assert found.orderer == links / "orderer"
    assert found.config_dir == real.orderer.resolve().parent.parent / "config"
    assert found.version == real.version


def test_fake_release_is_accepted_with_its_config_next_to_bin(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path)
    found = find_binaries(bin_dir, None)
    assert found == binaries.Binaries(bin_dir / "orderer", bin_dir / "peer", tmp_path / "config", "2.5.3")


def test_path_lookup_without_binaries_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    message = refused(None)
    assert "no `orderer` binary on PATH" in message
    assert names(message, BIN)


def test_wrong_version_is_refused_naming_version_and_path(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path, orderer="2.4.9")
    message = refused(bin_dir)
    assert f"orderer version 2.4.9 at {bin_dir / 'orderer'}" in message
    assert "needs Fabric 2.5.x" in message
    assert names(message, BIN)


def test_peer_version_is_checked_too(tmp_path: Path) -> None:
    message = refused(fake_release(tmp_path, peer="3.0.0"))
    assert "peer version 3.0.0" in message
    assert names(message, BIN)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path / "nowhere")
    assert f"{tmp_path / 'nowhere'} does not exist" in message
    assert names(message, BIN)


def test_missing_binary_is_refused(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path)
    (bin_dir / "peer").unlink()
    message = refused(bin_dir)
    assert f"no `peer` binary in {bin_dir}" in message
    assert names(message, BIN)


def test_non_executable_binary_is_refused(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path)
    (bin_dir / "orderer").chmod(0o644)
    message = refused(bin_dir)
    assert "is not executable" in message
    assert names(message, BIN)


def test_binary_that_prints_no_version_is_refused(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path)
    script(bin_dir / "orderer", 'echo "segmentation fault" >&2; exit 2')
    message = refused(bin_dir)
    assert "exited 2 without a Fabric version: segmentation fault" in message
    assert names(message, BIN)


def test_binary_that_hangs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "VERSION_TIMEOUT", 0.3)
    bin_dir = fake_release(tmp_path)
    script(bin_dir / "peer", "exec sleep 30")  # exec: the timeout's kill reaches the sleep itself
    message = refused(bin_dir)
    assert "did not answer within 0.3 s" in message
    assert names(message, BIN)


def test_missing_default_config_is_refused(tmp_path: Path) -> None:
    message = refused(fake_release(tmp_path, config=False))
    assert f"{tmp_path / 'config'} (next to the binaries' folder, by default) does not exist" in message
    assert names(message, CONFIG)


def test_config_without_orderer_yaml_is_refused(tmp_path: Path) -> None:
    bin_dir = fake_release(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "core.yaml").write_text("# fake\n")
    message = refused(bin_dir, elsewhere)
    assert f"{elsewhere} (as configured) has no orderer.yaml" in message
    assert names(message, CONFIG)
    assert not names(message, BIN)
