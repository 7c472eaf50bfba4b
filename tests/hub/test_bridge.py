"""The socket bridge's command lines, the processes of `tre up` and the hub's services (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from tre.errors import InvalidInput
from tre.hub import bridge
from tre.hub.config import API_TOKEN_ENV, ENFORCER_TOKEN_ENV, PROXY_TOKEN_ENV, configure
from tre.hub.enforcer import SCOPES, RunningServer, running_servers
from tre.hub.processes import api_argv, proxy_argv
from tre.hub.settings import HubSettings


def test_sandbox_runs_the_inner_forwarders_then_execs_the_server() -> None:
    assert bridge.sandbox_command("/usr/bin/socat", ["jupyterhub-singleuser"]) == [
        "/bin/sh", "-c",
        "/usr/bin/socat UNIX-LISTEN:/run/tre/server.sock,fork,unlink-early,mode=0600 "
        "TCP:127.0.0.1:8888 & /usr/bin/socat TCP-LISTEN:8081,bind=127.0.0.1,fork,reuseaddr "
        "UNIX-CONNECT:/run/tre/hub.sock & /usr/bin/socat TCP-LISTEN:8082,bind=127.0.0.1,fork,"
        "reuseaddr UNIX-CONNECT:/run/tre/api.sock & exec jupyterhub-singleuser"]


def test_host_forwarders_listen_on_loopback_and_in_the_run_folder() -> None:
    run = Path("/run/tre-hub/p-alice-1234")
    assert bridge.host_server_forward("socat", run, 40000) == [
        "socat", "TCP-LISTEN:40000,bind=127.0.0.1,fork,reuseaddr",
        "UNIX-CONNECT:/run/tre-hub/p-alice-1234/server.sock"]
    assert bridge.host_hub_forward("socat", run, "127.0.0.1", 8081) == [
        "socat", "UNIX-LISTEN:/run/tre-hub/p-alice-1234/hub.sock,fork,unlink-early,mode=0666",
        "TCP:127.0.0.1:8081"]
    assert bridge.host_api_forward("socat", run, "127.0.0.1", 9082) == [
        "socat", "UNIX-LISTEN:/run/tre-hub/p-alice-1234/api.sock,fork,unlink-early,mode=0666",
        "TCP:127.0.0.1:9082"]


def test_urls_inside_the_sandbox() -> None:
    assert bridge.inside_hub_api_url("/hub/api") == "http://127.0.0.1:8081/hub/api"
    assert bridge.inside_service_url("/user/a/p/") == "http://127.0.0.1:8888/user/a/p/"
    assert bridge.inside_api_url("/services/tre-api") == \
        "http://127.0.0.1:8082/services/tre-api/"


def test_proxy_command_line() -> None:
    hub = HubSettings(port=9000, proxy_api_port=9001, hub_port=9081,
                      proxy_command=Path("/x/configurable-http-proxy"))
    assert proxy_argv(hub) == [
        "/x/configurable-http-proxy", "--ip", "127.0.0.1", "--port", "9000",
        "--api-ip", "127.0.0.1", "--api-port", "9001",
        "--default-target", "http://127.0.0.1:9081",
        "--error-target", "http://127.0.0.1:9081/hub/error"]


def test_api_runs_in_the_hub_python_and_listens_on_its_port() -> None:
    assert api_argv()[1:] == ["-m", "tre.api.server"]
    hub = HubSettings(api_port=9082)
    assert hub.api_url == "http://127.0.0.1:9082"


def test_enforcer_reads_named_servers_from_the_user_list() -> None:
    users = [{"name": "alice", "servers": {"lung-ai": {}, "": {}}},
             {"name": "bob", "servers": {}}, {"name": "carol"}, "junk"]
    assert list(running_servers(users)) == [RunningServer("alice", "lung-ai")]
    assert list(running_servers({"not": "a list"})) == []


def test_hub_registers_the_api_service_and_the_scope_to_call_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRE_HUB_API_PORT", "9082")
    for name, value in {PROXY_TOKEN_ENV: "p", ENFORCER_TOKEN_ENV: "e", API_TOKEN_ENV: "a"}.items():
        monkeypatch.setenv(name, value)
    c = Config()
    configure(c)
    assert c.JupyterHub.services == [
        {"name": "tre-enforcer", "api_token": "e"},
        {"name": "tre-api", "api_token": "a", "url": "http://127.0.0.1:9082", "display": False}]
    assert c.JupyterHub.load_roles == [
        {"name": "tre-enforcer", "scopes": list(SCOPES), "services": ["tre-enforcer"]},
        {"name": "user", "scopes": ["self", "access:services!service=tre-api",
                                   "custom:tre:decide"]},
        {"name": "server", "scopes": ["users:activity!user", "access:servers!server",
                                     "access:services!service=tre-api"]}]  # never decide
    assert list(c.JupyterHub.custom_scopes) == ["custom:tre:decide"]
    monkeypatch.delenv(API_TOKEN_ENV)
    with pytest.raises(InvalidInput, match="TRE_API_SERVICE_TOKEN are not all set"):
        configure(Config())
