"""The Docker backend only renders the spec: whole create arguments, the firewall, the spawner."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import pytest
from docker.types import DeviceRequest, Mount

from tre.errors import InvalidInput
from tre.workspaces.docker import (
    FirewallRules,
    TREDockerSpawner,
    render_docker,
    render_firewall,
    split_for_api,
)
from tre.workspaces.errors import SandboxUnavailable, WorkspaceRefused
from tre.workspaces.gpus import GpuAllocator
from tre.workspaces.spec import GIB, Limits, NetworkMode, WorkspaceSpec
from tre.workspaces.spec import Mount as SpecMount

SPEC = WorkspaceSpec(
    name="lung-ai-bob", project="lung-ai", user="bob", uid=200000, gid=200000,
    mounts=(SpecMount(Path("/srv/ds/lung-ct/v1"), "/data/lung-ct", True),
            SpecMount(Path("/srv/ws/lung-ai/workspace"), "/workspace", False),
            SpecMount(Path("/srv/ws/lung-ai/outputs/bob"), "/outputs", False)),
    limits=Limits(cpus=2.5, memory_bytes=4 * GIB, pids=256, gpus=2, tmp_bytes=GIB),
    env=(("HOME", "/workspace"), ("PATH", "/usr/local/bin:/usr/bin:/bin"),
         ("TRE_PROJECT", "lung-ai")),
    workdir="/workspace", network=NetworkMode.HUB_ONLY,
    labels=(("tre.permit", "permit-1"), ("tre.project", "lung-ai"), ("tre.user", "bob")))


def test_hub_only_gpu_workspace() -> None:
    assert render_docker(SPEC, network="tre-workspaces", gpu_ids=("1", "3")) == {
        "name": "lung-ai-bob",
        "hostname": "workspace",
        "user": "200000:200000",
        "working_dir": "/workspace",
        "environment": {"HOME": "/workspace", "PATH": "/usr/local/bin:/usr/bin:/bin",
                        "TRE_PROJECT": "lung-ai"},
        "labels": {"tre.permit": "permit-1", "tre.project": "lung-ai", "tre.user": "bob"},
        "mounts": [
            Mount("/data/lung-ct", "/srv/ds/lung-ct/v1", type="bind", read_only=True),
            Mount("/workspace", "/srv/ws/lung-ai/workspace", type="bind", read_only=False),
            Mount("/outputs", "/srv/ws/lung-ai/outputs/bob", type="bind", read_only=False)],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={GIB},mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 256,
        "mem_limit": 4 * GIB,
        "memswap_limit": 4 * GIB,
        "nano_cpus": 2_500_000_000,
        "network_mode": "tre-workspaces",
        "device_requests": [DeviceRequest(driver="nvidia", device_ids=["1", "3"],
                                          capabilities=[["gpu", "compute", "utility"]])],
        "ipc_mode": "private",
    }


def test_a_job_without_network_or_gpus() -> None:
    spec = replace(SPEC, network=NetworkMode.NONE, mounts=SPEC.mounts[:1],
                   limits=Limits(cpus=1, memory_bytes=GIB, pids=64, gpus=0, tmp_bytes=GIB // 2))
    assert render_docker(spec) == {
        "name": "lung-ai-bob", "hostname": "workspace", "user": "200000:200000",
        "working_dir": "/workspace",
        "environment": {"HOME": "/workspace", "PATH": "/usr/local/bin:/usr/bin:/bin",
                        "TRE_PROJECT": "lung-ai"},
        "labels": {"tre.permit": "permit-1", "tre.project": "lung-ai", "tre.user": "bob"},
        "mounts": [Mount("/data/lung-ct", "/srv/ds/lung-ct/v1", type="bind", read_only=True)],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={GIB // 2},mode=1777"},
        "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": 64,
        "mem_limit": GIB, "memswap_limit": GIB, "nano_cpus": 1_000_000_000,
        "network_mode": "none", "device_requests": [], "ipc_mode": "private",
    }


@pytest.mark.parametrize("network", ["bridge", "host", "default", "none", "container:x", ""])
def test_a_hub_only_workspace_never_joins_an_open_network(network: str) -> None:
    with pytest.raises(SandboxUnavailable, match="needs a hub-only network but was given"):
        render_docker(SPEC, network=network, gpu_ids=("0", "1"))


@pytest.mark.parametrize("gpu_ids", [(), ("0",), ("0", "1", "2")])
def test_gpus_must_be_exactly_the_allocated_devices(gpu_ids: tuple[str, ...]) -> None:
    with pytest.raises(SandboxUnavailable, match="asks for 2 GPU"):
        render_docker(SPEC, gpu_ids=gpu_ids)


def test_split_for_the_low_level_api() -> None:
    create, host = split_for_api(render_docker(SPEC, gpu_ids=("0", "1")))
    assert sorted(create) == ["environment", "hostname", "labels", "name", "user",
                              "working_dir"]
    assert sorted(host) == ["cap_drop", "device_requests", "ipc_mode", "mem_limit",
                            "memswap_limit", "mounts", "nano_cpus", "network_mode",
                            "pids_limit", "read_only", "security_opt", "tmpfs"]
    # docker-py accepts every host setting as it is
    assert docker.APIClient(version="1.41").create_host_config(**host)["ReadonlyRootfs"]
    with pytest.raises(InvalidInput, match=r"not Docker create arguments: \['privileged2'\]"):
        split_for_api({"privileged2": True})


def test_firewall_rules() -> None:
    assert render_firewall(bridge="br-tre", hub_ip="172.30.0.1", hub_port=8081,
                           api_port=8082) == FirewallRules(
        restore="*filter\n"
                ":TRE-WS-INPUT - [0:0]\n"
                ":TRE-WS-FORWARD - [0:0]\n"
                "-A TRE-WS-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
                "-A TRE-WS-INPUT -d 172.30.0.1/32 -p tcp -m tcp --dport 8081 -j ACCEPT\n"
                "-A TRE-WS-INPUT -d 172.30.0.1/32 -p tcp -m tcp --dport 8082 -j ACCEPT\n"
                "-A TRE-WS-INPUT -j REJECT --reject-with icmp-admin-prohibited\n"
                "-A TRE-WS-FORWARD -j DROP\n"
                "COMMIT\n",
        jumps=(("INPUT", "-i", "br-tre", "-j", "TRE-WS-INPUT"),
               ("DOCKER-USER", "-i", "br-tre", "-j", "TRE-WS-FORWARD"),
               ("DOCKER-USER", "-o", "br-tre", "-j", "TRE-WS-FORWARD")))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bridge": "br tre; rm", "hub_ip": "172.30.0.1"}, "is not an interface name"),
    ({"bridge": "a-very-long-bridge-name", "hub_ip": "172.30.0.1"}, "at most 15"),
    ({"hub_ip": "hub.example"}, "is not an IPv4 address"),
    ({"hub_ip": "172.30.0.1", "hub_port": 0}, "hub port 0 is not a TCP port"),
    ({"hub_ip": "172.30.0.1", "api_port": 70000}, "api port 70000 is not a TCP port"),
])
def test_firewall_refuses_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        render_firewall(**kwargs)


# -- the spawner, faked by subclassing: no daemon ------------------------------------------------


class RecordingSpawner(TREDockerSpawner):
    """TREDockerSpawner against a recorded Docker API, with the spec the mixin would set."""

    quota = 2
    internal = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"), **kwargs)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.created = False
        self.workspace_spec = SPEC

    @property
    def client(self) -> docker.APIClient:
        return docker.APIClient(version="1.41")  # never contacts a daemon

    async def workspace_gpu_quota(self, spec: WorkspaceSpec) -> int:
        return self.quota

    async def docker(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, args, kwargs))
        if method == "inspect_network":
            return {"Name": args[0], "Internal": self.internal}
        if method == "info":
            return {"NCPU": 4}
        if method == "inspect_image":
            return {"Config": {"Cmd": ["jupyterhub-singleuser"]}}
        if method == "inspect_container":
            if not self.created:
                raise docker.errors.NotFound("gone", response=SimpleNamespace(status_code=404))
            return {"Id": "c0ffee", "NetworkSettings": {"Networks": {
                "tre-workspaces": {"IPAddress": "172.30.0.5"}}}}
        if method == "create_container":
            self.created = True
            return {"Id": "c0ffee"}
        return None


@pytest.fixture
def allocations(tmp_path: Path) -> Path:
    return tmp_path / "gpu-allocations.json"


def spawner(allocations: Path, **kwargs: Any) -> RecordingSpawner:
    return RecordingSpawner(gpu_devices=["0", "1", "2"], gpu_allocations=str(allocations),
                            **kwargs)


def test_spawner_creates_exactly_the_rendered_container(allocations: Path) -> None:
    s = spawner(allocations)
    assert asyncio.run(s.start()) == ("172.30.0.5", 8888)
    create = [c for c in s.calls if c[0] == "create_container"]
    assert len(create) == 1
    _, _, kwargs = create[0]
    expected_create, expected_host = split_for_api(render_docker(SPEC, gpu_ids=("0", "1")))
    assert kwargs == {
        **expected_create,
        "image": "tre-singleuser:latest",
        "command": ["jupyterhub-singleuser"],
        "name": "jupyter-bob",
        "labels": {**expected_create["labels"], "tre.container": "jupyter-bob"},
        "host_config": docker.APIClient(version="1.41").create_host_config(**expected_host),
    }
    assert [(h.device, h.holder) for h in GpuAllocator(allocations, ["0"]).holds()] == [
        ("0", "jupyter-bob"), ("1", "jupyter-bob")]
    asyncio.run(s.stop())
    assert GpuAllocator(allocations, ["0"]).holds() == ()


def test_a_failed_start_frees_its_gpus(allocations: Path) -> None:
    class Failing(RecordingSpawner):
        async def create_object(self) -> dict[str, Any]:
            raise RuntimeError("daemon said no")

    with pytest.raises(RuntimeError, match="daemon said no"):
        asyncio.run(Failing(gpu_devices=["0", "1"], gpu_allocations=str(allocations)).start())
    assert GpuAllocator(allocations, ["0"]).holds() == ()


def test_no_free_gpu_is_refused_before_anything_is_created(allocations: Path) -> None:
    GpuAllocator(allocations, ["0", "1", "2"]).allocate("jupyter-alice", "brain-seg", 2, 2)
    s = spawner(allocations)
    with pytest.raises(WorkspaceRefused, match=r"asks for 2 GPU.* only 1 of 3 are free: GPU 0 "
                       r"held by jupyter-alice \(project brain-seg\)"):
        asyncio.run(s.start())
    assert [c[0] for c in s.calls] == ["inspect_network", "info"]


def test_a_network_that_is_not_internal_is_refused(allocations: Path) -> None:
    s = spawner(allocations)
    s.internal = False
    with pytest.raises(SandboxUnavailable, match="is not --internal"):
        asyncio.run(s.start())
    assert GpuAllocator(allocations, ["0"]).holds() == ()


@pytest.mark.parametrize(("setting", "value"), [
    ("volumes", {"/etc": "/host-etc"}), ("read_only_volumes", {"/srv": "/srv"}),
    ("mounts", [{"source": "/", "target": "/host", "type": "bind"}]),
    ("extra_host_config", {"privileged": True}), ("extra_create_kwargs", {"user": "root"}),
    ("mem_limit", "64G"), ("cpu_limit", 8.0), ("links", {"hub": "hub"}),
])
def test_settings_that_would_change_the_container_are_refused(
        allocations: Path, setting: str, value: Any) -> None:
    s = spawner(allocations, **{setting: value})
    with pytest.raises(SandboxUnavailable, match=f"refuses {setting}: unset them; mounts, limits"):
        asyncio.run(s.start())
    assert s.calls == []


def test_kept_containers_and_published_ports_are_refused(allocations: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="remove must be True"):
        asyncio.run(spawner(allocations, remove=False).start())
    with pytest.raises(SandboxUnavailable, match="use_internal_ip must be True"):
        asyncio.run(spawner(allocations, use_internal_ip=False).start())


def test_a_server_needs_the_hub_only_network(allocations: Path) -> None:
    s = spawner(allocations)
    s.workspace_spec = replace(SPEC, network=NetworkMode.NONE)
    with pytest.raises(SandboxUnavailable, match="needs network hub-only"):
        asyncio.run(s.start())


def test_without_the_mixins_spec_it_refuses_to_start(allocations: Path) -> None:
    s = spawner(allocations)
    s.workspace_spec = None
    with pytest.raises(SandboxUnavailable, match="has no workspace spec"):
        asyncio.run(s.start())
    assert s.calls == []


def test_jupyter_runtime_files_stay_in_the_private_tmp() -> None:
    hub = SimpleNamespace(api_url="http://172.30.0.1:8081/hub/api", base_url="/",
                          public_host="", url="/hub/")
    s = TREDockerSpawner(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"), hub=hub)
    assert s.get_env()["JUPYTER_RUNTIME_DIR"] == "/tmp/jupyter-runtime"
