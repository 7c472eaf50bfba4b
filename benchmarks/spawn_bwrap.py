"""Cost of the bubblewrap sandbox: start-up of `python -c pass`, and dataset read throughput.

Usage (as root): .venv/bin/python benchmarks/spawn_bwrap.py [--runs N] [--dataset-mib M]

Rows: `python3 -c pass` started directly vs in a full sandbox (cgroups created and removed,
private mount namespace, setpriv, bwrap); reading a dataset of M MiB (64 files) through the
sandbox's read-only bind mount vs the same files read directly by the same interpreter (page
cache warm for both; the ratio is the mount's overhead, goal >= 0.95). Prints a markdown table
and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tre.workspaces.bwrap import BwrapBackend
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.layout import prepare_folders
from tre.workspaces.spec import GIB, Limits, Mount, NetworkMode, WorkspaceSpec

PYTHON = "/usr/bin/python3"
UID = 299_999
READER = """
import os, sys, time
root = sys.argv[1]
started, total = time.perf_counter(), 0
for name in sorted(os.listdir(root)):
    with open(os.path.join(root, name), 'rb', buffering=0) as f:
        while chunk := f.read(1 << 20):
            total += len(chunk)
print(total / (time.perf_counter() - started))
"""


def make_dataset(folder: Path, mib: int) -> None:
    folder.mkdir(parents=True)
    per_file = max(1, mib // 64) * 1024 * 1024
    block = os.urandom(1024 * 1024)
    for i in range(64):
        with (folder / f"slice-{i:03}.bin").open("wb") as f:
            for _ in range(per_file // len(block)):
                f.write(block)
        (folder / f"slice-{i:03}.bin").chmod(0o444)
    folder.chmod(0o555)


def spec_for(dataset: Path, root: Path) -> WorkspaceSpec:
    return WorkspaceSpec(
        name="bench-bwrap", project="bench", user="bench", uid=UID, gid=UID,
        mounts=(Mount(dataset, "/data/bench", True),
                Mount(root / "bench" / "workspace", "/workspace", False),
                Mount(root / "bench" / "outputs" / "bench", "/outputs", False)),
        limits=Limits(cpus=2, memory_bytes=4 * GIB, pids=256, gpus=0, tmp_bytes=GIB),
        env=(("HOME", "/workspace"), ("LANG", "C.UTF-8"), ("PATH", "/usr/bin:/bin")),
        workdir="/workspace", network=NetworkMode.NONE)


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--dataset-mib", type=int, default=512)
    parser.add_argument("--read-rounds", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sandboxes start as root and drop to the project uid")

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        dataset = base / "datasets" / "bench" / "v1"
        make_dataset(dataset, args.dataset_mib)
        settings = WorkspaceSettings(root=base / "workspaces")
        prepare_folders(settings.root, "bench", "bench", UID, UID)
        backend = BwrapBackend(settings)
        spec = spec_for(dataset, settings.root)
        out = base / "out.txt"

        def direct(cmd: list[str]) -> None:
            with out.open("wb") as f:
                subprocess.run(cmd, stdout=f, check=True)

        def sandboxed(cmd: list[str]) -> None:
            with out.open("wb") as f:
                result = backend.run(spec, cmd, stdout=f)
            if result.exit_code != 0:
                raise SystemExit(f"sandboxed {cmd} exited {result.exit_code}")

        for _ in range(3):  # warm-up: page cache, bwrap and python binaries
            direct([PYTHON, "-c", "pass"])
            sandboxed([PYTHON, "-c", "pass"])
        plain = [timed(lambda: direct([PYTHON, "-c", "pass"])) for _ in range(args.runs)]
        boxed = [timed(lambda: sandboxed([PYTHON, "-c", "pass"])) for _ in range(args.runs)]

        direct_rates, boxed_rates = [], []
        for _ in range(args.read_rounds):
            direct([PYTHON, "-c", READER, str(dataset)])
            direct_rates.append(float(out.read_text()))
            sandboxed([PYTHON, "-c", READER, "/data/bench"])
            boxed_rates.append(float(out.read_text()))

    start_direct, start_boxed = statistics.median(plain), statistics.median(boxed)
    read_direct, read_boxed = statistics.median(direct_rates), statistics.median(boxed_rates)
    result = {
        "benchmark": "spawn_bwrap", "time": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "kernel": platform.release(),
                    "cpus": os.cpu_count()},
        "runs": args.runs, "dataset_mib": args.dataset_mib, "read_rounds": args.read_rounds,
        "start_p50_s": {"direct": start_direct, "sandbox": start_boxed},
        "start_p90_s": {"direct": statistics.quantiles(plain, n=10)[-1],
                        "sandbox": statistics.quantiles(boxed, n=10)[-1]},
        "read_mib_s_p50": {"direct": read_direct / 2**20, "sandbox": read_boxed / 2**20},
        "read_ratio": read_boxed / read_direct,
    }
    print("| measure | direct | sandbox | sandbox / direct |")
    print("|---|---|---|---|")
    print(f"| `python3 -c pass` start, p50 (ms) | {start_direct * 1e3:.1f} | "
          f"{start_boxed * 1e3:.1f} | {start_boxed / start_direct:.2f} |")
    print(f"| dataset read, p50 (MiB/s, {args.dataset_mib} MiB) | {read_direct / 2**20:.0f} | "
          f"{read_boxed / 2**20:.0f} | {result['read_ratio']:.3f} |")
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (folder / f"spawn_bwrap-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
