"""What the REST API needs besides the node: where it is mounted and the airlock's folders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hub imports this module for the names only
    from tre.airlock.service import AirlockConfig

SERVICE_NAME = "tre-api"
"""The API's name as a JupyterHub service (the proxy routes /services/tre-api/ to it)."""
DECIDE_SCOPE = "custom:tre:decide"
"""The hub scope a token needs to decide through the API (users' own tokens, not servers')."""
PREFIX = f"/services/{SERVICE_NAME}"
"""Where the hub's proxy mounts the API."""


@dataclass(frozen=True)
class ApiSettings:
    """The API's settings, built once and passed to :func:`tre.api.app.create_app`."""

    airlock: AirlockConfig
    service_name: str = SERVICE_NAME

    @property
    def prefix(self) -> str:
        """The path prefix the hub's proxy forwards to the service (kept, not stripped)."""
        return f"/services/{self.service_name}"

    @property
    def access_scope(self) -> str:
        """The hub scope a token needs to call the API."""
        return f"access:services!service={self.service_name}"
