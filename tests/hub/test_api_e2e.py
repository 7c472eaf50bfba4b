"""End to end: tre's REST API behind the hub's proxy, called with users' own hub tokens, and from
inside a running bubblewrap project server by the workspace's airlock client."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from hub.conftest import PASSWORD, RunningTre
from hub.hub_support import HubUser, log_in
from hub.test_hub_e2e import server_ready, start, wait_for
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from factories import audit_trail

pytestmark = pytest.mark.slow

API = "/services/tre-api/api/v1"


def test_users_call_the_api_through_the_proxy_with_their_hub_token(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    with alice.api() as api:
        me = api.get(f"{API}/me")
        assert me.status_code == 200, me.text
        assert (me.json()["name"], me.json()["roles"],
                sorted(p["project"] for p in me.json()["projects"])) == (
            "alice", ["researcher"], ["lung-ai", "lung-watch"])
        refused = api.post(f"{API}/egress-requests", json={
            "project": "lung-ai", "justification": "counts", "files": ["none.csv"]})
        # a tre error (intake refusal) as a 400 with its message, through the proxy
        assert (refused.status_code, bool(refused.json()["detail"])) == (400, True)
        narrow = api.post("/hub/api/users/alice/tokens",
                          json={"note": "no API", "scopes": ["read:users!user=alice"]})
        assert narrow.status_code == 201, narrow.text
        lacking = api.get(f"{API}/me",
                          headers={"Authorization": f"Bearer {narrow.json()['token']}"})
        assert (lacking.status_code, lacking.json()["detail"]) == (
            403, "this token lacks the scope access:services!service=tre-api: make a token with "
            "it at /hub/token (user tokens and servers' tokens get it by default under `tre up`)")
    with httpx.Client(base_url=tre_up.url, timeout=30) as anonymous:
        assert anonymous.get(f"{API}/me").status_code == 401
        assert anonymous.get(f"{API}/me", headers={"Authorization": "token forged"}
                             ).status_code == 401
        assert anonymous.get(f"{API}/openapi.json").json()["info"]["title"] == "tre REST API"


def _execute(user: HubUser, project: str, code: str) -> str:
    """Run ``code`` in a new kernel of ``user``'s ``project`` server; its stdout and stderr."""
    base = f"/user/{user.name}/{project}/api/kernels"
    with user.api() as api:
        kernel = api.post(base, json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        kernel_id = kernel.json()["id"]
    try:
        return asyncio.run(_run_in_kernel(user, f"{base}/{kernel_id}/channels", code))
    finally:
        with user.api() as api:
            api.delete(f"{base}/{kernel_id}")


async def _run_in_kernel(user: HubUser, path: str, code: str) -> str:
    url = user.base_url.replace("http://", "ws://") + path
    socket = await websocket_connect(HTTPRequest(
        url, headers={"Authorization": f"token {user.token}"}, request_timeout=60))
    msg_id = uuid.uuid4().hex
    socket.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": user.name, "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    out: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(socket.read_message(), timeout=120)
            assert isinstance(raw, str), "the kernel's channel closed"
            msg: dict[str, Any] = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        socket.close()
        # wait for the closing handshake, so the socket is closed before the loop goes away
        # (else it is collected later, unclosed, during some other test)
        while await asyncio.wait_for(socket.read_message(), timeout=30) is not None:
            pass


def test_the_airlock_client_submits_from_inside_the_project_server(tre_up: RunningTre) -> None:
    alice = log_in(tre_up.url, "alice", PASSWORD)
    assert start(alice, "lung-ai").status_code in (201, 202)
    wait_for(lambda: server_ready(alice, "lung-ai"), "alice's lung-ai server")
    with alice.api() as api:
        made = api.put("/user/alice/lung-ai/api/contents/outputs/counts.csv",
                       json={"type": "file", "format": "text",
                             "content": "site,n\nA,25\nB,31\n"})
        assert made.status_code == 201, made.text

    out = _execute(alice, "lung-ai", (
        "import subprocess\n"
        "done = subprocess.run(['tre-airlock', 'submit', '/outputs/counts.csv', '-j',\n"
        "                       'site counts for the paper', '--json'],\n"
        "                      capture_output=True, text=True)\n"
        "print(done.returncode)\nprint(done.stdout)\nprint(done.stderr)\n"))
    code, _, rest = out.partition("\n")
    assert code == "0", out
    submitted = json.loads(rest.strip())
    assert (submitted["author"], submitted["project"], submitted["status"],
            [(f["name"], f["kind"]) for f in submitted["files"]]) == (
        "alice", "lung-ai", "submitted", [("counts.csv", "table")])

    # the workspace's token may submit but never decide; the user's own token may (policy
    # then decides: here the application does not exist)
    refused = _execute(alice, "lung-ai", (
        "from tre_notebook import airlock\n"
        "try:\n"
        "    airlock._call('POST', 'applications/app-nope/approve', {'reason': 'fine'})\n"
        "except airlock.Refused as exc:\n"
        "    print(exc.status, exc.detail)\n"))
    assert refused.startswith("403 this token of alice cannot decide (it lacks the scope "
                              "custom:tre:decide"), refused
    with alice.api() as api:
        assert api.post(f"{API}/applications/app-nope/approve",
                        json={"reason": "fine"}).status_code == 404
        listed = api.get(f"{API}/egress-requests").json()
        assert [r["id"] for r in listed] == [submitted["id"]]
    bob = log_in(tre_up.url, "bob", PASSWORD)
    with bob.api() as api:
        assert api.get(f"{API}/egress-requests").json() == []
        assert api.get(f"{API}/egress-requests/{submitted['id']}").status_code == 403
    events = [e for e in audit_trail(tre_up.node) if e[2] == submitted["id"]]
    assert events == [
        ("alice", "airlock.create", submitted["id"], "allowed"),
        ("alice", "airlock.submit", submitted["id"], "allowed")]
