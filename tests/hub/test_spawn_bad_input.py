"""Bad input at spawn: clear messages in the hub's spawn page and the CLI, audited denials.

One real `tre up` whose BwrapSpawner is pointed at a bwrap that does not exist: every refusal
that comes before the sandbox (project name, policy, data on disk) still answers with its own
reason, and a spawn that policy allows is refused for the missing bwrap.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from hub.conftest import PASSWORD, RunningTre, grant_permit, publish, start_tre
from hub.hub_support import HubUser, log_in

from factories import audit_trail

pytestmark = pytest.mark.slow

MISSING_BWRAP = "/nonexistent/bwrap"
CONFIG = f"""\
from tre.hub.config import configure

configure(c)  # noqa: F821
c.BwrapSpawner.bwrap = {MISSING_BWRAP!r}  # noqa: F821
"""


@pytest.fixture(scope="module")
def broken_tre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTre]:
    """`tre up` whose spawner's bwrap setting names a file that is not there."""
    root = tmp_path_factory.mktemp("hub")
    config = root / "jupyterhub_config.py"
    config.write_text(CONFIG)
    with start_tre(root, {"TRE_HUB_CONFIG_FILE": str(config)}) as running:
        yield running


def spawn_page(user: HubUser, project: str, form_project: str) -> tuple[int, str]:
    """Post the spawn form of server ``project`` with ``form_project`` chosen, as a browser."""
    with user.browser() as browser:
        answer = browser.post(f"/hub/spawn/{user.name}/{project}",
                              data={"project": form_project, "_xsrf": user.xsrf})
    return answer.status_code, html.unescape(answer.text)


def denials(running: RunningTre, since: int) -> list[tuple[str, str, str, str]]:
    return [e for e in audit_trail(running.node)[since:]
            if e[1] in ("workspace.prepare", "workspace.deny")]


def test_an_unknown_project_is_refused_in_the_spawn_page(broken_tre: RunningTre) -> None:
    alice = log_in(broken_tre.url, "alice", PASSWORD)
    before = len(audit_trail(broken_tre.node))
    status, page = spawn_page(alice, "no-such-project", "no-such-project")
    assert status == 403, broken_tre.log_tail()
    assert ("project no-such-project has no data permit: apply with `tre permits apply` and "
            "wait for the HDAB's approval") in page
    assert denials(broken_tre, before) == [
        ("alice", "workspace.prepare", "no-such-project", "denied"),
        ("alice", "workspace.deny", "no-such-project", "denied")]


@pytest.mark.parametrize(("user", "server", "chosen", "status", "message"), [
    ("alice", "lung-ai", "../../etc/passwd", 400,
     "invalid project id '../../etc/passwd': use 2-63 lower-case letters, digits and dashes"),
    ("alice", "lung-ai", "lung-watch", 400,
     "the server 'lung-ai' is for project 'lung-ai', not 'lung-watch': start the server "
     "named 'lung-watch' instead"),
    ("bob", "lung-ai", "lung-ai", 403, "denied by policy data_access: bob is not a member of "
     "permit {permit}"),
])
def test_a_tampered_spawn_form_is_refused_with_the_reason(
        broken_tre: RunningTre, user: str, server: str, chosen: str, status: int,
        message: str) -> None:
    client = log_in(broken_tre.url, user, PASSWORD)
    before = len(audit_trail(broken_tre.node))
    got_status, page = spawn_page(client, server, chosen)
    assert got_status == status, broken_tre.log_tail()
    assert message.format(permit=broken_tre.permits["lung-ai"].id) in page
    prepared = [(user, "workspace.prepare", server, "denied")] if status == 403 else []
    assert denials(broken_tre, before) == [*prepared,
                                           (user, "workspace.deny", server, "denied")]


def test_a_permit_whose_data_is_gone_from_disk_mounts_nothing(broken_tre: RunningTre) -> None:
    home = broken_tre.log.parent / "home"
    folder = publish(broken_tre.node, home, "lung-gone")
    grant_permit(broken_tre.node, "lung-gone", "alice", "lung-gone@v1")
    folder.chmod(0o755)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    alice = log_in(broken_tre.url, "alice", PASSWORD)
    before = len(audit_trail(broken_tre.node))

    status, page = spawn_page(alice, "lung-gone", "lung-gone")
    assert status == 403, broken_tre.log_tail()
    assert (f"the folder of lung-gone@v1 ({folder}) is missing on disk: restore the published "
            "version there (`tre datasets verify lung-gone`) before starting workspaces; tre "
            "never mounts anything else in its place") in page
    assert denials(broken_tre, before) == [
        ("alice", "workspace.prepare", "lung-gone", "denied"),
        ("alice", "workspace.deny", "lung-gone", "denied")]
    assert not (broken_tre.log.parent / "ws" / "lung-gone").exists()

    env = {**os.environ, "TRE_HOME": str(home),
           "TRE_WORKSPACES_ROOT": str(broken_tre.log.parent / "ws")}
    done = subprocess.run([sys.executable, "-m", "tre.cli.app", "run", "--project", "lung-gone",
                           "--as", "alice", "--", "true"], env=env, capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout) == (125, "")
    assert f"the folder of lung-gone@v1 ({folder}) is missing on disk" in done.stderr
    assert not (broken_tre.log.parent / "ws" / "lung-gone").exists()


def test_a_missing_bwrap_is_a_clear_audited_error(broken_tre: RunningTre) -> None:
    alice = log_in(broken_tre.url, "alice", PASSWORD)
    message = (f"bwrap is not an executable file at the configured path {MISSING_BWRAP}: "
               "install bubblewrap (`apt-get install bubblewrap`) or set the path of its bwrap")
    before = len(audit_trail(broken_tre.node))
    status, page = spawn_page(alice, "lung-ai", "lung-ai")
    assert status == 503, broken_tre.log_tail()
    assert message in page
    with alice.api() as api:
        answer = api.post("/hub/api/users/alice/servers/lung-ai", json={})
        assert (answer.status_code, answer.json()["message"]) == (503, message)
        servers = api.get("/hub/api/users/alice").json()["servers"]
    assert "lung-ai" not in servers or not servers["lung-ai"]["ready"]
    assert denials(broken_tre, before) == [
        ("alice", "workspace.prepare", "lung-ai", "allowed"),
        ("alice", "workspace.deny", "lung-ai", "failed")] * 2


def test_the_hub_still_answers(broken_tre: RunningTre) -> None:
    with httpx.Client(base_url=broken_tre.url, timeout=30) as client:
        assert client.get("/hub/api/").status_code == 200
