"""`tre up`: run this node (proxy, hub, permit enforcer, expiry sweep) until Ctrl-C."""

from __future__ import annotations

import secrets
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from tre.cli.common import console
from tre.cli.run import workspace_settings
from tre.errors import InvalidInput
from tre.hub.passwords import set_password
from tre.hub.processes import HubProcesses
from tre.hub.settings import HubSettings
from tre.services import demo, permits
from tre.services.bootstrap import initialise, load_settings, open_node
from tre.settings import Settings
from tre.workspaces.quota import format_size

SWEEP_SECONDS = 30.0


def _seed_demo(settings: Settings, hub: HubSettings) -> None:
    node = open_node(settings)
    try:
        world = demo.seed(node, settings.home)
    finally:
        node.close()
    # Fresh passwords each run: only hashes are kept, so printing them is the only way to know.
    console.print(f"demo project {world.permit.project}: permit {world.permit.id} for "
                  f"{', '.join(str(d) for d in world.permit.datasets)}")
    console.print(f"log in at {hub.public_url} as:")
    for user, roles in world.users.items():
        password = secrets.token_urlsafe(12)
        set_password(settings.home, user, password)
        console.print(f"  {user:<6} password {password}  ({', '.join(r.value for r in roles)})")
    console.print(f"then start the named server {world.permit.project} "
                  f"({hub.public_url}hub/spawn/alice/{world.permit.project} as alice)")
    sandbox = world.sandbox
    console.print(f"SME sandbox {sandbox.name} (no permit, synthetic data only: "
                  f"{', '.join(str(d) for d in sandbox.datasets)}): "
                  f"{hub.public_url}hub/spawn/{sandbox.owner}/{sandbox.name} as {sandbox.owner}")


def up(
    seed_demo: Annotated[bool, typer.Option("--demo", help="Seed demo users, a dataset and an "
                                            "approved project; print how to log in.")] = False,
    once: Annotated[bool, typer.Option(help="Initialise (and seed with --demo), expire due "
                                       "permits, then exit without starting the hub.")] = False,
) -> None:
    """Run tre on this machine: the proxy, the hub with project workspaces, the enforcer."""
    settings = load_settings()
    hub = HubSettings()
    quotas = workspace_settings().quotas()
    if quotas.size is not None and (problems := quotas.preflight()):
        raise InvalidInput(
            f"TRE_WORKSPACES_QUOTA={format_size(quotas.size)} is set, but this node cannot "
            f"keep it: {'; '.join(problems)} (or unset TRE_WORKSPACES_QUOTA)")
    initialise(settings).dispose()
    console.print(f"tre home: {settings.home}  policy engine: {settings.policy_engine}")
    if quotas.size is None:
        console.print("workspaces have no disk quota: set TRE_WORKSPACES_QUOTA (e.g. 20G, "
                      "docs/operations.md) so one project cannot fill this node's disk")
    if seed_demo:
        _seed_demo(settings, hub)
    node = open_node(settings)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processes = HubProcesses(hub)
    try:
        if not once:
            processes.start(settings)
            processes.wait_ready()
            console.print(f"tre is up at {hub.public_url} (Ctrl-C stops everything)")
        while True:
            for permit in permits.expire_due(node):
                console.print(f"permit {permit.id} of project {permit.project} expired")
            if once or stop.wait(SWEEP_SECONDS) or _died(processes):
                break
    finally:
        processes.stop()
        node.close()
        for project in quotas.unmount_all():  # the servers are gone: leave no mount behind
            console.print(f"unmounted the workspace quota image of {project}")
    console.print("tre stopped")


def _died(processes: HubProcesses) -> bool:
    processes.check_alive()  # raises HubUnavailable naming the child
    return False
