"""Spawn latency: tre's BwrapSpawner vs JupyterHub's SimpleLocalProcessSpawner, in one run.

Usage (as root): .venv/bin/python benchmarks/spawn.py [--runs N] [--warmup W] [--keep DIR]

Latency = REST request to start alice's named server lung-ai -> its /api/status answers 200
through the proxy (polled every 50 ms). Starts two `tre up` on loopback at once over seeded homes
(tests/hub's: bwrap, socat, the proxy and the sandbox runtime are needed), the permit enforcer at
its production interval, and alternates the spawners, swapping which goes first every round, so
both see the same machine. Both run the same single-user server: the sandbox runtime's
jupyterhub-singleuser (TRE_WORKSPACES_RUNTIME, with its etc/jupyter settings); the baseline runs
it as root, straight from the hub, with no sandbox, bridge or policy check. For each spawn it also
reports CPU seconds (from /proc): the server's own process tree when it answered, and everything
under that `tre up` (hub, proxy, enforcer, API, forwarders, sandbox, server). W warm-up spawns
per spawner are reported but left out of the p50s. Prints a table and writes JSON to
benchmarks/results/. Goal (issue 4): ratio <= 1.1, bwrap p50 <= 3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from density import cpu_times
from hub.conftest import PASSWORD, RunningTre, descendants, start_tre
from hub.hub_support import RUNTIME, log_in

from tre.hub.settings import HubSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
KINDS = ("local", "bwrap")
SERVER = "/hub/api/users/alice/servers/lung-ai"
STATUS = "/user/alice/lung-ai/api/status"
POLL_S = 0.05
TIMEOUT_S = 120.0
GOAL_RATIO = 1.1
GOAL_BWRAP_P50_S = 3.0
LOCAL_CONFIG = """\
from tre.hub.config import configure
configure(c)
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.notebook_dir = "/"
"""


@dataclass
class Spawn:
    """One timed start."""

    kind: str
    seconds: float
    server_cpu_s: float
    tre_up_cpu_s: float
    machine_busy_share: float
    warmup: bool


def _cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has waited for (user + system)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()[11:15]
    return sum(int(f) for f in fields) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    return sum(_cpu_s(p) for p in descendants(pid) | {pid})


def _server_cpu_s(hub_pid: int) -> float:
    """CPU seconds of the single-user server's process tree (found by its command line)."""
    for pid in descendants(hub_pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if len(argv) > 1 and argv[1].endswith(b"jupyterhub-singleuser"):
                return _tree_cpu_s(pid)
    return 0.0


def spawn_once(running: RunningTre, api: httpx.Client, kind: str, warmup: bool) -> Spawn:
    """Start alice's lung-ai server, wait for /api/status through the proxy, stop it."""
    hub_pid = running.process.pid
    cpu_before, (busy0, total0) = _tree_cpu_s(hub_pid), cpu_times()
    began = time.perf_counter()
    api.post(SERVER, json={}).raise_for_status()
    while api.get(STATUS).status_code != 200:
        if time.perf_counter() - began > TIMEOUT_S:
            raise TimeoutError(f"{kind}: no /api/status in {TIMEOUT_S:g} s; see {running.log}")
        time.sleep(POLL_S)
    seconds = time.perf_counter() - began
    busy1, total1 = cpu_times()
    spawn = Spawn(kind, seconds, _server_cpu_s(hub_pid), _tree_cpu_s(hub_pid) - cpu_before,
                  (busy1 - busy0) / max(1, total1 - total0), warmup)
    api.delete(SERVER).raise_for_status()
    while "lung-ai" in api.get("/hub/api/users/alice").json().get("servers", {}):
        time.sleep(0.1)
    return spawn


def measure(root: Path, runs: int, warmup: int) -> list[Spawn]:
    """Both `tre up`s at once; ``warmup`` + ``runs`` spawns each, alternating (ABBA...)."""
    production = HubSettings.model_fields["enforce_interval_s"].default
    config = root / "local_config.py"
    config.write_text(LOCAL_CONFIG.format(singleuser=str(RUNTIME / "bin" /
                                                         "jupyterhub-singleuser")))
    extra = {"local": {"TRE_HUB_CONFIG_FILE": str(config)}, "bwrap": {}}
    spawns: list[Spawn] = []
    with contextlib.ExitStack() as stack:
        hubs = {kind: stack.enter_context(start_tre(
            root / kind, {"TRE_HUB_ENFORCE_INTERVAL_S": str(production), **extra[kind]}))
            for kind in KINDS}
        clients = {kind: stack.enter_context(log_in(hub.url, "alice", PASSWORD).api())
                   for kind, hub in hubs.items()}
        for round_ in range(warmup + runs):
            for kind in KINDS if round_ % 2 == 0 else reversed(KINDS):
                spawns.append(spawn_once(hubs[kind], clients[kind], kind, round_ < warmup))
    return spawns


def summarise(spawns: list[Spawn]) -> dict[str, Any]:
    """p50s of each spawner (warm-ups left out), the ratio and whether the goals are met."""
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        timed = [s for s in spawns if s.kind == kind and not s.warmup]
        kinds[kind] = {
            "p50_s": round(statistics.median(s.seconds for s in timed), 2),
            "runs_s": [round(s.seconds, 2) for s in timed],
            "server_cpu_s_p50": round(statistics.median(s.server_cpu_s for s in timed), 2),
            "tre_up_cpu_s_p50": round(statistics.median(s.tre_up_cpu_s for s in timed), 2),
            "machine_busy_share_p50": round(statistics.median(
                s.machine_busy_share for s in timed), 2),
            "warmup_s": [round(s.seconds, 2) for s in spawns if s.kind == kind and s.warmup],
        }
    ratio = kinds["bwrap"]["p50_s"] / kinds["local"]["p50_s"]
    return {"spawners": kinds, "ratio_bwrap_local_p50": round(ratio, 2),
            "meets_ratio_goal": ratio <= GOAL_RATIO,
            "meets_bwrap_p50_goal": kinds["bwrap"]["p50_s"] <= GOAL_BWRAP_P50_S}


def print_report(result: dict[str, Any]) -> None:
    """The markdown table and the goals."""
    print("| spawner | p50 (s) | runs (s) | server CPU s, p50 | `tre up` CPU s, p50 "
          "| machine busy, p50 | warm-up (s) |\n|---|---:|---|---:|---:|---:|---|")
    for kind, row in result["spawners"].items():
        print(f"| {kind} | {row['p50_s']:.2f} | {', '.join(f'{t:.2f}' for t in row['runs_s'])} "
              f"| {row['server_cpu_s_p50']:.2f} | {row['tre_up_cpu_s_p50']:.2f} "
              f"| {row['machine_busy_share_p50']:.0%} "
              f"| {', '.join(f'{t:.2f}' for t in row['warmup_s']) or '-'} |")
    print(f"\nratio bwrap/local p50: {result['ratio_bwrap_local_p50']:.2f} (goal <= {GOAL_RATIO}: "
          f"{'met' if result['meets_ratio_goal'] else 'not met'}); bwrap p50 goal <= "
          f"{GOAL_BWRAP_P50_S:g} s: {'met' if result['meets_bwrap_p50_goal'] else 'not met'}")


def main(argv: list[str] | None = None) -> int:
    """Run, print, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed spawns per spawner (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed spawns per spawner first (default 1)")
    parser.add_argument("--keep", type=Path, help="run under this new folder and keep it "
                        "(the `tre up` logs are <DIR>/<spawner>/tre-up.log)")
    parser.add_argument("--no-save", action="store_true", help="do not write results JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    if os.geteuid() != 0:
        parser.error("run as root: sandboxes start as root and drop to each project's uid")
    try:
        with contextlib.ExitStack() as stack:
            if args.keep is None:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tre-spawn-")))
            else:
                args.keep.mkdir(parents=True)
                root = args.keep
            spawns = measure(root, args.runs, args.warmup)
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"spawn: {exc}", file=sys.stderr)
        return 2
    result = {"benchmark": "spawn", "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "runs": args.runs, "warmup": args.warmup, "runtime": str(RUNTIME),
              **summarise(spawns), "spawns": [s.__dict__ for s in spawns],
              "load_average_end": os.getloadavg(),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()}}
    print_report(result)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"spawn-{stamp}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
