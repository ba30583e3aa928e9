"""Server settings, read from ``OPENBCS_*`` environment variables (the CLI flags set the same variables)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server, the worker and the CLI may be configured with."""

    model_config = SettingsConfigDict(env_prefix="OPENBCS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("./openbcs-data")
    database_url: str | None = None
    region: str = "cn-north-4"
    token_lifetime_seconds: int = Field(default=24 * 3600, gt=0)
    signature_skew_seconds: int = Field(default=15 * 60, ge=0)
    operation_step_seconds: float = Field(default=0.5, ge=0)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    workers: int = Field(default=1, ge=1)
    secret_key: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_source: Literal["model", "prometheus", "none"] = "model"
    prometheus_url: str | None = None
    metrics_queries_file: Path | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    event_retention_days: float = Field(default=30, gt=0)
    # How long a request waits for a database lock held by someone else before 503 BCS.5030001 (database busy).
    database_lock_wait_seconds: float = Field(default=5.0, ge=0)
    # Login lock-out, as Huawei IAM's account lockout policy: after this many consecutive wrong passwords for a
    # user name, POST /v3/auth/tokens refuses it for that many minutes (a success or `openbcs user unlock` resets).
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: float = Field(default=15, gt=0)
    # Turns on the admin API (/openbcs/admin/...: reset, state export and import, apply); None keeps it off.
    admin_token: str | None = Field(default=None, min_length=16)
    # The web console at /console (docs/console.md); off, its URLs answer 404 like any unknown URL.
    console_enabled: bool = True
    # What runs each instance's orderers and peers (docs/runtime.md): "modelled" keeps them as rows of the model;
    # "local" runs them as Hyperledger Fabric 2.5 processes found in fabric_bin (default: on PATH).
    fabric_runtime: Literal["modelled", "local"] = "modelled"
    fabric_bin: Path | None = None
    fabric_config: Path | None = None
    # The local runtime's nodes: the host they advertise (in their TLS certificates and the channel configuration)
    # and the range their ports are allocated from.
    node_host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    node_ports: str = "20000-29999"
    # Registers the engine's diagnostic operation kind; only the engine's own tests turn it on.
    enable_test_kinds: bool = False

    @field_validator("node_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        low, sep, high = value.partition("-")
        if not (sep and low.strip().isdigit() and high.strip().isdigit()):
            raise ValueError("node_ports must be a range LOW-HIGH, e.g. 20000-29999")
        if not 1024 <= int(low) <= int(high) - 8 <= 65535 - 8:
            raise ValueError("node_ports must lie within 1024-65535 and hold at least 9 ports")
        return f"{int(low)}-{int(high)}"

    @property
    def node_port_range(self) -> tuple[int, int]:
        """``(low, high)`` of ``node_ports``, both included."""
        low, _, high = self.node_ports.partition("-")
        return int(low), int(high)

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openbcs.db').resolve()}"

    @property
    def secret_key_path(self) -> Path:
        """Where the server key lives when it is not given in the environment."""
        return self.data_dir / "server.key"
