"""`tre up`: run this node's services in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from tre.cli.common import console
from tre.services import demo, permits
from tre.services.bootstrap import initialise, load_settings, open_node

SWEEP_SECONDS = 30.0


def up(
    seed_demo: Annotated[bool, typer.Option("--demo", help="Seed demo users, a dataset and an "
                                            "approved project.")] = False,
    once: Annotated[bool, typer.Option(help="Do one round of work and exit (for scripts).")]
        = False,
) -> None:
    """Run tre on this machine (embedded default: SQLite, embedded policy engine)."""
    settings = load_settings()
    initialise(settings).dispose()
    node = open_node(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        console.print(f"tre home: {settings.home}  database: {node.db.display_url}  "
                      f"policy engine: {settings.policy_engine}")
        if seed_demo:
            world = demo.seed(node, settings.home)
            people = ", ".join(f"{u} ({r[0].value})" for u, r in world.users.items())
            console.print(f"demo users: {people}")
            console.print(f"demo project {world.permit.project}: permit {world.permit.id} "
                          f"for {', '.join(str(d) for d in world.permit.datasets)}")
            console.print("try:  tre permits list   |   tre permits check --as alice "
                          f"--project {world.permit.project} --dataset "
                          f"{world.permit.datasets[0]}   |   tre audit verify")
            console.print("(set TRE_HOME to the home above in that shell.) The web hub joins "
                          "`tre up` with the project-workspaces release.")
        while True:
            expired = permits.expire_due(node)
            for permit in expired:
                console.print(f"permit {permit.id} of project {permit.project} expired")
            if once or stop.wait(SWEEP_SECONDS):
                break
        console.print("tre stopped")
    finally:
        node.close()
