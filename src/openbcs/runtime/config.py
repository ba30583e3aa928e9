"""The runtime settings the rest of the runtime reads, taken once from the server's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openbcs.kernel.settings import Settings

MODELLED = "modelled"
LOCAL = "local"


@dataclass(frozen=True)
class RuntimeConfig:
    """Which runtime runs the nodes, and for the local one: binaries, the host and port range its nodes get, and
    the folder their homes live under (``<data-dir>/nodes/<instance id>/<node name>/``)."""

    kind: str
    node_host: str = "127.0.0.1"
    port_range: tuple[int, int] = (20000, 29999)
    nodes_dir: Path = Path("openbcs-data/nodes")
    fabric_bin: Path | None = None
    fabric_config: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> RuntimeConfig:
        """The runtime part of ``settings``."""
        return cls(
            kind=settings.fabric_runtime,
            node_host=settings.node_host,
            port_range=settings.node_port_range,
            nodes_dir=(settings.data_dir / "nodes").absolute(),
            fabric_bin=settings.fabric_bin,
            fabric_config=settings.fabric_config,
        )

    @property
    def local(self) -> bool:
        """True when nodes are real Fabric processes."""
        return self.kind == LOCAL
