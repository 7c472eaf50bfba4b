"""Latency of the data_access decision on each policy engine (loopback only, bounded counts).

Usage: .venv/bin/python benchmarks/policy_latency.py [--iterations N] [--concurrency C]

Rows: the embedded engine (allowed and denied input), the OPA server through
OpaServerPolicyEngine (sync opa-python-client), through AsyncOpaServerPolicyEngine with C
decisions in flight, and a bare httpx POST to OPA's REST API as the baseline. Prints a markdown
table and writes JSON to benchmarks/results/.
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


def access_input(user: str) -> dict[str, Any]:
    """A realistic data_access input (3 members, 2 datasets) for ``user``."""
    permit = DataPermit(
        id="P-1", project="lung-screening", application="A-1", issued_by="olga",
        issued_at=VALID_FROM, decision_reason="meets the purpose", conditions=(),
        period=Period(VALID_FROM, VALID_UNTIL),
        datasets=(PinnedDataset("lung-ct", "v1"), PinnedDataset("brain-mri", "2024-06")),
        members=(Member("alice", ProjectRole.LEAD), Member("bob", ProjectRole.RESEARCHER),
                 Member("carol", ProjectRole.OBSERVER)),
        compute=Compute(), status=PermitStatus.ACTIVE,
    )
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    return inputs.data_access_input(user, "lung-screening", "lung-ct", "v1", now, permit)


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
    args = parser.parse_args(argv)
    if not (0 < args.iterations <= 200_000 and 0 < args.http_iterations <= 20_000):
        parser.error("keep --iterations <= 200000 and --http-iterations <= 20000")

    allowed, denied = access_input("alice"), access_input("carol")
    rows: list[Row] = []
    embedded = EmbeddedPolicyEngine()
    assert embedded.decide(DECISION, allowed).allow
    assert not embedded.decide(DECISION, denied).allow
    rows.append(measure("embedded (regorus)", "decide(), allowed input",
                        lambda: embedded.decide(DECISION, allowed), args.iterations, args.warmup))
    rows.append(measure("embedded (regorus)", "decide(), denied input (all reasons)",
                        lambda: embedded.decide(DECISION, denied), args.iterations, args.warmup))

    opa_version = "not run"
    try:
        binary = find_opa_binary()
    except PolicyEngineUnavailable as exc:
        print(f"skipping the OPA server rows: {exc}", file=sys.stderr)
    else:
        opa_version = _opa_version(binary)
        with OpaServer(binary=binary) as server:
            sync = OpaServerPolicyEngine(server.url, timeout_s=5.0)
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
        "opa_version": opa_version, "rows": [asdict(row) for row in rows],
    }, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
