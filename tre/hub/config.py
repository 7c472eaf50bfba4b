"""Wire JupyterHub for tre: what jupyterhub_config.py calls (no settings of its own here)."""

from __future__ import annotations

import os
from typing import Any

from tre.api.settings import DECIDE_SCOPE, SERVICE_NAME
from tre.errors import InvalidInput
from tre.hub.enforcer import SCOPES
from tre.hub.settings import HubSettings
from tre.services.bootstrap import load_settings

ENFORCER = "tre-enforcer"
PROXY_TOKEN_ENV = "CONFIGPROXY_AUTH_TOKEN"  # noqa: S105 - a variable name
ENFORCER_TOKEN_ENV = "TRE_ENFORCER_API_TOKEN"  # noqa: S105 - a variable name
API = SERVICE_NAME
API_TOKEN_ENV = "TRE_API_SERVICE_TOKEN"  # noqa: S105 - a variable name
API_ACCESS = f"access:services!service={API}"
"""The scope a token needs to call tre's REST API: users' tokens and their servers' have it."""


def configure_login(c: Any, hub: HubSettings) -> None:
    """The local login, or OIDC (TRE_HUB_AUTHENTICATOR=oidc): both map groups to tre roles."""
    missing = hub.missing_login_settings()
    if missing:
        raise InvalidInput(f"TRE_HUB_AUTHENTICATOR=oidc needs {', '.join(missing)}: set "
                           f"{'it' if len(missing) == 1 else 'them'} (docs/hub.md, Login)")
    c.Authenticator.manage_groups = True  # the hub's groups are the user's tre roles
    if hub.authenticator == "local":
        c.JupyterHub.authenticator_class = "tre.hub.auth.TREAuthenticator"
        return
    c.JupyterHub.authenticator_class = "tre.hub.oidc.TREOIDCAuthenticator"
    oidc = c.TREOIDCAuthenticator
    oidc.oidc_issuer = hub.oidc_issuer
    oidc.client_id = hub.oidc_client_id
    oidc.client_secret_file = str(hub.oidc_client_secret_file)
    oidc.username_claim = hub.oidc_username_claim
    oidc.groups_claim = hub.oidc_groups_claim
    oidc.scope = hub.oidc_scopes.split()
    oidc.oauth_callback_url = hub.oidc_callback_url or f"{hub.public_url}hub/oauth_callback"
    if hub.oidc_group_roles is not None:
        oidc.group_roles = hub.oidc_group_roles


def configure(c: Any) -> None:
    """Set the hub's config ``c`` from TRE_* / TRE_HUB_* (as `tre up` passes them)."""
    tre = load_settings()
    hub = HubSettings()
    proxy_token = os.environ.get(PROXY_TOKEN_ENV)
    enforcer_token = os.environ.get(ENFORCER_TOKEN_ENV)
    api_token = os.environ.get(API_TOKEN_ENV)
    if not proxy_token or not enforcer_token or not api_token:
        raise InvalidInput(f"{PROXY_TOKEN_ENV}, {ENFORCER_TOKEN_ENV} and {API_TOKEN_ENV} are "
                           "not all set: start the hub with `tre up`, which generates them for "
                           "each run")
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

    configure_login(c, hub)
    c.JupyterHub.spawner_class = "tre.hub.spawner.BwrapSpawner"
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.redirect_to_server = False
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 60

    # tre-api is started by `tre up` (not by the hub); the hub routes /services/tre-api/ to it.
    c.JupyterHub.services = [
        {"name": ENFORCER, "api_token": enforcer_token},
        {"name": API, "api_token": api_token, "url": hub.api_url, "display": False},
    ]
    c.JupyterHub.custom_scopes = {DECIDE_SCOPE: {
        "description": "Make decisions through tre's API (HDAB officers' on applications and "
        "permits, output checkers' reviews and releases); users' own tokens, never a server's."}}
    c.JupyterHub.load_roles = [
        {"name": ENFORCER, "scopes": list(SCOPES), "services": [ENFORCER]},
        {"name": "user", "scopes": ["self", API_ACCESS, DECIDE_SCOPE]},
        {"name": "server", "scopes": ["users:activity!user", "access:servers!server",
                                     API_ACCESS]},
    ]
