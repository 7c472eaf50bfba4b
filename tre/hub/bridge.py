"""The socket bridge between the hub and a sandbox with no network (pure command lines).

The sandbox has only its own loopback. Both directions go through unix sockets in a run folder
the host binds into the sandbox at :data:`INSIDE_RUN`:

* hub/proxy -> server: host ``socat TCP-LISTEN:127.0.0.1:PORT -> UNIX server.sock``; inside,
  ``socat UNIX-LISTEN server.sock -> TCP 127.0.0.1:8888`` where jupyterhub-singleuser listens;
* server -> hub API: inside ``socat TCP-LISTEN 127.0.0.1:8081 -> UNIX hub.sock``; host
  ``socat UNIX-LISTEN hub.sock -> TCP`` the hub's API address.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

INSIDE_RUN = "/run/tre"
INSIDE_SERVER_PORT = 8888
INSIDE_HUB_PORT = 8081
SERVER_SOCKET = "server.sock"
HUB_SOCKET = "hub.sock"


def sandbox_command(socat: str, singleuser: Sequence[str]) -> list[str]:
    """What runs inside: the two inner forwarders, then the single-user server (as the main
    process, so the sandbox ends when the server does)."""
    server = (f"{socat} UNIX-LISTEN:{INSIDE_RUN}/{SERVER_SOCKET},fork,unlink-early,mode=0600 "
              f"TCP:127.0.0.1:{INSIDE_SERVER_PORT}")
    hub = (f"{socat} TCP-LISTEN:{INSIDE_HUB_PORT},bind=127.0.0.1,fork,reuseaddr "
           f"UNIX-CONNECT:{INSIDE_RUN}/{HUB_SOCKET}")
    return ["/bin/sh", "-c",
            f"{server} & {hub} & exec {' '.join(shlex.quote(a) for a in singleuser)}"]


def host_server_forward(socat: str, run_dir: Path, port: int) -> list[str]:
    """Host side, hub/proxy -> server: loopback ``port`` to the sandbox's server socket."""
    return [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
            f"UNIX-CONNECT:{run_dir / SERVER_SOCKET}"]


def host_hub_forward(socat: str, run_dir: Path, hub_host: str, hub_port: int) -> list[str]:
    """Host side, server -> hub API: the hub socket (in the project uid's 0700 run folder,
    so only that project can connect) to the hub's API address."""
    return [socat, f"UNIX-LISTEN:{run_dir / HUB_SOCKET},fork,unlink-early,mode=0666",
            f"TCP:{hub_host}:{hub_port}"]


def inside_hub_api_url(hub_api_url_path: str) -> str:
    """The hub API URL as the server sees it (its inner forwarder)."""
    return f"http://127.0.0.1:{INSIDE_HUB_PORT}{hub_api_url_path}"


def inside_service_url(base_url: str) -> str:
    """Where the server listens inside, with the hub's prefix for it."""
    return f"http://127.0.0.1:{INSIDE_SERVER_PORT}{base_url}"
