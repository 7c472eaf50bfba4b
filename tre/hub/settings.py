"""Settings of the embedded hub (``TRE_HUB_<NAME>``): ports, files and the enforcement interval."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class HubSettings(BaseSettings):
    """How `tre up` runs the proxy, the hub and the permit enforcer on this machine."""

    model_config = SettingsConfigDict(env_prefix="TRE_HUB_", extra="forbid")

    ip: str = Field(default="127.0.0.1",
                    description="Address the public proxy listens on (loopback by default).")
    port: int = Field(default=8000, ge=1, le=65535,
                      description="Port of the public proxy: users open http://IP:PORT/.")
    proxy_api_port: int = Field(default=8001, ge=1, le=65535,
                                description="Loopback port of the proxy's REST API.")
    hub_port: int = Field(default=8081, ge=1, le=65535,
                          description="Loopback port of the hub itself (and its REST API).")
    enforce_interval_s: float = Field(
        default=20.0, gt=0, le=60,
        description="Seconds between two checks of every running server's permit; a server "
        "whose permit ended is stopped within this time (at most 60).")
    config_file: Path = Field(
        default=REPO_ROOT / "jupyterhub_config.py",
        description="The jupyterhub_config.py `tre up` starts the hub with.")
    proxy_command: Path = Field(
        default=REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy",
        description="configurable-http-proxy, installed by scripts/install-node-deps.sh.")

    @field_validator("config_file", "proxy_command")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def public_url(self) -> str:
        """What users open."""
        return f"http://{self.ip}:{self.port}/"

    @property
    def hub_api_url(self) -> str:
        """The hub's REST API, on loopback."""
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    def hub_dir(self, home: Path) -> Path:
        """The hub's own state (its database, cookie secret) under $TRE_HOME."""
        return home / "hub"
