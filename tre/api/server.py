"""Run the REST API as the hub's ``tre-api`` service (started by `tre up`): uvicorn on loopback.

The hub gives a managed or `tre up`-started service JUPYTERHUB_API_TOKEN and
JUPYTERHUB_API_URL; the port is TRE_HUB_API_PORT.
"""

from __future__ import annotations

import os

import uvicorn

from tre.airlock.service import AirlockConfig
from tre.api.app import create_app
from tre.api.hub_token import HubTokenAuthenticator
from tre.api.settings import ApiSettings
from tre.errors import InvalidInput
from tre.hub.settings import HubSettings
from tre.services.bootstrap import load_settings, open_node
from tre.workspaces.config import WorkspaceSettings


def main() -> None:
    """Serve until SIGTERM/SIGINT."""
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    api_url = os.environ.get("JUPYTERHUB_API_URL")
    if not token or not api_url:
        raise InvalidInput("the API needs JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL: "
                           "`tre up` starts it with both")
    tre = load_settings()
    settings = ApiSettings(airlock=AirlockConfig(home=tre.home,
                                                 workspace_root=WorkspaceSettings().root))
    authenticator = HubTokenAuthenticator(api_url=api_url, api_token=token,
                                          access_scope=settings.access_scope)
    app = create_app(settings, lambda: open_node(tre, server=True), authenticator)
    uvicorn.run(app, host="127.0.0.1", port=HubSettings().api_port, log_level="info",
                proxy_headers=False)


if __name__ == "__main__":
    main()
