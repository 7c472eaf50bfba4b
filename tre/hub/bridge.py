"""The socket bridge between the hub and a sandbox with no network (pure command lines).

The sandbox has only its own loopback. Both directions go through unix sockets in a run folder
the host binds into the sandbox at :data:`INSIDE_RUN`:

* hub/proxy -> server: host ``socat TCP-LISTEN:127.0.0.1:PORT -> UNIX server.sock``; inside,
  ``socat UNIX-LISTEN server.sock -> TCP 127.0.0.1:8888`` where jupyterhub-singleuser listens;
* server -> hub API: inside ``socat TCP-LISTEN 127.0.0.1:8081 -> UNIX hub.sock``; host
  ``socat UNIX-LISTEN hub.sock -> TCP`` the hub's API address;
* server -> tre's REST API (the ``tre-api`` hub service): the same, ``127.0.0.1:8082`` inside
  to ``api.sock`` to the API's loopback address on the host.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

INSIDE_RUN = "/run/tre"
INSIDE_SERVER_PORT = 8888
INSIDE_HUB_PORT = 8081
INSIDE_API_PORT = 8082
SERVER_SOCKET = "server.sock"
HUB_SOCKET = "hub.sock"
API_SOCKET = "api.sock"


def sandbox_command(socat: str, singleuser: Sequence[str]) -> list[str]:
    """What runs inside: the three inner forwarders, then the single-user server (as the main
    process, so the sandbox ends when the server does)."""
    server = (f"{socat} UNIX-LISTEN:{INSIDE_RUN}/{SERVER_SOCKET},fork,unlink-early,mode=0600 "
              f"TCP:127.0.0.1:{INSIDE_SERVER_PORT}")
    hub = _inner_forward(socat, INSIDE_HUB_PORT, HUB_SOCKET)
    api = _inner_forward(socat, INSIDE_API_PORT, API_SOCKET)
    return ["/bin/sh", "-c",
            f"{server} & {hub} & {api} & exec {' '.join(shlex.quote(a) for a in singleuser)}"]


def _inner_forward(socat: str, port: int, socket: str) -> str:
    return (f"{socat} TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr "
            f"UNIX-CONNECT:{INSIDE_RUN}/{socket}")


def host_server_forward(socat: str, run_dir: Path, port: int) -> list[str]:
    """Host side, hub/proxy -> server: loopback ``port`` to the sandbox's server socket."""
    return [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
            f"UNIX-CONNECT:{run_dir / SERVER_SOCKET}"]


def host_hub_forward(socat: str, run_dir: Path, hub_host: str, hub_port: int) -> list[str]:
    """Host side, server -> hub API: the hub socket (in the project uid's 0700 run folder,
    so only that project can connect) to the hub's API address."""
    return _host_forward(socat, run_dir / HUB_SOCKET, hub_host, hub_port)


def host_api_forward(socat: str, run_dir: Path, api_host: str, api_port: int) -> list[str]:
    """Host side, server -> tre's REST API: the API socket (same run folder) to its address."""
    return _host_forward(socat, run_dir / API_SOCKET, api_host, api_port)


def _host_forward(socat: str, socket: Path, host: str, port: int) -> list[str]:
    return [socat, f"UNIX-LISTEN:{socket},fork,unlink-early,mode=0666", f"TCP:{host}:{port}"]


def inside_hub_api_url(hub_api_url_path: str) -> str:
    """The hub API URL as the server sees it (its inner forwarder)."""
    return f"http://127.0.0.1:{INSIDE_HUB_PORT}{hub_api_url_path}"


def inside_api_url(prefix: str) -> str:
    """tre's REST API as the server sees it (its inner forwarder), with the hub's prefix."""
    return f"http://127.0.0.1:{INSIDE_API_PORT}{prefix.rstrip('/')}/"


def inside_service_url(base_url: str) -> str:
    """Where the server listens inside, with the hub's prefix for it."""
    return f"http://127.0.0.1:{INSIDE_SERVER_PORT}{base_url}"
