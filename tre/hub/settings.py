"""Settings of the embedded hub (``TRE_HUB_<NAME>``): ports, files, enforcement and login."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    api_port: int = Field(default=8082, ge=1, le=65535,
                          description="Loopback port of tre's REST API service (tre-api); the "
                          "proxy routes /services/tre-api/ to it.")
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
    authenticator: Literal["local", "oidc"] = Field(
        default="local",
        description="How users log in: `local` (tre's users with a hub password, `tre users "
        "passwd`) or `oidc` (an OpenID provider; set the TRE_HUB_OIDC_* settings).")
    oidc_issuer: str | None = Field(
        default=None, description="The OpenID provider's issuer URL (oidc login).")
    oidc_client_id: str | None = Field(
        default=None, description="The hub's client id at the OpenID provider (oidc login).")
    oidc_client_secret_file: Path | None = Field(
        default=None,
        description="File (mode 0600) holding the hub's client secret (oidc login); the "
        "secret itself is never taken from the environment.")
    oidc_username_claim: str = Field(
        default="preferred_username", description="The userinfo claim that is the user name.")
    oidc_groups_claim: str = Field(
        default="groups", description="The userinfo claim listing the user's groups.")
    oidc_scopes: str = Field(
        default="openid profile groups",
        description="Space-separated scopes the hub asks for (they must release both claims).")
    oidc_group_roles: dict[str, str] | None = Field(
        default=None,
        description='Provider group -> tre role as JSON, e.g. {"eucaim-hdab": "hdab_officer"}. '
        "Default: the group tre-<role> gives <role>.")
    oidc_callback_url: str | None = Field(
        default=None,
        description="Where the provider sends users back; default <public URL>hub/oauth_callback "
        "(register exactly this at the provider).")

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

    @property
    def api_url(self) -> str:
        """tre's REST API service, on loopback."""
        return f"http://127.0.0.1:{self.api_port}"

    def hub_dir(self, home: Path) -> Path:
        """The hub's own state (its database, cookie secret) under $TRE_HOME."""
        return home / "hub"

    def missing_login_settings(self) -> list[str]:
        """The settings the chosen login needs but lacks (none for the local login)."""
        if self.authenticator != "oidc":
            return []
        needed = {"TRE_HUB_OIDC_ISSUER": self.oidc_issuer,
                  "TRE_HUB_OIDC_CLIENT_ID": self.oidc_client_id,
                  "TRE_HUB_OIDC_CLIENT_SECRET_FILE": self.oidc_client_secret_file}
        return [name for name, value in needed.items() if not value]
