"""The workspace's airlock client (tre_notebook.airlock) against the API served over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from api.conftest import TokenTable
from tre_notebook import airlock

from factories import audit_trail
from tre.airlock.service import AirlockConfig
from tre.api.app import create_app
from tre.api.settings import ApiSettings
from tre.services.node import Node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(node: Node, airlock_config: AirlockConfig, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Path]:
    """The API on a loopback port, and alice's lung-ai server's environment; yields /outputs."""
    port = _free_port()
    app = create_app(ApiSettings(airlock=airlock_config), node, TokenTable())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API server stopped"
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    outputs = airlock_config.workspace_root / "lung-ai" / "outputs" / "alice"
    for name, value in {"TRE_API_URL": f"http://127.0.0.1:{port}/services/tre-api/",
                        "JUPYTERHUB_API_TOKEN": "token-alice", "TRE_PROJECT": "lung-ai",
                        "TRE_OUTPUTS": str(outputs)}.items():
        monkeypatch.setenv(name, value)
    try:
        yield outputs
    finally:
        server.should_exit = True
        thread.join()


def test_submit_status_and_list_from_a_notebook(served: Path, node: Node) -> None:
    request = airlock.submit([str(served / "counts.csv")], "site counts for the paper")
    assert (request["author"], request["project"], request["status"],
            [f["name"] for f in request["files"]]) == (
        "alice", "lung-ai", "submitted", ["counts.csv"])
    assert airlock.status(request["id"]) == request
    assert [r["id"] for r in airlock.list()] == [request["id"]]
    assert [e for e in audit_trail(node) if e[1] == "airlock.submit"] == [
        ("alice", "airlock.submit", request["id"], "allowed")]


def test_command_line(served: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(served)
    assert airlock.main(["submit", "counts.csv", "-j", "site counts", "--json"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert airlock.main(["show", request["id"]]) == 0
    assert capsys.readouterr().out == (
        f"request {request['id']} of lung-ai by alice: submitted\n"
        "  counts.csv (table, 17 bytes): info\n")
    assert airlock.main(["list"]) == 0
    assert capsys.readouterr().out.startswith(f"{request['id']}  lung-ai  alice  submitted  "
                                              "1 file(s)  ")


def test_refusals_say_why(served: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(airlock.AirlockError, match=r"^/etc/passwd is not in "):
        airlock.submit(["/etc/passwd"], "x")
    with pytest.raises(airlock.Refused) as refused:
        airlock.submit([str(served / "nothing.csv")], "x")
    assert refused.value.status == 400
    assert "nothing.csv" in refused.value.detail

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "token-carol")
    assert airlock.main(["submit", str(served / "counts.csv"), "-j", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tre-airlock: the airlock refused (HTTP 403): denied by policy "
                          "egress_submit: ")
    assert "\n  - carol is not a lead or researcher of permit " in err

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "forged")
    with pytest.raises(airlock.Refused, match=r"HTTP 401"):
        airlock.list()


def test_outside_a_workspace(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TRE_API_URL", raising=False)
    assert airlock.main(["list"]) == 2
    assert capsys.readouterr().err == (
        "tre-airlock: $TRE_API_URL is not set: tre-airlock works inside a tre project server "
        "(a notebook or terminal of your project's workspace); elsewhere use "
        "`tre airlock submit`\n")
    monkeypatch.setenv("TRE_API_URL", f"http://127.0.0.1:{_free_port()}/services/tre-api/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "token-alice")
    with pytest.raises(airlock.AirlockError, match="cannot reach tre's API at "):
        airlock.list()


def test_names_are_taken_relative_to_outputs() -> None:
    assert airlock.outputs_name("t/c.csv", outputs="/outputs", cwd="/outputs") == "t/c.csv"
    assert airlock.outputs_name("/outputs/a/../c.csv", outputs="/outputs") == "c.csv"
    for outside in ("../x.csv", "/outputs", "/outputs-other/x.csv"):
        with pytest.raises(airlock.AirlockError, match="is not in /outputs"):
            airlock.outputs_name(outside, outputs="/outputs", cwd="/outputs")
