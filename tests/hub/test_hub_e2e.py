"""End to end: a real `tre up` (proxy, hub, enforcer), real bubblewrap sandboxes, real policy."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from hub.conftest import PASSWORD, RunningTre, alive, descendants
from hub.hub_support import HubUser, log_in

from factories import audit_trail
from tre.services import permits

pytestmark = pytest.mark.slow


def wait_for(check: object, what: str, timeout_s: float = 120) -> None:
    """Poll ``check()`` until true (a deadline against hangs, not a timing assertion)."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def server_ready(user: HubUser, project: str) -> bool:
    with user.api() as api:
        return api.get(f"/user/{user.name}/{project}/api/status").status_code == 200


def server_gone(user: HubUser, project: str) -> bool:
    with user.api() as api:
        model = api.get(f"/hub/api/users/{user.name}").json()
    return project not in model.get("servers", {})


def start(user: HubUser, project: str) -> httpx.Response:
    with user.api() as api:
        return api.post(f"/hub/api/users/{user.name}/servers/{project}", json={})


def test_researcher_works_on_the_permitted_data_and_cannot_change_it(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    assert start(alice, "lung-ai").status_code in (201, 202)
    wait_for(lambda: server_ready(alice, "lung-ai"), "alice's lung-ai server")

    with alice.api() as api:
        base = "/user/alice/lung-ai/api/contents"
        data = api.get(f"{base}/data").json()
        assert [d["name"] for d in data["content"]] == ["lung-ct"]
        scans = api.get(f"{base}/data/lung-ct").json()
        assert [s["name"] for s in scans["content"]] == ["scan-001.txt"]
        write = api.put(f"{base}/data/lung-ct/evil.txt",
                        json={"type": "file", "format": "text", "content": "x"})
        assert write.status_code >= 400
        assert "Read-only file system" in write.text
        mine = api.put(f"{base}/workspace/notes.txt",
                       json={"type": "file", "format": "text", "content": "ok"})
        assert mine.status_code == 201

    bob = log_in(tre_up.url, "bob", PASSWORD)
    with bob.api() as api:
        assert api.get("/user/alice/lung-ai/api/status").status_code == 403
    with httpx.Client(base_url=tre_up.url, timeout=30) as anonymous:
        answer = anonymous.get("/user/alice/lung-ai/api/contents/data")
        assert answer.status_code in (302, 403)

    with alice.api() as api:
        assert api.delete("/hub/api/users/alice/servers/lung-ai").status_code in (202, 204)
    wait_for(lambda: server_gone(alice, "lung-ai"), "alice's server to stop")
    trail = [(actor, action, obj, outcome) for actor, action, obj, outcome
             in audit_trail(tre_up.node) if action.startswith("workspace.") and obj == "lung-ai"]
    assert trail == [("alice", "workspace.prepare", "lung-ai", "allowed"),
                     ("alice", "workspace.spawn", "lung-ai", "allowed"),
                     ("alice", "workspace.stop", "lung-ai", "allowed")]


def test_spawn_form_lists_only_permitted_projects(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    with alice.browser() as browser:
        form = browser.get("/hub/spawn/alice/lung-ai").text
    assert 'value="lung-ai"' in form
    assert 'value="lung-watch"' in form
    bob = log_in(tre_up.url, "bob", PASSWORD)
    with bob.browser() as browser:
        form = browser.get("/hub/spawn/bob/lung-ai").text
    assert "no data permit in force" in form
    assert 'value="lung-ai"' not in form


def test_user_without_permit_is_refused_with_the_policy_reason(tre_up: RunningTre) -> None:
    bob = log_in(tre_up.url, "bob", PASSWORD)
    answer = start(bob, "lung-ai")
    assert answer.status_code == 403
    permit = tre_up.permits["lung-ai"].id
    assert answer.json()["message"] == (
        f"denied by policy data_access: bob is not a member of permit {permit}")
    denials = [e for e in audit_trail(tre_up.node)
               if e[0] == "bob" and e[1] == "workspace.deny"]
    assert denials == [("bob", "workspace.deny", "lung-ai", "denied")]


def test_suspending_the_permit_stops_the_running_server(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    assert start(alice, "lung-watch").status_code in (201, 202)
    wait_for(lambda: server_ready(alice, "lung-watch"), "alice's lung-watch server")
    permit = tre_up.permits["lung-watch"]
    permits.change_status(tre_up.node, "olga", permit.id, "suspend", "audit finding")

    wait_for(lambda: server_gone(alice, "lung-watch"), "the enforcer to stop the server")
    stops = [e for e in audit_trail(tre_up.node)
             if e[1] == "workspace.stop" and e[2] == "lung-watch"]
    assert ("system:enforcer", "workspace.stop", "lung-watch", "stopped") in stops
    assert ("alice", "workspace.stop", "lung-watch", "allowed") in stops


def test_ctrl_c_leaves_no_process_behind(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    assert start(alice, "lung-ai").status_code in (201, 202)
    wait_for(lambda: server_ready(alice, "lung-ai"), "a server running at Ctrl-C")
    children = descendants(tre_up.process.pid)
    assert len(children) >= 5  # proxy, hub, enforcer, sandbox, forwarders

    tre_up.process.send_signal(signal.SIGINT)
    assert tre_up.process.wait(timeout=90) == 0
    assert alive(children) == set()
