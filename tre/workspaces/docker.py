"""The Docker backend: a WorkspaceSpec as Docker Engine create arguments; the host firewall.

``render_docker`` is pure: the keyword arguments of docker-py's ``containers.create(image,
command, **kwargs)``; ``split_for_api`` gives the low-level ``create_container`` /
``create_host_config`` pair DockerSpawner uses. ``render_firewall`` gives the iptables rules
that leave only the hub API and tre's REST API reachable from the workspaces' internal network (see
docs/deployment.md). ``TREDockerSpawner`` applies the rendered arguments in JupyterHub.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import DockerException, NotFound  # type: ignore[import-untyped]
from docker.models.containers import (  # type: ignore[import-untyped]
    RUN_CREATE_KWARGS,
    RUN_HOST_CONFIG_KWARGS,
)
from docker.types import DeviceRequest, Mount  # type: ignore[import-untyped]
from dockerspawner import DockerSpawner  # type: ignore[import-untyped]
from requests.exceptions import RequestException
from traitlets import List, Unicode, default

from tre.errors import InvalidInput
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.gpus import GpuAllocator
from tre.workspaces.spec import NetworkMode, WorkspaceSpec, server_spec

DEFAULT_NETWORK = "tre-workspaces"
"""The --internal Docker network notebook servers join (docs/deployment.md creates it)."""
DEFAULT_BRIDGE = "br-tre"
"""Its bridge interface (``-o com.docker.network.bridge.name=br-tre``), which the firewall names."""
SANDBOX_TMP = "/tmp"  # noqa: S108 - the container's own size-limited tmpfs, not the host's
RUNTIME_DIR = "/tmp/jupyter-runtime"  # noqa: S108 - inside the container's own tmpfs
NOT_ISOLATED = frozenset({"bridge", "host", "default", "none"})
"""Docker networks a hub-only workspace may never join: they reach the outside or nothing."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _network_mode(spec: WorkspaceSpec, network: str) -> str:
    if spec.network is NetworkMode.NONE:
        return "none"
    if network in NOT_ISOLATED or not _NAME.fullmatch(network):
        raise SandboxUnavailable(
            f"{spec.name} needs a hub-only network but was given {network!r}: create one with "
            f"`docker network create --internal ... {DEFAULT_NETWORK}` (docs/deployment.md) "
            "and name it")
    return network


def _device_requests(spec: WorkspaceSpec, gpu_ids: Sequence[str]) -> list[DeviceRequest]:
    if len(gpu_ids) != spec.limits.gpus:
        raise SandboxUnavailable(
            f"{spec.name} asks for {spec.limits.gpus} GPU(s) but {len(gpu_ids)} device id(s) "
            "were allocated: allocate exactly that many with GpuAllocator first")
    if not gpu_ids:
        return []
    # Named device ids, never count=-1/"all": the allocator decides which GPUs a workspace sees.
    return [DeviceRequest(driver="nvidia", device_ids=list(gpu_ids),
                          capabilities=[["gpu", "compute", "utility"]])]


def render_docker(spec: WorkspaceSpec, *, network: str = DEFAULT_NETWORK,
                  gpu_ids: Sequence[str] = ()) -> dict[str, Any]:
    """The ``containers.create`` keyword arguments of ``spec`` (pure; image and command apart).

    ``network`` is the --internal network of hub-only workspaces (ignored for ``none``);
    ``gpu_ids`` the device ids GpuAllocator gave this workspace, exactly ``spec.limits.gpus``.
    """
    mounts = [Mount(target=m.target, source=str(m.source), type="bind",
                    read_only=m.read_only) for m in spec.mounts]
    device_requests = _device_requests(spec, tuple(gpu_ids))
    return {
        "name": spec.name,
        "hostname": "workspace",
        "user": f"{spec.uid}:{spec.gid}",
        "working_dir": spec.workdir,
        "environment": spec.env_dict(),
        "labels": dict(spec.labels),
        # --mount, not -v: a missing source is an error, never an empty folder created by dockerd.
        "mounts": mounts,
        "read_only": True,
        "tmpfs": {SANDBOX_TMP: f"rw,nosuid,nodev,size={spec.limits.tmp_bytes},mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": spec.limits.pids,
        "mem_limit": spec.limits.memory_bytes,
        "memswap_limit": spec.limits.memory_bytes,  # equal: no swap beyond the memory limit
        "nano_cpus": round(spec.limits.cpus * 1_000_000_000),
        "network_mode": _network_mode(spec, network),
        "device_requests": device_requests,
        "ipc_mode": "private",
    }


def split_for_api(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(create_container kwargs, create_host_config kwargs)`` of ``render_docker``'s output."""
    create = {k: v for k, v in kwargs.items() if k in RUN_CREATE_KWARGS}
    host = {k: v for k, v in kwargs.items() if k in RUN_HOST_CONFIG_KWARGS}
    left = set(kwargs) - set(create) - set(host)
    if left:
        raise InvalidInput(f"not Docker create arguments: {sorted(left)}")
    return create, host


# -- the host firewall ---------------------------------------------------------------------------

CHAIN_INPUT = "TRE-WS-INPUT"
CHAIN_FORWARD = "TRE-WS-FORWARD"


@dataclass(frozen=True, slots=True)
class FirewallRules:
    """iptables rules for the workspaces' bridge: ``restore`` for ``iptables-restore --noflush``
    (declares and so flushes tre's own chains), then ``jumps`` inserted once into the built-in
    chains (each ``[chain, *match]``: apply with ``-C`` to test and ``-I chain 1`` to add).
    """

    restore: str
    jumps: tuple[tuple[str, ...], ...]


def render_firewall(*, bridge: str = DEFAULT_BRIDGE, hub_ip: str, hub_port: int = 8081,
                    api_port: int = 8082) -> FirewallRules:
    """Rules leaving only ``hub_ip:hub_port`` (the hub API) and ``hub_ip:api_port`` (tre's REST
    API, the tre-api service) reachable from ``bridge`` (pure).

    Traffic from a container to the *host's own* addresses never crosses FORWARD, so Docker's
    --internal isolation does not cover it (a host service on 0.0.0.0 answers). INPUT from the
    bridge therefore accepts only replies, the hub API and tre's API, and rejects the rest;
    DOCKER-USER drops everything forwarded to or from the bridge (other networks, the outside,
    other workspaces). The hub reaching the servers is host-originated and so unaffected.
    """
    if not _NAME.fullmatch(bridge) or len(bridge) > 15:
        raise InvalidInput(f"bridge {bridge!r} is not an interface name: give the name set with "
                           "-o com.docker.network.bridge.name=... (at most 15 characters)")
    try:
        hub = ipaddress.IPv4Address(hub_ip)
    except ValueError:
        raise InvalidInput(f"hub ip {hub_ip!r} is not an IPv4 address: give the internal "
                           "network's gateway, where the hub API listens") from None
    for what, port in (("hub", hub_port), ("api", api_port)):
        if not 0 < port < 65536:
            raise InvalidInput(f"{what} port {port} is not a TCP port")
    restore = "\n".join([
        "*filter",
        f":{CHAIN_INPUT} - [0:0]",
        f":{CHAIN_FORWARD} - [0:0]",
        f"-A {CHAIN_INPUT} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A {CHAIN_INPUT} -d {hub}/32 -p tcp -m tcp --dport {hub_port} -j ACCEPT",
        f"-A {CHAIN_INPUT} -d {hub}/32 -p tcp -m tcp --dport {api_port} -j ACCEPT",
        f"-A {CHAIN_INPUT} -j REJECT --reject-with icmp-admin-prohibited",
        f"-A {CHAIN_FORWARD} -j DROP",
        "COMMIT",
        "",
    ])
    return FirewallRules(restore=restore, jumps=(
        ("INPUT", "-i", bridge, "-j", CHAIN_INPUT),
        ("DOCKER-USER", "-i", bridge, "-j", CHAIN_FORWARD),
        ("DOCKER-USER", "-o", bridge, "-j", CHAIN_FORWARD),
    ))


# -- the JupyterHub spawner ----------------------------------------------------------------------

_WEAKENING = ("volumes", "read_only_volumes", "mounts", "links", "extra_create_kwargs",
              "extra_host_config", "mem_limit", "cpu_limit")
"""DockerSpawner settings that would add to or override the spec: refused when set."""


class TREDockerSpawner(DockerSpawner):  # type: ignore[misc]
    """DockerSpawner whose container is exactly ``render_docker`` of the workspace spec.

    The spec is ``self.workspace_spec``, which TRESpawnerMixin (tre.hub) sets in its pre-spawn
    check (policy, audit) before ``start``; without it this class refuses to start. The
    container's environment is exactly the spec's (the mixin puts the hub's variables in it,
    from ``get_env``). Mounts, limits, user, network, capabilities and labels come
    only from the spec: DockerSpawner settings that would change them (volumes, mounts,
    extra_create_kwargs, extra_host_config, mem_limit, cpu_limit, links) are refused, containers
    are always removed on stop (a kept container would restart with a stale permit's mounts),
    and the network must be an --internal one. GPUs are allocated per server by GpuAllocator
    from ``gpu_devices`` and freed on stop.
    """

    network_name = Unicode(
        DEFAULT_NETWORK, config=True,
        help="""The Docker network of notebook servers. It must be created with --internal
        (checked at every start): e.g. `docker network create --internal
        -o com.docker.network.bridge.name=br-tre
        -o com.docker.network.bridge.enable_icc=false --subnet 172.30.0.0/24 tre-workspaces`.
        Set the hub's hub_ip / hub_connect_ip to its gateway (172.30.0.1).""")
    gpu_devices = List(
        Unicode(), config=True,
        help="""GPU device ids this host hands out, one whole device per GPU a workspace asks
        for (`nvidia-smi -L` indexes or UUIDs). Empty: GPU workspaces are refused.""")
    gpu_allocations = Unicode(
        "", config=True,
        help="""The JSON file recording which server holds which GPU (locked while written).
        Default: $TRE_HOME/gpu-allocations.json. Keep it across hub restarts.""")

    workspace_spec: WorkspaceSpec | None = None

    @default("image")
    def _image(self) -> str:
        return "tre-singleuser:latest"  # built on the host by images/build.sh

    @default("pull_policy")
    def _pull_policy(self) -> str:
        return "never"  # no image registry: images are built on the host

    @default("use_internal_ip")
    def _use_internal_ip(self) -> bool:
        return True

    @default("remove")
    def _remove(self) -> bool:
        return True

    async def workspace_gpu_quota(self, spec: WorkspaceSpec) -> int:
        """GPUs the project may hold across all its servers; the mixin gives the permit's quota.

        The default, what this server asks for, never lets a project's servers add up to more.
        """
        return spec.limits.gpus

    def gpu_allocator(self) -> GpuAllocator:
        """The host's GPU allocator (one JSON file for every spawner of this hub)."""
        path = self.gpu_allocations or str(
            Path(os.environ.get("TRE_HOME", str(Path.home() / ".tre")))
            / "gpu-allocations.json")
        return GpuAllocator(Path(path), list(self.gpu_devices))

    def check_config(self) -> None:
        """Refuse settings that would make the container differ from the spec (fail closed)."""
        changed = [name for name in _WEAKENING if getattr(self, name)]
        if changed:
            raise SandboxUnavailable(
                f"TREDockerSpawner refuses {', '.join(changed)}: unset them; mounts, limits "
                "and options come only from the workspace spec (docs/deployment.md)")
        if not self.remove:
            raise SandboxUnavailable("TREDockerSpawner.remove must be True: a kept container "
                                     "would restart with the mounts of an old permit")
        if not self.use_internal_ip:
            raise SandboxUnavailable("TREDockerSpawner.use_internal_ip must be True: servers "
                                     "publish no host port")

    async def check_network(self) -> None:
        """Refuse a network that is not --internal, or missing, or an engine that does not answer.

        The first call to the engine at each start: a dead dockerd is a clear refusal here.
        """
        try:
            info = await self.docker("inspect_network", self.network_name)
        except NotFound:
            raise SandboxUnavailable(
                f"Docker network {self.network_name} does not exist: create it with `docker "
                "network create --internal ...` (docs/deployment.md)") from None
        except (DockerException, RequestException) as exc:
            url = (self.client_kwargs.get("base_url") or os.environ.get("DOCKER_HOST")
                   or "unix:///var/run/docker.sock")
            raise SandboxUnavailable(
                f"the Docker engine at {url} does not answer ({exc}): start dockerd "
                "(scripts/install-docker.sh) or point DOCKER_HOST (or "
                "DockerSpawner.client_kwargs base_url) at it") from None
        if not info.get("Internal"):
            raise SandboxUnavailable(
                f"Docker network {self.network_name} is not --internal, so servers could reach "
                "the outside: recreate it with `docker network create --internal` "
                "(docs/deployment.md)")

    async def check_cpus(self, spec: WorkspaceSpec) -> None:
        """Refuse a quota of more CPUs than the engine's host has (dockerd would, cryptically)."""
        info = await self.docker("info")
        host_cpus = int(info.get("NCPU") or 0)
        if host_cpus and spec.limits.cpus > host_cpus:
            raise SandboxUnavailable(
                f"{spec.name} may use {spec.limits.cpus:g} CPUs but this Docker host has "
                f"{host_cpus}: run it on a bigger host, or ask the HDAB for an amended permit "
                "with a smaller compute quota")

    def get_env(self) -> dict[str, str]:
        """The hub's variables for the server; Jupyter's runtime files go to the private /tmp.

        (Kernel connection files in the shared /workspace would let other project members
        connect to this user's kernels.)
        """
        env: dict[str, str] = super().get_env()
        env["JUPYTER_RUNTIME_DIR"] = RUNTIME_DIR
        return env

    async def start(self) -> Any:
        """Allocate GPUs, render the container from the spec, start it; free GPUs on failure."""
        self.check_config()
        spec = server_spec("TREDockerSpawner", self.workspace_spec)
        await self.check_network()
        await self.check_cpus(spec)
        allocator = self.gpu_allocator()
        gpu_ids: tuple[str, ...] = ()
        if spec.limits.gpus:
            quota = await self.workspace_gpu_quota(spec)
            gpu_ids = await asyncio.to_thread(allocator.allocate, self.container_name,
                                              spec.project, spec.limits.gpus, quota)
        try:
            self._tre_create = render_docker(spec, network=self.network_name, gpu_ids=gpu_ids)
            return await super().start()
        except BaseException:
            await asyncio.to_thread(allocator.release, self.container_name)
            raise

    async def create_object(self) -> dict[str, Any]:
        """Create the container from the rendered spec only (no template expansion)."""
        create, host = split_for_api(self._tre_create)
        create["name"] = self.container_name
        create["labels"] = {**create["labels"], "tre.container": self.container_name}
        host_config = self.client.create_host_config(**host)
        return await self.docker("create_container", image=self.image,  # type: ignore[no-any-return]
                                 command=await self.get_command(), host_config=host_config,
                                 **create)

    async def stop(self, now: bool = False) -> None:
        """Stop and remove the container, then free its GPUs."""
        try:
            await super().stop(now=now)
        finally:
            await asyncio.to_thread(self.gpu_allocator().release, self.container_name)


# -- applying the firewall (root, on the Docker host) ---------------------------------------------


def apply_firewall(rules: FirewallRules, *, iptables: str = "iptables") -> None:
    """Load tre's chains (replacing their old rules) and add each jump once (idempotent)."""
    subprocess.run([f"{iptables}-restore", "--noflush"], input=rules.restore, text=True,
                   check=True)
    for chain, *match in rules.jumps:
        present = subprocess.run([iptables, "-C", chain, *match], capture_output=True)
        if present.returncode != 0:
            subprocess.run([iptables, "-I", chain, "1", *match], check=True)


def remove_firewall(rules: FirewallRules, *, iptables: str = "iptables") -> None:
    """Remove the jumps and tre's chains (the bridge is then as open as Docker leaves it)."""
    for chain, *match in rules.jumps:
        while subprocess.run([iptables, "-D", chain, *match], capture_output=True
                             ).returncode == 0:
            pass
    for chain in (CHAIN_INPUT, CHAIN_FORWARD):
        subprocess.run([iptables, "-F", chain], capture_output=True)
        subprocess.run([iptables, "-X", chain], capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tre.workspaces.docker firewall ...``: print, apply or remove the rules."""
    parser = argparse.ArgumentParser(prog="python -m tre.workspaces.docker")
    commands = parser.add_subparsers(dest="command", required=True)
    firewall = commands.add_parser("firewall", help="the workspaces' bridge firewall")
    firewall.add_argument("action", choices=("print", "apply", "remove"))
    firewall.add_argument("--bridge", default=DEFAULT_BRIDGE)
    firewall.add_argument("--hub-ip", required=True,
                          help="the internal network's gateway, where the hub API listens")
    firewall.add_argument("--hub-port", type=int, default=8081)
    firewall.add_argument("--api-port", type=int, default=8082,
                          help="tre's REST API (TRE_HUB_API_PORT), on the same address")
    args = parser.parse_args(argv)
    try:
        rules = render_firewall(bridge=args.bridge, hub_ip=args.hub_ip, hub_port=args.hub_port,
                                api_port=args.api_port)
    except InvalidInput as exc:
        parser.error(str(exc))
    if args.action == "print":
        print(rules.restore, end="")
        for chain, *match in rules.jumps:
            print("iptables -I", chain, "1", *match)
    elif args.action == "apply":
        apply_firewall(rules)
    else:
        remove_firewall(rules)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
