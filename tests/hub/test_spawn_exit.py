"""A workspace server that exits before it answers fails its spawn at once, with the reason.

One real `tre up` whose BwrapSpawner runs a command that exits instead of jupyterhub-singleuser:
the spawner's own readiness wait sees the sandbox end and refuses the spawn (503, audited),
rather than leaving the hub to wait out http_timeout; the hub's poll then cleans up what is
left and audits the stop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hub.conftest import PASSWORD, RunningTre, alive, descendants, start_tre
from hub.hub_support import log_in

from factories import audit_trail

pytestmark = pytest.mark.slow

CONFIG = """\
from tre.hub.config import configure

configure(c)  # noqa: F821
c.BwrapSpawner.singleuser_command = ["sh", "-c", "echo no server here >&2; exit 3"]  # noqa: F821
"""


def test_a_server_that_exits_before_answering_fails_its_spawn_with_the_reason(
        tmp_path: Path) -> None:
    (tmp_path / "jupyterhub_config.py").write_text(CONFIG)
    with start_tre(tmp_path, {"TRE_HUB_CONFIG_FILE": str(tmp_path / "jupyterhub_config.py")}
                   ) as running:
        _spawn_fails_and_leaves_nothing(running)


def _spawn_fails_and_leaves_nothing(exiting_tre: RunningTre) -> None:
    alice = log_in(exiting_tre.url, "alice", PASSWORD)
    before = len(audit_trail(exiting_tre.node))
    tree_before = descendants(exiting_tre.process.pid)
    with alice.api() as api:
        answer = api.post("/hub/api/users/alice/servers/lung-ai", json={})
        servers = api.get("/hub/api/users/alice").json()["servers"]
    assert (answer.status_code, answer.json()["message"]) == (
        503, "the workspace server exited with status 3 before it answered: its output is in "
        "the hub's log")
    assert "lung-ai" not in servers or not servers["lung-ai"]["ready"]
    assert [e for e in audit_trail(exiting_tre.node)[before:] if e[1].startswith("workspace.")
            ] == [("alice", "workspace.prepare", "lung-ai", "allowed"),
                  ("alice", "workspace.spawn", "lung-ai", "allowed"),
                  ("alice", "workspace.deny", "lung-ai", "failed"),
                  ("alice", "workspace.stop", "lung-ai", "allowed")]
    assert "no server here" in exiting_tre.log.read_text()
    # Nothing of the spawn is left: no forwarder, sandbox or server process.
    assert alive(descendants(exiting_tre.process.pid) - tree_before) == set()

