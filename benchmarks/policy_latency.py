"""Latency of the data_access decision on each policy engine (loopback only, bounded counts).

Usage: .venv/bin/python benchmarks/policy_latency.py [--iterations N] [--concurrency C]
       [--embedded-only]

The query tre asks (tre.services.permits.decide_data_access): five scalars and the revision of
the permit the engine holds as policy data, beside ``--held-permits`` other projects' permits.
Rows: the embedded engine (allowed and denied query; and the older form with the permit inside
the input), the OPA server through OpaServerPolicyEngine (sync opa-python-client), through
AsyncOpaServerPolicyEngine with C decisions in flight, and a bare httpx POST of the same query
to OPA's REST API as the baseline. Prints a markdown table and writes JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tre.domain.permits import DataPermit, PermitStatus, PinnedDataset
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, Member, Period
from tre.errors import PolicyEngineUnavailable
from tre.policy import inputs
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.policy.engine import PolicyEngine
from tre.policy.opa_server import (
    AsyncOpaServerPolicyEngine,
    OpaServer,
    OpaServerPolicyEngine,
    find_opa_binary,
)

RESULTS = Path(__file__).resolve().parent / "results"
DECISION = "data_access"
VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    """One measured configuration."""

    engine: str
    mode: str
    iterations: int
    p50_us: float
    p99_us: float
    mean_us: float
    throughput_per_s: float


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def realistic_permit(project: str = "lung-screening") -> DataPermit:
    """A permit with 3 members and 2 datasets."""
    return DataPermit(
        id=f"P-{project}", project=project, application="A-1", issued_by="olga",
        issued_at=VALID_FROM, decision_reason="meets the purpose", conditions=(),
        period=Period(VALID_FROM, VALID_UNTIL),
        datasets=(PinnedDataset("lung-ct", "v1"), PinnedDataset("brain-mri", "2024-06")),
        members=(Member("alice", ProjectRole.LEAD), Member("bob", ProjectRole.RESEARCHER),
                 Member("carol", ProjectRole.OBSERVER)),
        compute=Compute(), status=PermitStatus.ACTIVE,
    )


def access_input(user: str) -> dict[str, Any]:
    """The data_access input with the permit inside it, for ``user``."""
    return inputs.data_access_input(user, "lung-screening", "lung-ct", "v1", NOW,
                                    realistic_permit())


def hold_permits(engine: PolicyEngine, others: int) -> None:
    """Put the benchmark's permit and ``others`` more into ``engine``'s data."""
    for n in range(others):
        engine.put_permit(f"project-{n}", inputs.permit_data(realistic_permit(f"project-{n}")))
    engine.put_permit("lung-screening", inputs.permit_data(realistic_permit()))


def access_query(user: str) -> dict[str, Any]:
    """The data_access query on the held permit, for ``user``."""
    revision = inputs.permit_data(realistic_permit())["revision"]
    return inputs.data_access_query(user, "lung-screening", "lung-ct", "v1", NOW, revision)


def _row(engine: str, mode: str, samples_ns: list[int], wall_s: float) -> Row:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return Row(
        engine=engine, mode=mode, iterations=n,
        p50_us=round(ordered[n // 2] / 1000, 1),
        p99_us=round(ordered[min(n - 1, int(n * 0.99))] / 1000, 1),
        mean_us=round(statistics.fmean(ordered) / 1000, 1),
        throughput_per_s=round(n / wall_s, 1),
    )


def measure(engine: str, mode: str, call: Callable[[], object], iterations: int,
            warmup: int) -> Row:
    """Time ``call`` sequentially, ``iterations`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    samples = []
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - t0)
    return _row(engine, mode, samples, time.perf_counter() - start)


def measure_async(url: str, document: dict[str, Any], iterations: int, warmup: int,
                  concurrency: int) -> Row:
    """``iterations`` adecide() calls, ``concurrency`` in flight at any time."""

    async def run() -> Row:
        engine = AsyncOpaServerPolicyEngine(url, timeout_s=5.0)
        samples: list[int] = []

        async def worker(count: int, record: bool) -> None:
            for _ in range(count):
                t0 = time.perf_counter_ns()
                decision = await engine.adecide(DECISION, document)
                if record:
                    samples.append(time.perf_counter_ns() - t0)
                if not decision.allow:
                    raise RuntimeError(f"unexpected deny: {decision}")

        try:
            await asyncio.gather(*(worker(max(1, warmup // concurrency), False)
                                   for _ in range(concurrency)))
            per_worker = max(1, iterations // concurrency)
            start = time.perf_counter()
            await asyncio.gather(*(worker(per_worker, True) for _ in range(concurrency)))
            wall = time.perf_counter() - start
        finally:
            await engine.aclose()
        return _row("opa server", f"AsyncOpaServerPolicyEngine, {concurrency} in flight",
                    samples, wall)

    return asyncio.run(run())


def _opa_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False)
    return next((line.split(": ", 1)[1] for line in out.stdout.splitlines()
                 if line.startswith("Version: ")), "unknown")


def main(argv: list[str] | None = None) -> int:
    """Run every configuration, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000,
                        help="timed calls for the embedded engine (default 5000)")
    parser.add_argument("--http-iterations", type=int, default=2000,
                        help="timed calls for each OPA server row (default 2000)")
    parser.add_argument("--warmup", type=int, default=300, help="untimed calls first")
    parser.add_argument("--concurrency", type=int, default=32, help="async calls in flight")
    parser.add_argument("--held-permits", type=int, default=1000,
                        help="other projects' permits held as policy data (default 1000)")
    parser.add_argument("--embedded-only", action="store_true",
                        help="measure the embedded engine only (no OPA server rows)")
    args = parser.parse_args(argv)
    if not (0 < args.iterations <= 200_000 and 0 < args.http_iterations <= 20_000):
        parser.error("keep --iterations <= 200000 and --http-iterations <= 20000")
    if not 0 <= args.held_permits <= 100_000:
        parser.error("keep --held-permits <= 100000")

    allowed, denied = access_query("alice"), access_query("carol")
    rows: list[Row] = []
    embedded = EmbeddedPolicyEngine()
    hold_permits(embedded, args.held_permits)
    for document, allow in ((allowed, True), (denied, False), (access_input("alice"), True),
                            (access_input("carol"), False)):
        assert embedded.decide(DECISION, document).allow is allow
    rows.append(measure("embedded (regorus)", "decide(), held permit, allowed",
                        lambda: embedded.decide(DECISION, allowed), args.iterations, args.warmup))
    rows.append(measure("embedded (regorus)", "decide(), held permit, denied (all reasons)",
                        lambda: embedded.decide(DECISION, denied), args.iterations, args.warmup))
    inline_allowed, inline_denied = access_input("alice"), access_input("carol")
    rows.append(measure("embedded (regorus)", "decide(), permit in the input, allowed",
                        lambda: embedded.decide(DECISION, inline_allowed), args.iterations,
                        args.warmup))
    rows.append(measure("embedded (regorus)", "decide(), permit in the input, denied",
                        lambda: embedded.decide(DECISION, inline_denied), args.iterations,
                        args.warmup))

    opa_version = "not run"
    try:
        binary = None if args.embedded_only else find_opa_binary()
    except PolicyEngineUnavailable as exc:
        print(f"skipping the OPA server rows: {exc}", file=sys.stderr)
        binary = None
    if binary is not None:
        opa_version = _opa_version(binary)
        with OpaServer(binary=binary) as server:
            sync = OpaServerPolicyEngine(server.url, timeout_s=5.0)
            hold_permits(sync, args.held_permits)
            assert sync.decide(DECISION, allowed).allow
            rows.append(measure("opa server", "OpaServerPolicyEngine (opa-python-client sync)",
                                lambda: sync.decide(DECISION, allowed), args.http_iterations,
                                args.warmup))
            sync.close()
            rows.append(measure_async(server.url, allowed, args.http_iterations, args.warmup,
                                      args.concurrency))
            url = f"{server.url}/v1/data/tre/data/access/decision"
            body = {"input": allowed}
            with httpx.Client() as client:
                rows.append(measure("opa server", "bare httpx POST (baseline)",
                                    lambda: client.post(url, json=body).raise_for_status(),
                                    args.http_iterations, args.warmup))

    header = "| engine | mode | n | p50 (us) | p99 (us) | mean (us) | decisions/s |"
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.engine} | {row.mode} | {row.iterations} | {row.p50_us} | {row.p99_us} "
              f"| {row.mean_us} | {row.throughput_per_s} |")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"policy_latency-{stamp}.json"
    out.write_text(json.dumps({
        "decision": DECISION, "when": stamp, "cpus": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(),
        "opa_version": opa_version, "held_permits": args.held_permits,
        "rows": [asdict(row) for row in rows],
    }, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
