"""A real dockerd runs a container from a rendered spec: /data is read-only, the network is shut.

Needs root, dockerd (scripts/install-docker.sh) and the image (images/build.sh, ~5 min the first
time). Fails in CI when they are missing; skips elsewhere. Network checks only ever target this
machine's own addresses: a listener on its own non-loopback address and on the bridge gateway.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest

from tre.workspaces.docker import (
    TREDockerSpawner,
    apply_firewall,
    remove_firewall,
    render_docker,
    render_firewall,
)
from tre.workspaces.spec import GIB, Limits, Mount, NetworkMode, WorkspaceSpec

pytestmark = pytest.mark.slow

IMAGE = os.environ.get("TRE_TEST_IMAGE", "tre-singleuser:latest")
UID = 200000
ROOT = Path(__file__).parents[2]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the real-container tests: scripts/install-docker.sh "
                    "and images/build.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    if os.geteuid() != 0:
        _unavailable("the Docker tests need root")
    try:
        api = docker.from_env(version="1.41")
        api.ping()
    except docker.errors.DockerException:
        if os.environ.get("CI"):
            subprocess.run([str(ROOT / "scripts" / "install-docker.sh")], check=False)
        try:
            api = docker.from_env(version="1.41")
            api.ping()
        except docker.errors.DockerException as exc:
            _unavailable(f"dockerd does not answer: {exc}")
    try:
        api.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        if os.environ.get("CI"):
            subprocess.run([str(ROOT / "images" / "build.sh"), "--tag", IMAGE], check=True)
        else:
            _unavailable(f"no image {IMAGE}: build it with images/build.sh")
    yield api
    api.close()


def own_address() -> str:
    """This machine's first global IPv4 address that is not a Docker bridge's."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if not fields[1].startswith(("docker", "br-")):
            return fields[3].split("/")[0]
    pytest.skip("this machine has no non-loopback address of its own")
    raise AssertionError  # unreachable


class Listener:
    """A TCP server on 0.0.0.0 (the case Docker's --internal does not cover) saying hello."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))  # the host service the firewall must hide
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello\n")

    def close(self) -> None:
        self.sock.close()


def spec(tmp_path: Path, network: NetworkMode) -> WorkspaceSpec:
    data = tmp_path / "datasets" / "lung-ct" / "v1"
    data.mkdir(parents=True)
    (data / "scan-001.txt").write_text("pixels\n")
    workspace, outputs = tmp_path / "workspace", tmp_path / "outputs"
    for folder in (workspace, outputs):
        folder.mkdir()
        os.chown(folder, UID, UID)
    return WorkspaceSpec(
        name=f"tre-live-{secrets.token_hex(4)}", project="lung-ai", user="bob", uid=UID,
        gid=UID,
        mounts=(Mount(data, "/data/lung-ct", True), Mount(workspace, "/workspace", False),
                Mount(outputs, "/outputs", False)),
        limits=Limits(cpus=1, memory_bytes=GIB // 2, pids=128, gpus=0, tmp_bytes=64 * 2**20),
        env=(("HOME", "/workspace"), ("PATH", "/usr/local/bin:/usr/bin:/bin")),
        workdir="/workspace", network=network,
        labels=(("tre.project", "lung-ai"), ("tre.user", "bob")))


def run(client: object, image: str, script: str, kwargs: dict[str, object]) -> str:
    container = client.containers.create(image, ["bash", "-c", script], **kwargs)  # type: ignore[attr-defined]
    try:
        container.start()
        container.wait(timeout=120)
        return str(container.logs(stdout=True, stderr=True).decode())
    finally:
        container.remove(force=True)


WRITES = """
id -u; id -g
cat /data/lung-ct/scan-001.txt
touch /data/lung-ct/new 2>&1 || true
rm -f /data/lung-ct/scan-001.txt 2>&1 || true
touch /usr/local/new 2>&1 || true
echo ok > /workspace/w && echo workspace-writable
echo ok > /outputs/o && echo outputs-writable
echo ok > /tmp/t && echo tmp-writable
python -c 'import jupyterlab, jupyterhub; print("jupyter", jupyterhub.__version__)'
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
"""


def test_container_from_a_spec_cannot_write_its_data_or_root(
        client: object, tmp_path: Path) -> None:
    s = spec(tmp_path, NetworkMode.NONE)
    out = run(client, IMAGE, WRITES, render_docker(s))
    lines = out.splitlines()
    assert lines[:3] == [str(UID), str(UID), "pixels"]
    assert "touch: cannot touch '/data/lung-ct/new': Read-only file system" in lines
    assert "rm: cannot remove '/data/lung-ct/scan-001.txt': Read-only file system" in lines
    assert "touch: cannot touch '/usr/local/new': Read-only file system" in lines
    assert {"workspace-writable", "outputs-writable", "tmp-writable"} <= set(lines)
    assert any(line.startswith("jupyter ") for line in lines), out
    assert "CapEff:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    assert (tmp_path / "datasets" / "lung-ct" / "v1" / "scan-001.txt").read_text() == "pixels\n"
    assert (tmp_path / "workspace" / "w").stat().st_uid == UID


LAB = """
jupyter lab --ip 127.0.0.1 --port 8888 --no-browser --ServerApp.token=t >/tmp/lab.log 2>&1 &
for _ in $(seq 1 240); do
  if python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8888/api/status?token=t')" \
      2>/dev/null; then echo lab-up; break; fi
  sleep 0.5
done
kill %1; wait
grep -c 'Read-only file system' /tmp/lab.log || true
"""


def test_jupyterlab_runs_on_the_read_only_root(client: object, tmp_path: Path) -> None:
    out = run(client, IMAGE, LAB, render_docker(spec(tmp_path, NetworkMode.NONE)))
    assert out.splitlines() == ["lab-up", "0"], out
    # its runtime files went to the writable home (/workspace), nowhere else
    assert (tmp_path / "workspace" / ".local" / "share" / "jupyter" / "runtime").is_dir()


CONNECT = """
for target in "$@"; do
  if timeout 20 bash -c "exec 3<>/dev/tcp/${target/:/\\/}; head -n1 <&3" 2>/dev/null; then
    echo "$target reached"
  else
    echo "$target blocked"
  fi
done
"""


def iptables_rules(chain: str) -> list[str]:
    return subprocess.run(["iptables", "-S", chain], capture_output=True, text=True,
                          check=True).stdout.splitlines()


@pytest.fixture
def internal_network(client: object) -> Iterator[tuple[str, str, str]]:
    """An --internal network with its own bridge and no inter-container traffic."""
    name = f"tre-live-{secrets.token_hex(3)}"
    bridge = f"br-tl{secrets.token_hex(3)}"
    network = client.networks.create(  # type: ignore[attr-defined]
        name, driver="bridge", internal=True,
        options={"com.docker.network.bridge.name": bridge,
                 "com.docker.network.bridge.enable_icc": "false"})
    network.reload()
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    try:
        yield name, bridge, gateway
    finally:
        network.remove()


def test_internal_network_reaches_only_the_hub_port_once_firewalled(
        client: object, tmp_path: Path, internal_network: tuple[str, str, str]) -> None:
    name, bridge, gateway = internal_network
    host_service, hub = Listener(), Listener()
    own = own_address()
    targets = [f"{own}:{host_service.port}", f"{gateway}:{hub.port}",
               f"{gateway}:{host_service.port}"]
    s = spec(tmp_path, NetworkMode.HUB_ONLY)
    kwargs = render_docker(s, network=name)
    script = CONNECT.replace('"$@"', " ".join(targets))
    rules = render_firewall(bridge=bridge, hub_ip=gateway, hub_port=hub.port)
    try:
        # Docker's --internal alone: this machine's own services still answer (the caveat).
        before = run(client, IMAGE, script, kwargs).splitlines()
        assert f"{own}:{host_service.port} reached" in before
        apply_firewall(rules)
        apply_firewall(rules)  # idempotent: the jumps are added once
        assert iptables_rules("INPUT").count(f"-A INPUT -i {bridge} -j TRE-WS-INPUT") == 1
        after = run(client, IMAGE, script, kwargs).splitlines()
    finally:
        remove_firewall(rules)
        host_service.close()
        hub.close()
    assert f"-A INPUT -i {bridge} -j TRE-WS-INPUT" not in iptables_rules("INPUT")
    assert [line for line in after if line.endswith(("reached", "blocked"))] == [
        f"{own}:{host_service.port} blocked",
        f"{gateway}:{hub.port} reached",
        f"{gateway}:{host_service.port} blocked"]


def test_spawner_starts_and_removes_the_rendered_container(
        client: object, tmp_path: Path, internal_network: tuple[str, str, str]) -> None:
    name, _, gateway = internal_network
    the_spec = spec(tmp_path, NetworkMode.HUB_ONLY)

    user = f"live{secrets.token_hex(3)}"
    spawner = TREDockerSpawner(user=SimpleNamespace(name=user, id=1, url=f"/user/{user}/"),
                               network_name=name, image=IMAGE, cmd=["sleep", "120"],
                               gpu_allocations=str(tmp_path / "gpus.json"))
    spawner.workspace_spec = the_spec  # what TRESpawnerMixin's pre-spawn check sets

    async def start_inspect_stop() -> tuple[tuple[str, int], dict[str, object]]:
        address = await spawner.start()
        try:
            info = await spawner.docker("inspect_container", spawner.container_id)
        finally:
            await spawner.stop()
        return address, info

    (ip, port), info = asyncio.run(start_inspect_stop())
    assert ip.rsplit(".", 1)[0] == gateway.rsplit(".", 1)[0]
    assert port == 8888
    host = info["HostConfig"]
    config = info["Config"]
    assert {k: host[k] for k in ("ReadonlyRootfs", "CapDrop", "SecurityOpt", "PidsLimit",
                                 "Memory", "MemorySwap", "NanoCpus", "NetworkMode", "Tmpfs",
                                 "IpcMode", "Privileged")} == {
        "ReadonlyRootfs": True, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
        "PidsLimit": 128, "Memory": GIB // 2, "MemorySwap": GIB // 2,
        "NanoCpus": 1_000_000_000, "NetworkMode": name,
        "Tmpfs": {"/tmp": f"rw,nosuid,nodev,size={64 * 2**20},mode=1777"},
        "IpcMode": "private", "Privileged": False}
    assert [(m["Target"], m.get("ReadOnly", False)) for m in host["Mounts"]] == [
        ("/data/lung-ct", True), ("/workspace", False), ("/outputs", False)]
    assert config["User"] == f"{UID}:{UID}"
    ours = {"HOME=/workspace", "PATH=/usr/local/bin:/usr/bin:/bin"}
    image_env = client.images.get(IMAGE).attrs["Config"]["Env"] or []  # type: ignore[attr-defined]
    # the spec's variables, plus only what the image itself sets (LANG)
    assert ours <= set(config["Env"])
    assert set(config["Env"]) - ours <= set(image_env)
    image_labels = client.images.get(IMAGE).attrs["Config"]["Labels"] or {}  # type: ignore[attr-defined]
    # the spec's labels and DockerSpawner's, over the image's own (its content hash)
    assert config["Labels"] == {**image_labels, "tre.project": "lung-ai", "tre.user": "bob",
                                "tre.container": f"jupyter-{user}"}
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(f"jupyter-{user}")  # type: ignore[attr-defined]
