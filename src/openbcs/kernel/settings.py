"""Server settings, read from ``OPENBCS_*`` environment variables (the CLI flags set the same variables)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from openbcs.kernel.config_file import FileSettingsSource


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
    # Finished operations (ListOpRecord) are kept this many days, and at most this many per project (oldest go first).
    operation_retention_days: float = Field(default=30, gt=0)
    operation_records_kept: int = Field(default=1000, ge=1)
    # How long a request waits for a database lock held by someone else before 503 BCS.5030001 (database busy).
    database_lock_wait_seconds: float = Field(default=5.0, ge=0)
    # Login lock-out (docs/auth.md): after this many consecutive wrong passwords for a user name from one source
    # address, POST /v3/auth/tokens refuses it from that source for that many minutes, each further lock twice as
    # long (to 24 h); a success, a quiet day or `openbcs user unlock` resets.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: float = Field(default=15, gt=0)
    # Login rate (docs/auth.md, limits.md): token buckets per source address and per account name, in memory per
    # process; a login finding one empty is answered 429 with Retry-After, without a password check.
    login_source_burst: int = Field(default=20, ge=1)
    login_source_per_minute: float = Field(default=60, gt=0)
    login_account_burst: int = Field(default=10, ge=1)
    login_account_per_minute: float = Field(default=30, gt=0)
    # Turns on the admin API (/openbcs/admin/...: reset, state export and import, apply); None keeps it off.
    admin_token: str | None = Field(default=None, min_length=16)
    # The web console at /console (docs/console.md); off, its URLs answer 404 like any unknown URL.
    console_enabled: bool = True
    # What runs each instance's orderers and peers (docs/runtime.md): "modelled" keeps them as rows of the model;
    # "local" runs them as Hyperledger Fabric 2.5 processes found in fabric_bin (default: on PATH).
    fabric_runtime: Literal["modelled", "local"] = "modelled"
    # How long a signature request (docs/governance.md) waits for the external organisations' admins, in hours.
    signature_ttl_hours: int = Field(default=72, ge=1, le=168)
    fabric_bin: Path | None = None
    fabric_config: Path | None = None
    # The local runtime's nodes: the host they advertise (in their TLS certificates and the channel configuration)
    # and the range their ports are allocated from.
    node_host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    node_ports: str = "20000-29999"
    # Registers the engine's diagnostic operation kind; only the engine's own tests turn it on.
    enable_test_kinds: bool = False
    # HTTPS on the same port (docs/tls.md): a certificate chain and its key (PEM), or "self-signed" for development
    # (a CA and a server certificate kept in <data_dir>/tls). Neither: plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls: Literal["off", "self-signed"] = "off"
    # Proxies (comma-separated addresses or networks, "*" for any) whose X-Forwarded-For/-Proto are believed: the
    # client address and the scheme (https: Secure console cookies) then come from those headers (uvicorn's rule).
    forwarded_allow_ips: str = "127.0.0.1"
    # A connection whose request headers (body) have not fully arrived this many seconds after it opened (after the
    # headers) is closed; at most max_connections connections per server process, more are answered 503 (limits.md).
    request_header_timeout: float = Field(default=10.0, gt=0)
    request_body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (given as arguments), then the environment, then the settings file the CLI read (openbcs.toml,
        docs/configuration.md; none elsewhere), then the defaults."""
        return init_settings, env_settings, dotenv_settings, FileSettingsSource(settings_cls), file_secret_settings

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
