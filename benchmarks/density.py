"""Density: N project servers (bubblewrap) at once under one `tre up`, and the hub API latency.

Usage (as root): .venv/bin/python benchmarks/density.py [--servers N] [--seconds S] [--rate R]

Starts a real `tre up` on loopback (tests/hub's seeded home), adds N researchers each leading
one project with its own permit, logs each in and starts their project's named server through
the hub's REST API (``--spawn-concurrency`` at a time), and waits until every one answers
/api/status through the proxy. Then, for S seconds: hub API requests at R per second in all
from ``--clients`` connections (GET /hub/api/users/<name> and GET /hub/api/user, alternately,
each with one of the users' tokens, round robin) and, so the servers are not idle, one
JupyterLab-like GET /user/<name>/<project>/api/contents per server every ``--lab-interval``
seconds. Reports latency p50/p95/p99/max, memory (RSS, PSS) and CPU seconds of every process
in the sandboxes' cgroups (from /proc), load average and CPU busy share, how long the spawns
took and whether every server stayed up; then stops every server and `tre up`, and checks no
process, cgroup or run folder is left behind. Goal (issue 4): 20 servers on 2 cores with hub
API p99 < 200 ms. Prints a markdown table and writes JSON to benchmarks/results/.
The load generator runs on the same machine, so its own CPU use is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hub.conftest import PASSWORD, RunningTre, alive, descendants, grant_permit, start_tre
from hub.hub_support import log_in
from workflow import percentile

from tre.domain.roles import Role
from tre.hub.passwords import set_password
from tre.hub.settings import HubSettings
from tre.services import users

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GOAL_P99_MS = 200.0
SPAWN_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0
SPAWN_POLL_S = 0.2
SAMPLE_EVERY_S = 5.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
RUN_ROOT = Path("/run/tre-hub")
KIB = 1024


@dataclass(frozen=True)
class Server:
    """One researcher's project server."""

    user: str
    project: str
    token: str

    @property
    def path(self) -> str:
        return f"/user/{self.user}/{self.project}"

    @property
    def hub_path(self) -> str:
        return f"/hub/api/users/{self.user}/servers/{self.project}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stem(self) -> str:
        """How its sandbox's cgroups and run folder are named (``<project>-<user>-<random>``)."""
        return f"{self.project}-{self.user}-"


@dataclass
class Latencies:
    """Seconds each request took, by what was asked, and what failed."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, what: str, took: float, problem: str | None) -> None:
        self.seconds.setdefault(what, []).append(took)
        self.errors.setdefault(what, [])
        if problem is not None:
            self.errors[what].append(problem)

    async def timed(self, what: str, call: Awaitable[httpx.Response]) -> None:
        began = time.perf_counter()
        try:
            answer = await call
        except httpx.HTTPError as exc:
            self.add(what, time.perf_counter() - began, f"{type(exc).__name__}: {exc}")
            return
        problem = None if answer.status_code == 200 else f"HTTP {answer.status_code}"
        self.add(what, time.perf_counter() - began, problem)


def seed_projects(running: RunningTre, home: Path, count: int) -> list[tuple[str, str]]:
    """``count`` researchers, each leading one project with an approved permit of its own."""
    pairs = [(f"researcher-{i:02}", f"density-{i:02}") for i in range(1, count + 1)]
    for user, project in pairs:
        users.add_user(running.node, "host:bench", user, [Role.RESEARCHER])
        set_password(home, user, PASSWORD)
        grant_permit(running.node, project, user)
    return pairs


def stats_ms(values: list[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99 and max of ``values`` (seconds), in milliseconds."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {"n": len(values), **{name: round(percentile(values, q) * 1000, 1)
                                 for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
            "max": round(max(values) * 1000, 1)}


async def spawn(client: httpx.AsyncClient, server: Server) -> tuple[float | None, str | None]:
    """Start ``server``; seconds until /api/status answers 200, or why it did not start."""
    began = time.perf_counter()
    answer = await client.post(server.hub_path, json={}, headers=server.auth())
    if answer.status_code not in (201, 202):
        return None, f"POST answered {answer.status_code}: {answer.text[:300]}"
    deadline = began + SPAWN_TIMEOUT_S
    for poll in itertools.count():
        if time.perf_counter() > deadline:
            break
        status = await client.get(f"{server.path}/api/status", headers=server.auth())
        if status.status_code == 200:
            return time.perf_counter() - began, None
        if poll % 10 == 9:  # light polling: the spawns share the machine with the hub
            model = await client.get(f"/hub/api/users/{server.user}", headers=server.auth())
            if server.project not in model.json().get("servers", {}):
                return None, "the hub dropped the server while it started (see the hub's log)"
        await asyncio.sleep(SPAWN_POLL_S)
    return None, f"no answer from /api/status within {SPAWN_TIMEOUT_S:g} s"


async def spawn_all(url: str, servers: list[Server], concurrency: int) -> dict[str, Any]:
    """Start every server, ``concurrency`` at a time; per-spawn and total times, failures."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, server: Server) -> tuple[float | None, str | None]:
        async with gate:
            return await spawn(client, server)

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        outcomes = await asyncio.gather(*(one(client, s) for s in servers))
    total = time.perf_counter() - began
    times = [t for t, _ in outcomes if t is not None]
    return {"total_s": round(total, 2), "concurrency": concurrency,
            "started": len(times), "per_spawn_ms": stats_ms(times),
            "failed": {s.path: why for s, (_, why) in zip(servers, outcomes, strict=True)
                       if why is not None}}


async def paced(interval: float, offset: float, until: float,
                call: Callable[[], Awaitable[None]]) -> int:
    """Run ``call`` every ``interval`` s from ``offset`` s on, until the monotonic ``until``;
    the number of times it started late (behind by more than one interval)."""
    late = 0
    due = time.monotonic() + offset
    while due < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if time.monotonic() - due > interval:
            late += 1
        await call()
        due += interval
    return late


async def load(url: str, servers: list[Server], args: argparse.Namespace,
               on_sample: Callable[[], None]) -> tuple[Latencies, int]:
    """Hub API and server requests for ``args.seconds``; the latencies and late sends."""
    found = Latencies()
    until = time.monotonic() + args.seconds
    turn = itertools.count()
    hub_interval = args.clients / args.rate

    async def hub_request(client: httpx.AsyncClient) -> None:
        n = next(turn)
        server = servers[n % len(servers)]
        path = f"/hub/api/users/{server.user}" if n % 2 == 0 else "/hub/api/user"
        label = "GET /hub/api/users/<name>" if n % 2 == 0 else "GET /hub/api/user"
        await found.timed(label, client.get(path, headers=server.auth()))

    async def lab_request(client: httpx.AsyncClient, server: Server) -> None:
        await found.timed("GET /user/<name>/<project>/api/contents",
                          client.get(f"{server.path}/api/contents", headers=server.auth()))

    async def sampler() -> None:
        await asyncio.to_thread(on_sample)

    async with contextlib.AsyncExitStack() as stack:
        hub_clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
                       for _ in range(args.clients)]
        lab_clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
                       for _ in servers]
        tasks = [paced(hub_interval, i * hub_interval / args.clients, until,
                       lambda c=c: hub_request(c))
                 for i, c in enumerate(hub_clients)]
        tasks += [paced(args.lab_interval, i * args.lab_interval / len(servers), until,
                        lambda c=c, s=s: lab_request(c, s))
                  for i, (c, s) in enumerate(zip(lab_clients, servers, strict=True))]
        tasks.append(paced(SAMPLE_EVERY_S, 0.0, until, sampler))
        late = await asyncio.gather(*tasks)
    return found, sum(late[:-1])


async def still_up(url: str, servers: list[Server]) -> dict[str, bool]:
    """Whether the hub calls each server ready and it answers /api/status."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def check(server: Server) -> bool:
            model = (await client.get(f"/hub/api/users/{server.user}",
                                      headers=server.auth())).json()
            ready = bool(model.get("servers", {}).get(server.project, {}).get("ready"))
            status = await client.get(f"{server.path}/api/status", headers=server.auth())
            return ready and status.status_code == 200
        answers = await asyncio.gather(*(check(s) for s in servers))
    return {s.path: up for s, up in zip(servers, answers, strict=True)}


async def stop_all(url: str, servers: list[Server]) -> dict[str, str]:
    """Stop every server through the REST API; those the hub did not stop, and why."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def stop(server: Server) -> str | None:
            answer = await client.delete(server.hub_path, headers=server.auth())
            if answer.status_code not in (202, 204, 400, 404):  # 400/404: not running
                return f"DELETE answered {answer.status_code}: {answer.text[:300]}"
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline:
                model = (await client.get(f"/hub/api/users/{server.user}",
                                          headers=server.auth())).json()
                if server.project not in model.get("servers", {}):
                    return None
                await asyncio.sleep(0.2)
            return f"still listed {STOP_TIMEOUT_S:g} s after DELETE"
        answers = await asyncio.gather(*(stop(s) for s in servers))
    return {s.path: why for s, why in zip(servers, answers, strict=True) if why is not None}


def _memory_cgroup(pid: int) -> str | None:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return next((line.split(":", 2)[2] for line in lines
                 if "memory" in line.split(":", 2)[1].split(",")), None)


def _usage(pid: int) -> tuple[int, int, float]:
    """RSS and PSS (KiB) and CPU seconds used so far (user + system) of one process."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0, 0.0
    values = {line.split(":")[0]: int(line.split()[1]) for line in lines
              if line.startswith(("Rss:", "Pss:"))}
    utime, stime = stat[stat.rindex(")") + 2:].split()[11:13]
    return (values.get("Rss", 0), values.get("Pss", 0),
            (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK"))


def usage_sample(hub_pid: int) -> dict[str, Any]:
    """RSS/PSS (KiB) and CPU seconds of each sandbox (the processes in its memory cgroup
    ``/tre/<name>``, from /proc) and of the rest of `tre up`'s process tree (hub, proxy,
    services, forwarders)."""
    sandboxes: dict[str, dict[str, float]] = {}
    rest = {"rss_kib": 0.0, "pss_kib": 0.0, "cpu_s": 0.0, "processes": 0.0}
    for pid in descendants(hub_pid) | {hub_pid}:
        group = _memory_cgroup(pid) or ""
        totals = (sandboxes.setdefault(group, dict.fromkeys(rest, 0.0))
                  if group.startswith("/tre/") else rest)
        for key, value in zip(rest, (*_usage(pid), 1), strict=True):
            totals[key] += value
    return {"sandboxes": sandboxes, "rest": rest, "load_1m": os.getloadavg()[0],
            "at": time.monotonic()}


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def summarise_usage(samples: list[dict[str, Any]], servers: int) -> dict[str, Any]:
    """Mean and max over the samples of the sandboxes' summed RSS and PSS (MiB), and CPU
    seconds of the live processes: the sandboxes' by the first sample (about what starting
    them cost), and the sandboxes' and the rest's during the samples."""
    def total(sample: dict[str, Any], key: str) -> float:
        return float(sum(box[key] for box in sample["sandboxes"].values()))

    def mean_max(values: list[float], scale: float = 1.0) -> dict[str, float]:
        return {"mean": round(sum(values) / len(values) / scale, 1),
                "max": round(max(values) / scale, 1)}

    rss = [total(x, "rss_kib") for x in samples]
    first, last = samples[0], samples[-1]
    return {
        "samples": len(samples),
        "sandboxes_seen": {"min": min(len(x["sandboxes"]) for x in samples),
                           "max": max(len(x["sandboxes"]) for x in samples)},
        "sandboxes_rss_mib": mean_max(rss, KIB),
        "sandboxes_pss_mib": mean_max([total(x, "pss_kib") for x in samples], KIB),
        "per_sandbox_rss_mib_mean": round(sum(rss) / len(rss) / servers / KIB, 1),
        "tre_up_rest_rss_mib": mean_max([x["rest"]["rss_kib"] for x in samples], KIB),
        "sandbox_cpu_s_at_first_sample_mean": round(total(first, "cpu_s") / servers, 2),
        "sandboxes_cpu_s_during": round(total(last, "cpu_s") - total(first, "cpu_s"), 2),
        "tre_up_rest_cpu_s_during": round(last["rest"]["cpu_s"] - first["rest"]["cpu_s"], 2),
        "sampled_s": round(last["at"] - first["at"], 1),
        "load_1m": mean_max([x["load_1m"] for x in samples]),
    }


def left_behind(tree: set[int], servers: list[Server]) -> list[str]:
    """Processes of the run still alive, and the sandboxes' cgroups or run folders still there."""
    found = [f"process {pid}" for pid in sorted(alive(tree))]
    for server in servers:
        for folder in (*CGROUP_ROOT.glob(f"*/tre/{server.stem()}*"),
                       *RUN_ROOT.glob(f"{server.stem()}*")):
            found.append(str(folder))
    return found


def measure(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The whole run under ``root``: start, spawn, load, check, stop; the figures."""
    production_interval = HubSettings.model_fields["enforce_interval_s"].default
    samples: list[dict[str, Any]] = []
    with start_tre(root, {"TRE_HUB_ENFORCE_INTERVAL_S": str(production_interval)}) as running:
        pairs = seed_projects(running, root / "home", args.servers)
        servers = [Server(u, p, log_in(running.url, u, PASSWORD).token) for u, p in pairs]
        spawned = asyncio.run(spawn_all(running.url, servers, args.spawn_concurrency))
        up_before = [s for s in servers if s.path not in spawned["failed"]]
        busy0, total0 = cpu_times()
        latencies, late = (asyncio.run(load(
            running.url, up_before, args,
            lambda: samples.append(usage_sample(running.process.pid))))
            if up_before else (Latencies(), 0))
        busy1, total1 = cpu_times()
        up_after = asyncio.run(still_up(running.url, servers))
        tree = descendants(running.process.pid) | {running.process.pid}
        not_stopped = asyncio.run(stop_all(running.url, servers))
    leftovers = left_behind(tree, servers)
    trouble = spawned["failed"] or not all(up_after.values()) or not_stopped or leftovers
    hub_all = [t for what, ts in latencies.seconds.items() if what.startswith("GET /hub")
               for t in ts]
    hub_p99 = stats_ms(hub_all)["p99"]
    return {
        "spawn": spawned,
        "latency_ms": {what: {**stats_ms(ts), "errors": len(latencies.errors[what])}
                       for what, ts in sorted(latencies.seconds.items())},
        "hub_api_ms": stats_ms(hub_all),
        "errors_first": {what: errs[:5] for what, errs in latencies.errors.items() if errs},
        "late_sends": late,
        "usage": summarise_usage(samples, len(up_before)) if samples else None,
        "cpu_busy_share": round((busy1 - busy0) / max(1, total1 - total0), 3),
        "load_average_end": os.getloadavg(),
        "all_stayed_up": len(up_before) == args.servers and all(up_after.values()),
        "down_at_end": [path for path, up in up_after.items() if not up],
        "not_stopped": not_stopped,
        "left_behind": leftovers,
        "hub_log_tail": running.log.read_text(errors="replace")[-4000:] if trouble else None,
        "goal": f"{args.servers} servers, hub API p99 < {GOAL_P99_MS:g} ms",
        "meets_goal": (hub_p99 is not None and hub_p99 < GOAL_P99_MS and not any(
                           errs for what, errs in latencies.errors.items() if "/hub/" in what)
                       and spawned["started"] == args.servers and all(up_after.values())),
    }


def print_report(result: dict[str, Any], servers: int) -> None:
    """The markdown tables."""
    print(f"| request ({servers} servers) | n | errors | p50 (ms) | p95 (ms) | p99 (ms) "
          "| max (ms) |\n|---|---:|---:|---:|---:|---:|---:|")
    rows = {**result["latency_ms"],
            "hub API, both": {**result["hub_api_ms"],
                              "errors": sum(v["errors"] for k, v in result["latency_ms"].items()
                                            if k.startswith("GET /hub"))}}
    for what, row in rows.items():
        print(f"| {what} | {row['n']} | {row['errors']} | {row['p50']} | {row['p95']} "
              f"| {row['p99']} | {row['max']} |")
    spawn, usage = result["spawn"], result["usage"] or {}
    figures = {
        "servers started": f"{spawn['started']} / {servers}",
        "all spawns, wall (s)": spawn["total_s"],
        "one spawn, p50 / max (s), "
        f"{spawn['concurrency']} at a time": f"{(spawn['per_spawn_ms']['p50'] or 0) / 1000:.2f}"
                                             f" / {(spawn['per_spawn_ms']['max'] or 0) / 1000:.2f}",
        "all stayed up": result["all_stayed_up"],
        "sandboxes RSS sum, mean / max (MiB)": _pair(usage.get("sandboxes_rss_mib")),
        "sandboxes PSS sum, mean / max (MiB)": _pair(usage.get("sandboxes_pss_mib")),
        "RSS per sandbox, mean (MiB)": usage.get("per_sandbox_rss_mib_mean"),
        "rest of `tre up` RSS, mean / max (MiB)": _pair(usage.get("tre_up_rest_rss_mib")),
        "sandbox CPU s by the first sample, mean": usage.get(
            "sandbox_cpu_s_at_first_sample_mean"),
        f"CPU s over {usage.get('sampled_s')} s, sandboxes / rest of `tre up`":
            f"{usage.get('sandboxes_cpu_s_during')} / {usage.get('tre_up_rest_cpu_s_during')}",
        "load average 1 min, mean / max": _pair(usage.get("load_1m")),
        f"CPU busy share ({os.cpu_count()} CPUs)": result["cpu_busy_share"],
        "requests sent late": result["late_sends"],
        "left behind after stop": len(result["left_behind"]),
        f"goal met (hub API p99 < {GOAL_P99_MS:g} ms)": result["meets_goal"],
    }
    print("\n| figure | value |\n|---|---:|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


def _pair(values: dict[str, float] | None) -> str:
    return "-" if values is None else f"{values['mean']} / {values['max']}"


def main(argv: list[str] | None = None) -> int:
    """Run, print, write the JSON; exit 1 if a server failed, fell over or was left behind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=20, help="project servers (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of the measured period (default 60)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="hub API requests per second, all clients together (default 20)")
    parser.add_argument("--clients", type=int, default=4,
                        help="parallel hub API connections (default 4)")
    parser.add_argument("--lab-interval", type=float, default=2.0,
                        help="seconds between two contents requests to each server (default 2)")
    parser.add_argument("--spawn-concurrency", type=int, default=5,
                        help="server starts in flight at once (default 5)")
    parser.add_argument("--no-save", action="store_true", help="do not write results JSON")
    args = parser.parse_args(argv)
    if not (1 <= args.servers <= 200 and 1 <= args.clients <= 64 and args.seconds > 0
            and 0 < args.rate <= 1000 and args.lab_interval > 0 and args.spawn_concurrency > 0):
        parser.error("keep 1 <= --servers <= 200, 1 <= --clients <= 64, --rate <= 1000, "
                     "and --seconds, --lab-interval, --spawn-concurrency above 0")
    if os.geteuid() != 0:
        parser.error("run as root: sandboxes start as root and drop to each project's uid")
    try:
        with tempfile.TemporaryDirectory(prefix="tre-density-") as tmp:
            result = measure(Path(tmp), args)
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"density: {exc}", file=sys.stderr)
        return 2
    result = {"benchmark": "density", "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "servers": args.servers, "seconds": args.seconds, "rate_per_s": args.rate,
              "clients": args.clients, "lab_interval_s": args.lab_interval, **result,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()}}
    print_report(result, args.servers)
    for what, errors in result["errors_first"].items():
        print(f"errors of {what}: {errors}", file=sys.stderr)
    if result["hub_log_tail"]:
        print(f"failed to start: {result['spawn']['failed']}\ndown at the end: "
              f"{result['down_at_end']}\nnot stopped: {result['not_stopped']}\nleft behind: "
              f"{result['left_behind']}\nthe hub's log ends:\n{result['hub_log_tail']}",
              file=sys.stderr)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"density-{args.servers}-{stamp}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {out.relative_to(ROOT)}", file=sys.stderr)
    return 1 if result["hub_log_tail"] else 0


if __name__ == "__main__":
    sys.exit(main())
