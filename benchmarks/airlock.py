"""Airlock check throughput on one core, decision time of a typical submission, tables vs acro.

Run: ``.venv/bin/python benchmarks/airlock.py``. Prints a markdown table and writes
benchmarks/results/airlock.json.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image

from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext, IdentifierSet, TableRules
from tre.airlock.checks.sniff import Content
from tre.airlock.checks.tables import count_columns, flagged_cells, read_table

RESULTS = Path(__file__).resolve().parent / "results" / "airlock.json"


def _csv(rows: int, rng: np.random.Generator) -> bytes:
    table = pd.DataFrame({"site": rng.choice(["A", "B", "C", "D"], rows),
                          "stage": rng.choice(["I", "II", "III", "IV"], rows),
                          "n": rng.integers(10, 500, rows),
                          "mean_volume_ml": rng.normal(12, 3, rows).round(2)})
    return table.to_csv(index=False).encode()


def _png(rng: np.random.Generator) -> bytes:
    pixels = rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _submission(total: int, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """A third CSV, a third PNG figures, a third unknown binary (blocked, read once)."""
    files: list[tuple[str, bytes]] = []
    third = total // 3
    files.append(("tables.csv", _csv(max(1, third // 32), rng)))
    size = 0
    index = 0
    while size < third:
        png = _png(rng)
        files.append((f"fig{index}.png", png))
        size += len(png)
        index += 1
    files.append(("blob.bin", os.urandom(third)))
    return files


def _throughput(files: list[tuple[str, bytes]], ctx: CheckContext) -> tuple[float, float]:
    total = sum(len(d) for _, d in files)
    start = time.perf_counter()
    for name, data in files:
        inspect(name, data, ctx)
    elapsed = time.perf_counter() - start
    return total / elapsed / 1e6, elapsed


def _acro_cells(micro: pd.DataFrame) -> tuple[set[tuple[int, int]], float]:
    from acro import ACRO

    logging.getLogger("acro").setLevel(logging.ERROR)
    start = time.perf_counter()
    session = ACRO(suppress=False)
    session.crosstab(micro.site, micro.stage)
    result = list(session.results.results.values())[-1]
    elapsed = time.perf_counter() - start
    return {tuple(c) for c in result.sdc["cells"]["MinimumThresholdCheck"]}, elapsed


def _ours(micro: pd.DataFrame) -> tuple[set[tuple[int, int]], float]:
    table = pd.crosstab(micro.site, micro.stage)
    data = table.to_csv().encode()
    start = time.perf_counter()
    parsed = read_table(Content.CSV, data)
    columns = count_columns(parsed)
    small, _ = flagged_cells(parsed, columns, TableRules())
    elapsed = time.perf_counter() - start
    return {(row, columns.index(col)) for row, col in small}, elapsed


def main() -> None:
    """Measure and report."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)  # pyarrow sizes its thread pools by the machine, not the affinity
    pa.set_io_thread_count(1)
    rng = np.random.default_rng(0)
    ctx = CheckContext(identifiers=IdentifierSet(frozenset({b"P-ABCDEFGHIJKL"}),
                                                 frozenset({b"2.25.1234567"})))
    big = _submission(300 * 1024 * 1024, rng)
    throughput, _ = _throughput(big, ctx)
    typical = _submission(50 * 1024 * 1024, rng)
    _, decided = _throughput(typical, ctx)
    micro = pd.DataFrame({"site": rng.choice(list("ABCDEFGH"), 5000, p=[.3, .3, .2, .1, .05,
                                                                         .03, .015, .005]),
                          "stage": rng.choice(["I", "II", "III", "IV"], 5000)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # acro's own deprecation warnings
        acro_cells, acro_s = _acro_cells(micro)
    our_cells, our_s = _ours(micro)
    result = {
        "throughput_mb_s": round(throughput, 1), "goal_mb_s": 200,
        "typical_50mb_seconds": round(decided, 3), "goal_seconds": 2,
        "acro_seconds": round(acro_s, 4), "tre_seconds": round(our_s, 4),
        "acro_small_cells": sorted(acro_cells), "tre_small_cells": sorted(our_cells),
        "same_findings": acro_cells == our_cells,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value | goal |\n|---|---|---|")
    print(f"| check throughput, mixed CSV/PNG/binary, one core | {throughput:.0f} MB/s | >= 200 |")
    print(f"| typical 50 MB submission decided | {decided:.2f} s | <= 2 s |")
    print(f"| small-cell check, 8x4 crosstab: acro / tre | {acro_s * 1000:.1f} ms / "
          f"{our_s * 1000:.1f} ms | |")
    print(f"| same cells flagged as acro | {acro_cells == our_cells} "
          f"({len(our_cells)} cells) | True |")


if __name__ == "__main__":
    main()
