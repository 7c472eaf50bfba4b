"""Container start latency: tre's TREDockerSpawner vs plain DockerSpawner, same image, one run.

Usage (as root, dockerd running, image built by images/build.sh):
    .venv/bin/python benchmarks/spawn_docker.py [--runs N]

Latency = ``Spawner.start()`` called -> the container's ``/api/status`` answers 200 (polled every
50 ms from the host over the network both use, a fresh --internal bridge). Both spawners start
the same image (tre-singleuser:latest) with the same command (a Jupyter server on 8888, no
token); tre's renders its container from a workspace spec (read-only root, cap_drop ALL,
no-new-privileges, pids/memory/cpu limits, the spec's mounts, user and environment, the
network checked to be --internal); the plain one is DockerSpawner as configured out of the box
(root, writable root filesystem, no limits). The spawners alternate, first one swapping every
round. The hub's part (policy check, audit, proxy) is the same mixin as for bubblewrap and is
measured with it by benchmarks/spawn.py. Goal (issue 4): ratio <= 1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import httpx
from dockerspawner import DockerSpawner  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from workspaces.test_docker_live import IMAGE, spec  # the live tests' spec and image

from tre.workspaces.docker import TREDockerSpawner
from tre.workspaces.spec import NetworkMode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
KINDS = ("plain", "tre")
SERVER = ["jupyter", "server", "--ip=0.0.0.0", "--port=8888", "--allow-root",
          "--IdentityProvider.token=", "--ServerApp.password="]
POLL_S = 0.05
TIMEOUT_S = 120.0
GOAL_RATIO = 1.1


HUB = SimpleNamespace(api_url="http://127.0.0.1:8081/hub/api", base_url="/hub/",
                      public_host="", url="http://127.0.0.1:8081/hub/")
"""What a spawner reads of its hub (no hub runs here: the servers run without one)."""


def _spawner(kind: str, network: str, work: Path, round_: int) -> Any:
    user = SimpleNamespace(name=f"bench{kind}{round_}", id=round_, url=f"/user/b{round_}/")
    if kind == "plain":
        return DockerSpawner(user=user, hub=HUB, network_name=network, image=IMAGE, cmd=SERVER,
                             use_internal_ip=True, remove=True,
                             environment={"HOME": "/tmp"})  # the image's user has no home
    spawner = TREDockerSpawner(user=user, hub=HUB, network_name=network, image=IMAGE, cmd=SERVER,
                               gpu_allocations=str(work / "gpus.json"))
    spawner.workspace_spec = spec(work / f"spec-{round_}", NetworkMode.HUB_ONLY)
    return spawner


async def _start_once(spawner: Any) -> float:
    began = time.perf_counter()
    ip, port = await spawner.start()
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                if (await client.get(f"http://{ip}:{port}/api/status")).status_code == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                pass
            if time.perf_counter() - began > TIMEOUT_S:
                raise TimeoutError(f"no /api/status from {ip}:{port} in {TIMEOUT_S:g} s")
            await asyncio.sleep(POLL_S)


def measure(runs: int, warmup: int) -> dict[str, list[float]]:
    """``warmup`` + ``runs`` starts of each spawner, alternating; warm-ups left out."""
    client = docker.from_env()
    network = client.networks.create(f"tre-bench-{int(time.time())}", driver="bridge",
                                      internal=True)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        with tempfile.TemporaryDirectory(prefix="tre-spawn-docker-") as folder:
            work = Path(folder)
            for round_ in range(warmup + runs):
                for kind in KINDS if round_ % 2 == 0 else tuple(reversed(KINDS)):
                    spawner = _spawner(kind, network.name, work, round_)
                    try:
                        seconds = asyncio.run(_start_once(spawner))
                    finally:
                        if spawner.container_id:
                            asyncio.run(spawner.stop())
                    if round_ >= warmup:
                        times[kind].append(seconds)
    finally:
        network.remove()
    return times


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed starts per spawner")
    parser.add_argument("--warmup", type=int, default=1, help="untimed starts per spawner")
    args = parser.parse_args(argv)
    if not (0 < args.runs <= 50 and 0 <= args.warmup <= 5):
        parser.error("keep --runs <= 50 and --warmup <= 5")
    times = measure(args.runs, args.warmup)
    p50 = {kind: statistics.median(times[kind]) for kind in KINDS}
    ratio = p50["tre"] / p50["plain"]
    print("| spawner | p50 (s) | runs (s) |\n|---|---:|---|")
    for kind in KINDS:
        print(f"| {kind} | {p50[kind]:.2f} | {', '.join(f'{t:.2f}' for t in times[kind])} |")
    print(f"\nratio tre/plain p50: {ratio:.2f} (goal <= {GOAL_RATIO}: "
          f"{'met' if ratio <= GOAL_RATIO else 'not met'})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"spawn-docker-{stamp}.json"
    out.write_text(json.dumps({"image": IMAGE, "runs_s": times, "p50_s": p50,
                               "ratio_tre_plain_p50": ratio, "machine": platform.node(),
                               "when": stamp}, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
