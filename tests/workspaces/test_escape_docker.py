"""Escape attempts against real containers on the real dockerd: each must fail, the host stay up.

The same attacks as test_escape_bwrap.py (escape_cases). Every container is rendered by
``render_docker`` from the real spec of bob's lung-ai workspace (``prepare``: policy, uid,
folders), joins an --internal network with its own bridge, and the host firewall of
docs/deployment.md (``render_firewall``) is applied for the test and removed after. Network
attempts only ever target this machine: its own non-loopback address, loopback and the bridge
gateway, with listeners the test starts.

Needs root, dockerd and the image (images/build.sh): fails in CI, skips elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError
from tornado import web
from workspaces import escape_cases as cases
from workspaces.escape_cases import World
from workspaces.sandbox_support import Publish
from workspaces.test_docker_bad_input import HUB, HubDockerSpawner
from workspaces.test_docker_live import IMAGE, Listener, client, internal_network

from factories import Clock, audit_trail
from tre.hub.context import HubContext
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.docker import apply_firewall, remove_firewall, render_docker, render_firewall
from tre.workspaces.jobs import Stream
from tre.workspaces.service import prepare
from tre.workspaces.spec import NetworkMode, Profile, WorkspaceSpec
from tre.workspaces.uids import ProjectUids

pytestmark = pytest.mark.slow

__all__ = ["client", "internal_network"]  # fixtures the tests below use


def _write(stream: Stream, data: bytes) -> None:
    if stream is not None and not isinstance(stream, int):
        stream.write(data)


@dataclass
class DockerJobs:
    """Runs a spec as a container on the real dockerd (the job backend ``run_job`` drives)."""

    client: Any
    network: str

    def run(self, spec: WorkspaceSpec, command: Sequence[str], *, stdin: Stream = None,
            stdout: Stream = None, stderr: Stream = None,
            keep_running: Callable[[], str | None] | None = None,
            poll_s: float = 10.0) -> SandboxResult:
        kwargs = render_docker(spec, network=self.network)
        kwargs["name"] = f"{spec.name}-{secrets.token_hex(4)}"  # tests may overlap
        container = self.client.containers.create(IMAGE, list(command), **kwargs)
        stopped = None
        try:
            container.start()
            while True:
                try:
                    code = container.wait(timeout=poll_s)["StatusCode"]
                    break
                except RequestsConnectionError:  # docker-py's read timeout: still running
                    stopped = keep_running() if keep_running is not None else None
                    if stopped is not None:
                        container.kill()
            container.reload()
            _write(stdout, container.logs(stdout=True, stderr=False))
            _write(stderr, container.logs(stdout=False, stderr=True))
            return SandboxResult(code, oom_killed=container.attrs["State"]["OOMKilled"],
                                 stopped=stopped)
        finally:
            container.remove(force=True)


@dataclass
class Firewalled:
    """The workspaces' network with the host firewall on, and the hub API and tre's API (two
    listeners on the gateway, where the hub listens) the only ports it leaves open."""

    name: str
    gateway: str
    hub: Listener
    api: Listener


@pytest.fixture
def firewalled(internal_network: tuple[str, str, str]) -> Iterator[Firewalled]:
    name, bridge, gateway = internal_network
    hub, api = Listener(), Listener()
    rules = render_firewall(bridge=bridge, hub_ip=gateway, hub_port=hub.port, api_port=api.port)
    apply_firewall(rules)
    try:
        yield Firewalled(name, gateway, hub, api)
    finally:
        remove_firewall(rules)
        hub.close()
        api.close()


@pytest.fixture
def world(node: Node, settings: Settings, ws_settings: WorkspaceSettings, uids: ProjectUids,
          client: Any, firewalled: Firewalled, publish: Publish, tmp_path: Path) -> World:
    """Both projects, every run a hub-only container on the firewalled network."""
    return cases.two_projects(node, settings, ws_settings, uids,
                              DockerJobs(client, firewalled.name), publish, tmp_path,
                              NetworkMode.HUB_ONLY, cpus=1)


class EscapeDockerSpawner(HubDockerSpawner):
    """The hub's Docker spawner with a Docker client of its own (DockerSpawner keeps one per
    class: another test's client, e.g. to a dead engine, must not be shared)."""

    _client = None


@contextlib.contextmanager
def serving(world: World, client: Any, network: str, user: str, project: str
            ) -> Iterator[str]:
    """``user``'s server in ``project`` (an HTTP server on 8888): its address."""
    spec = prepare(world.node, user, project,
                   Profile(network=NetworkMode.HUB_ONLY, cpus=world.cpus),
                   settings=world.ws, uids=world.uids)
    kwargs = render_docker(spec, network=network)
    kwargs["name"] = f"{spec.name}-{secrets.token_hex(4)}"
    container = client.containers.run(
        IMAGE, ["python3", "-m", "http.server", "8888", "--directory", "/workspace"],
        detach=True, **kwargs)
    try:
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        for _ in range(100):  # the hub (host-originated) reaches it: it is up
            with (contextlib.suppress(OSError),
                  urllib.request.urlopen(f"http://{address}:8888/notes.txt", timeout=2) as r):
                assert r.read() == b"carol's notes\n"
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{user}'s server at {address}:8888 never answered the host")
        yield address
    finally:
        container.remove(force=True)


class TestEscapeDocker(cases.EscapeCases):
    """The shared cases, and those whose outcome is Docker's own."""

    def test_identity_is_the_project_uid_with_no_capabilities(
            self, world: World, client: Any) -> None:
        image_env = {v.split("=", 1)[0] for v in client.images.get(IMAGE).attrs["Config"]["Env"]}
        assert cases.identity(world) == {
            "ids": [200000, 200000, 200000, [200000]],
            "caps": ["0000000000000000"] * 5,
            "no_new_privs": "1",
            "seccomp": "2",  # Docker's default seccomp profile filters syscalls
            "root": [".dockerenv", "bin", "boot", "data", "dev", "etc", "home", "lib", "lib64",
                     "media", "mnt", "opt", "outputs", "proc", "root", "run", "sbin", "srv",
                     "sys", "tmp", "usr", "var", "workspace"],
            "data": ["lung-ct"],
            "cwd": "/workspace",
            # the spec's variables, plus only what the image sets and HOSTNAME (Docker's)
            "env": sorted({*world.env_names(), *image_env, "HOSTNAME"}),
        }

    def test_nothing_of_the_host_or_other_projects_is_visible(self, world: World) -> None:
        secrets_ = cases.host_secrets(world)
        assert cases.read_paths(world, secrets_) == dict.fromkeys(secrets_, "ENOENT")
        # what the image has at these paths is its own, and closed to the project uid anyway
        assert cases.read_paths(world, {"shadow": Path("/etc/shadow"),
                                        "root_home": Path("/root")}) == {
            "shadow": "EACCES", "root_home": "EACCES"}

    def test_only_the_hub_and_api_ports_are_reachable(
            self, world: World, listeners: dict[str, Any], firewalled: Firewalled,
            client: Any) -> None:
        gateway = firewalled.gateway
        service = Listener()  # a host service on 0.0.0.0, which --internal alone does not hide
        try:
            with serving(world, client, firewalled.name, "carol", "brain-seg") as carols:
                seen = cases.reach_out(world, listeners, {
                    "hub_api": (gateway, firewalled.hub.port),
                    "tre_api": (gateway, firewalled.api.port),
                    "host_service_on_gateway": (gateway, service.port),
                    "host_service_on_own_address": (listeners["address"], service.port),
                    "other_users_server": (carols, 8888),
                })
        finally:
            service.close()
        assert seen == {
            "hub_api": "succeeded", "tre_api": "succeeded",
            # the firewall's INPUT rule answers icmp-admin-prohibited
            "tcp_own_address": "EHOSTUNREACH", "udp_own_address": "EHOSTUNREACH",
            "host_service_on_gateway": "EHOSTUNREACH",
            "host_service_on_own_address": "EHOSTUNREACH",
            # the container's loopback is its own
            "tcp_host_loopback": "ECONNREFUSED",
            # enable_icc=false and DOCKER-USER: another workspace's server is not reachable
            "other_users_server": "ETIMEDOUT",
            # Docker's resolver forwards from the container, where the firewall drops it
            "dns": "failed", "dns_configured_resolvers": {"127.0.0.11": "no answer"},
            "interfaces": ["eth0", "lo"]}

    def test_host_processes_are_invisible_and_untraceable(
            self, world: World, host_process: int) -> None:
        assert cases.host_processes(world, host_process) == {
            "processes": ["python3", "tini"], "ptrace_host": "ESRCH", "signal_host": "ESRCH",
            "host_proc_entry": False}

    # Another user's server through the hub (/user/alice/lung-ai/ with bob's login) is refused by
    # the hub and the server's own OAuth whatever the backend: tests/hub/test_hub_e2e.py
    # (test_researcher_works_on_the_permitted_data_and_cannot_change_it); here the direct path
    # between two containers is closed (test_only_the_hub_and_api_ports_are_reachable).
    def test_the_docker_spawner_refuses_without_a_permit_in_force(
            self, world: World, clock: Clock, client: Any, firewalled: Firewalled) -> None:
        def spawn(user: str, project: str) -> tuple[int, str]:
            spawner = EscapeDockerSpawner(
                user=SimpleNamespace(name=user, id=7, url=f"/user/{user}/"), hub=HUB,
                orm_spawner=SimpleNamespace(name=project, server=None), image=IMAGE,
                network_name=firewalled.name, gpu_allocations=str(world.tmp / "gpus.json"))
            spawner.context = HubContext(world.settings, world.node, world.ws, world.uids)

            async def pre_spawn_then_start() -> None:
                await spawner.run_pre_spawn_hook()
                await spawner.start()

            with pytest.raises(web.HTTPError) as refused:
                asyncio.run(pre_spawn_then_start())
            return refused.value.status_code, str(refused.value.log_message)

        before = len(audit_trail(world.node))
        assert spawn("bob", "mammo-ai") == (403, "project mammo-ai has no data permit: apply with "
                                                 "`tre permits apply` and wait for the HDAB's "
                                                 "approval")
        clock.advance(days=400)
        assert spawn("bob", "lung-ai") == (
            403, f"denied by policy data_access: permit {world.lung_permit} has expired")
        assert [e for e in audit_trail(world.node)[before:] if e[1].startswith("workspace.")] == [
            ("bob", "workspace.prepare", "mammo-ai", "denied"),
            ("bob", "workspace.deny", "mammo-ai", "denied"),
            ("bob", "workspace.prepare", "lung-ai", "denied"),
            ("bob", "workspace.deny", "lung-ai", "denied")]
        made = client.containers.list(all=True,
                                      filters={"label": f"tre.permit={world.lung_permit}"})
        assert made == []
