"""The permit enforcer: a hub service that stops servers whose permit no longer lets them run.

Every ``TRE_HUB_ENFORCE_INTERVAL_S`` it lists running servers through the hub's REST API and asks
:func:`tre.workspaces.jobs.permit_watch` (the batch jobs' watcher) about each: a permit that
was suspended, revoked or has expired, or a user who left the project, stops the server
(``workspace.stop`` audited with the reason). Run by `tre up` with its own API token.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from urllib.parse import quote

import httpx

from tre.errors import InvalidInput
from tre.hub.projects import STOP, record
from tre.hub.settings import HubSettings
from tre.services.bootstrap import load_settings, open_node
from tre.services.node import Node
from tre.workspaces.jobs import permit_watch

ACTOR = "system:enforcer"
SCOPES = ("list:users", "read:users:name", "read:servers", "delete:servers")
"""What the enforcer's hub token may do, and nothing more."""

log = logging.getLogger("tre.hub.enforcer")


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A named server the hub reports as running or starting."""

    user: str
    name: str


def running_servers(users: object) -> Iterator[RunningServer]:
    """The named servers in a ``GET /users?state=active`` answer (pure)."""
    if not isinstance(users, list):
        return
    for user in users:
        servers = user.get("servers") if isinstance(user, dict) else None
        if not isinstance(servers, dict):
            continue
        for name in servers:
            if name:  # tre never runs a default server (one server per project)
                yield RunningServer(str(user["name"]), str(name))


def why_stop(node: Node, server: RunningServer) -> str | None:
    """A reason to stop ``server`` (its name is its project), or None while it may run."""
    return permit_watch(node, server.name, server.user)()


def sweep(node: Node, client: httpx.Client) -> list[tuple[RunningServer, str]]:
    """One round: stop every server that must stop; returns what was stopped and why."""
    answer = client.get("/users", params={"state": "active"})
    answer.raise_for_status()
    stopped = []
    for server in running_servers(answer.json()):
        reason = why_stop(node, server)
        if reason is None:
            continue
        done = client.delete(f"/users/{quote(server.user)}/servers/{quote(server.name)}")
        outcome = "stopped" if done.status_code in (202, 204) else "failed"
        record(node, actor=ACTOR, action=STOP, project=server.name, outcome=outcome,
               details={"user": server.user, "server": server.name, "reason": reason,
                        "hub_status": done.status_code})
        log.warning("stopped %s/%s: %s", server.user, server.name, reason)
        stopped.append((server, reason))
    return stopped


def main() -> None:
    """Run until SIGTERM/SIGINT, one sweep every interval (errors are logged and retried)."""
    logging.basicConfig(level=logging.INFO, format="[tre-enforcer %(levelname)s] %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    api_url = os.environ.get("JUPYTERHUB_API_URL")
    if not token or not api_url:
        raise InvalidInput("the enforcer needs JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL: "
                           "`tre up` starts it with both")
    interval = HubSettings().enforce_interval_s
    node = open_node(load_settings())
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    headers = {"Authorization": f"token {token}"}
    try:
        with httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=10) as client:
            while not stop.wait(interval):
                try:
                    sweep(node, client)
                except httpx.HTTPError as exc:
                    log.error("cannot reach the hub (%s): retrying in %g s", exc, interval)
    finally:
        node.close()


if __name__ == "__main__":
    main()
