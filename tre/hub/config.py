"""Wire JupyterHub for tre: what jupyterhub_config.py calls (no settings of its own here)."""

from __future__ import annotations

import os
from typing import Any

from tre.errors import InvalidInput
from tre.hub.enforcer import SCOPES
from tre.hub.settings import HubSettings
from tre.services.bootstrap import load_settings

ENFORCER = "tre-enforcer"
PROXY_TOKEN_ENV = "CONFIGPROXY_AUTH_TOKEN"  # noqa: S105 - a variable name
ENFORCER_TOKEN_ENV = "TRE_ENFORCER_API_TOKEN"  # noqa: S105 - a variable name


def configure(c: Any) -> None:
    """Set the hub's config ``c`` from TRE_* / TRE_HUB_* (as `tre up` passes them)."""
    tre = load_settings()
    hub = HubSettings()
    proxy_token = os.environ.get(PROXY_TOKEN_ENV)
    enforcer_token = os.environ.get(ENFORCER_TOKEN_ENV)
    if not proxy_token or not enforcer_token:
        raise InvalidInput(f"{PROXY_TOKEN_ENV} and {ENFORCER_TOKEN_ENV} are not set: start the "
                           "hub with `tre up`, which generates both for each run")
    state = hub.hub_dir(tre.home)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)

    c.JupyterHub.bind_url = hub.public_url
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub.hub_port}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = proxy_token

    c.JupyterHub.authenticator_class = "tre.hub.auth.TREAuthenticator"
    c.JupyterHub.spawner_class = "tre.hub.spawner.BwrapSpawner"
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.redirect_to_server = False
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 60

    c.JupyterHub.services = [{"name": ENFORCER, "api_token": enforcer_token}]
    c.JupyterHub.load_roles = [{"name": ENFORCER, "scopes": list(SCOPES),
                                "services": [ENFORCER]}]
