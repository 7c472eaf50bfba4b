"""A dead dockerd: the hub's Docker spawner refuses with a clear, audited error."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from tornado import web
from workspaces.sandbox_support import Publish, need_root
from workspaces.test_docker import SPEC

from factories import audit_trail, issue_permit, seed_users
from tre.hub.context import HubContext
from tre.hub.spawner import TRESpawnerMixin
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.docker import TREDockerSpawner
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.uids import ProjectUids

HUB = SimpleNamespace(api_url="http://172.30.0.1:8081/hub/api", base_url="/", public_host="",
                      url="/hub/")


class HubDockerSpawner(TRESpawnerMixin, TREDockerSpawner):
    """tre's Docker spawner as a hub composes it, working in the test's node."""

    context: HubContext
    _client = None  # DockerSpawner caches its client on the class: never reuse another test's

    def tre(self) -> HubContext:
        return self.context


@pytest.fixture
def dead_engine(tmp_path: Path) -> str:
    """A unix socket nobody listens on (bound, then closed: connecting is refused)."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return f"unix://{path}"


# docker-py leaves the socket of a refused unix connection to the garbage collector
# (docker/transport/unixconn.py): collected inside the test, where this filter applies.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_a_dead_dockerd_is_a_clear_audited_refusal(
        node: Node, settings: Settings, ws_settings: WorkspaceSettings, uids: ProjectUids,
        publish: Publish, dead_engine: str, tmp_path: Path) -> None:
    need_root()
    seed_users(node)
    publish()
    issue_permit(node)
    spawner = HubDockerSpawner(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"),
                               hub=HUB, client_kwargs={"base_url": dead_engine},
                               orm_spawner=SimpleNamespace(name="lung-ai", server=None),
                               gpu_allocations=str(tmp_path / "gpus.json"))
    spawner.context = HubContext(settings, node, ws_settings, uids)
    before = len(audit_trail(node))

    async def spawn() -> None:
        await spawner.run_pre_spawn_hook()
        await spawner.start()

    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(spawn())
    status, message = refused.value.status_code, refused.value.log_message
    del refused
    gc.collect()
    assert status == 503
    assert message.startswith(f"the Docker engine at {dead_engine} does not answer (")
    assert message.endswith("): start dockerd (scripts/install-docker.sh) or point DOCKER_HOST "
                            "(or DockerSpawner.client_kwargs base_url) at it")
    assert audit_trail(node)[before:] == [
        ("bob", "data.access", "lung-ct@v1", "allowed"),
        ("bob", "workspace.prepare", "lung-ai", "allowed"),
        ("bob", "workspace.deny", "lung-ai", "failed")]


def test_more_cpus_than_the_docker_host_has_is_a_clear_refusal() -> None:
    need_root()
    spawner = TREDockerSpawner()
    host_cpus = os.cpu_count() or 1
    spec = replace(SPEC, limits=replace(SPEC.limits, cpus=host_cpus + 1))
    with pytest.raises(SandboxUnavailable) as refused:
        asyncio.run(spawner.check_cpus(spec))
    assert str(refused.value) == (
        f"lung-ai-bob may use {host_cpus + 1} CPUs but this Docker host has {host_cpus}: run it "
        "on a bigger host, or ask the HDAB for an amended permit with a smaller compute quota")
    asyncio.run(spawner.check_cpus(replace(SPEC, limits=replace(SPEC.limits, cpus=1))))
