"""The socket bridge's command lines and the processes of `tre up` (pure)."""

from __future__ import annotations

from pathlib import Path

from tre.hub import bridge
from tre.hub.enforcer import RunningServer, running_servers
from tre.hub.processes import proxy_argv
from tre.hub.settings import HubSettings


def test_sandbox_runs_both_inner_forwarders_then_execs_the_server() -> None:
    assert bridge.sandbox_command("/usr/bin/socat", ["jupyterhub-singleuser"]) == [
        "/bin/sh", "-c",
        "/usr/bin/socat UNIX-LISTEN:/run/tre/server.sock,fork,unlink-early,mode=0600 "
        "TCP:127.0.0.1:8888 & /usr/bin/socat TCP-LISTEN:8081,bind=127.0.0.1,fork,reuseaddr "
        "UNIX-CONNECT:/run/tre/hub.sock & exec jupyterhub-singleuser"]


def test_host_forwarders_listen_on_loopback_and_in_the_run_folder() -> None:
    run = Path("/run/tre-hub/p-alice-1234")
    assert bridge.host_server_forward("socat", run, 40000) == [
        "socat", "TCP-LISTEN:40000,bind=127.0.0.1,fork,reuseaddr",
        "UNIX-CONNECT:/run/tre-hub/p-alice-1234/server.sock"]
    assert bridge.host_hub_forward("socat", run, "127.0.0.1", 8081) == [
        "socat", "UNIX-LISTEN:/run/tre-hub/p-alice-1234/hub.sock,fork,unlink-early,mode=0666",
        "TCP:127.0.0.1:8081"]


def test_urls_inside_the_sandbox() -> None:
    assert bridge.inside_hub_api_url("/hub/api") == "http://127.0.0.1:8081/hub/api"
    assert bridge.inside_service_url("/user/a/p/") == "http://127.0.0.1:8888/user/a/p/"


def test_proxy_command_line() -> None:
    hub = HubSettings(port=9000, proxy_api_port=9001, hub_port=9081,
                      proxy_command=Path("/x/configurable-http-proxy"))
    assert proxy_argv(hub) == [
        "/x/configurable-http-proxy", "--ip", "127.0.0.1", "--port", "9000",
        "--api-ip", "127.0.0.1", "--api-port", "9001",
        "--default-target", "http://127.0.0.1:9081",
        "--error-target", "http://127.0.0.1:9081/hub/error"]


def test_enforcer_reads_named_servers_from_the_user_list() -> None:
    users = [{"name": "alice", "servers": {"lung-ai": {}, "": {}}},
             {"name": "bob", "servers": {}}, {"name": "carol"}, "junk"]
    assert list(running_servers(users)) == [RunningServer("alice", "lung-ai")]
    assert list(running_servers({"not": "a list"})) == []
