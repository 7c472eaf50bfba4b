"""Benchmark: tre's de-identification vs deid, dicognito, dicom-anonymizer and read+write.

    .venv/bin/python benchmarks/deid.py [--slices 2048] [--size 512] [--peer-files N]
                                        [--repeat R] [--scaling-only]

One synthetic CT corpus (tre.imaging.synth), single process, same run. Prints a markdown table
and writes JSON to benchmarks/results/deid-<time>.json. Scaling: the de-identification stage
and a whole `ingest` with 1 and 2 processes, alternated R times (the median of each is
reported; on a shared machine compare only figures from one run).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("MESSAGELEVEL", "-1")  # deid's logger: quiet
# This file is named deid.py: keep its folder off sys.path so `import deid` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import pydicom  # noqa: E402

from tre.imaging.deid.profile import DEFAULT_OPTIONS  # noqa: E402
from tre.imaging.deid.sources import Source, discover  # noqa: E402
from tre.imaging.deid.worker import FileDeidentifier  # noqa: E402
from tre.imaging.ingest import IngestRequest, _deidentify_all, ingest  # noqa: E402
from tre.imaging.pseudonyms import PseudonymKey  # noqa: E402
from tre.services.bootstrap import initialise, open_node  # noqa: E402
from tre.settings import Settings, default_policies_dir  # noqa: E402

KEY = PseudonymKey(b"benchmark-key-benchmark-key-0123")


def corpus(out: Path, slices: int, size: int) -> list[Path]:
    """The synthetic CT corpus (tre.imaging.synth), as a sorted file list."""
    from tre.imaging import synth

    per_series = 128
    patients = max(1, -(-slices // per_series))
    synth.generate(out, patients=patients, studies=1, series=1,
                   slices=min(slices, per_series), size=size, seed=0)
    return sorted((out / "dicom").rglob("*.dcm"))


def timed(name: str, files: list[Path], out: Path, run: Callable[[Path, Path], None]) -> float:
    """Files per second of ``run(src, out_file)`` over ``files``."""
    target = out / name
    target.mkdir(parents=True)
    start = time.perf_counter()
    for index, path in enumerate(files):
        run(path, target / f"{index:06d}.dcm")
    return len(files) / (time.perf_counter() - start)


def read_write(src: Path, dst: Path) -> None:
    ds = pydicom.dcmread(src)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    dst.write_bytes(buffer.getbuffer())


FALLBACKS: Counter[str] = Counter()


def tre_runner(work: Path, raw_path: bool = True) -> Callable[[Path, Path], None]:
    """tre's per-file worker; raw_path=False forces the pydicom path (the old engine)."""
    worker = FileDeidentifier(KEY, DEFAULT_OPTIONS, work, raw_path=raw_path)
    if raw_path:
        FALLBACKS.clear()
        worker.fallbacks = FALLBACKS
    counter = iter(range(10**9))

    def run(src: Path, dst: Path) -> None:
        outcome = worker.run(next(counter), Source(str(src)))
        assert outcome.status == "published", outcome
        os.replace(outcome.written, dst)

    return run


def dicognito_runner() -> Callable[[Path, Path], None]:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()

    def run(src: Path, dst: Path) -> None:
        ds = pydicom.dcmread(src)
        anonymizer.anonymize(ds)
        ds.save_as(dst)

    return run


def dicom_anonymizer_runner() -> Callable[[Path, Path], None]:
    from dicomanonymizer import anonymize_dicom_file

    def run(src: Path, dst: Path) -> None:
        anonymize_dicom_file(str(src), str(dst))

    return run


def deid_runner() -> Callable[[Path, Path], None]:
    from deid.dicom import replace_identifiers

    def run(src: Path, dst: Path) -> None:
        [parsed] = replace_identifiers(dicom_files=[str(src)], save=False)
        parsed.save_as(dst)

    return run


def scaling(src: Path, home: Path, repeat: int = 1) -> tuple[dict[str, float],
                                                              dict[str, list[float]]]:
    """Files per second with 1 and 2 processes (median of ``repeat`` alternated runs, and every
    run): the de-identification stage of ingest (pool, write, hash, quality summaries) and the
    whole ingest (plus quality report, manifest, publish, audit); and the CPU seconds of this
    (the main) process per whole ingest, which bound the scaling on a shared machine."""
    samples: dict[str, list[float]] = {}
    sources, _ = discover(src)
    for _ in range(repeat):
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory(prefix="tre-stage-") as work:
                start = time.perf_counter()
                outcomes = list(_deidentify_all(IngestRequest(src, "stage", KEY, jobs=jobs),
                                                sources, Path(work), None))
                samples.setdefault(f"deid_stage_jobs_{jobs}", []).append(
                    len(outcomes) / (time.perf_counter() - start))
    try:  # the whole ingest needs the database of this checkout to be usable
        settings = Settings(home=home, policies_dir=default_policies_dir())
        initialise(settings).dispose()
        node = open_node(settings)
    except Exception as exc:
        print(f"whole ingest not timed: {type(exc).__name__}: {exc}")
        node = None
    if node is not None:
        try:
            for run in range(repeat):
                for jobs in (1, 2):
                    start, cpu = time.perf_counter(), time.process_time()
                    done = ingest(node, home, "host:bench",
                                  IngestRequest(src, f"bench-{jobs}-{run}", KEY, jobs=jobs))
                    samples.setdefault(f"ingest_jobs_{jobs}", []).append(
                        done.counts["published"] / (time.perf_counter() - start))
                    samples.setdefault(f"ingest_main_cpu_s_jobs_{jobs}", []).append(
                        time.process_time() - cpu)
        finally:
            node.close()
    result = {name: statistics.median(values) for name, values in samples.items()}
    result["deid_stage_efficiency_2"] = result["deid_stage_jobs_2"] / (
        2 * result["deid_stage_jobs_1"])
    if "ingest_jobs_1" in result:
        result["scaling_efficiency_2"] = result["ingest_jobs_2"] / (
            2 * result["ingest_jobs_1"])
    return result, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=2048)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--peer-files", type=int, default=0,
                        help="Time the slow peers on the first N files only (0: all).")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Alternate the 1- and 2-process runs R times (median reported).")
    parser.add_argument("--scaling-only", action="store_true",
                        help="Time only the 1- and 2-process scaling (no peers, no limit).")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tre-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files = corpus(root / "corpus", args.slices, args.size)
        generated = time.perf_counter() - started
        peers = files[: args.peer_files] if args.peer_files else files
        rates = {} if args.scaling_only else single_process(files, peers, root)
        scale, samples = scaling(root / "corpus" / "dicom", root / "home", args.repeat)
    doc: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "pydicom": pydicom.__version__},
        "corpus": {"files": len(files), "size": args.size, "peer_files": len(peers),
                   "generated_s": round(generated, 1)},
        "files_per_second": {k: round(v, 1) for k, v in rates.items()},
        "scaling": {k: round(v, 2) for k, v in scale.items()},
        "scaling_runs": {k: [round(v, 1) for v in values] for k, values in samples.items()},
    }
    print(f"corpus: {len(files)} CT slices {args.size}x{args.size} "
          f"(peers on {len(peers)}), {os.cpu_count()} cpus\n")
    if rates:
        doc.update(report_single_process(rates))
    print(f"de-identification stage: 1 process {scale['deid_stage_jobs_1']:.1f} files/s, 2 "
          f"processes {scale['deid_stage_jobs_2']:.1f} files/s, efficiency "
          f"{scale['deid_stage_efficiency_2']:.2f}")
    if "ingest_jobs_1" in scale:
        print(f"\nscaling: ingest 1 process {scale['ingest_jobs_1']:.1f} files/s, 2 processes "
              f"{scale['ingest_jobs_2']:.1f} files/s, efficiency "
              f"{scale['scaling_efficiency_2']:.2f}; main process CPU "
              f"{scale['ingest_main_cpu_s_jobs_1']:.2f} s and "
              f"{scale['ingest_main_cpu_s_jobs_2']:.2f} s")
    if args.repeat > 1:
        print(f"runs (files/s): {doc['scaling_runs']}")
    out = Path(__file__).parent / "results" / (
        "deid-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json")
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {out}")


def single_process(files: list[Path], peers: list[Path], root: Path) -> dict[str, float]:
    """Files per second of each tool, one process, one after the other."""
    (root / "work").mkdir()
    rates = {
        "pydicom read+write (limit)": timed("limit", files, root, read_write),
        "tre": timed("tre", files, root, tre_runner(root / "work")),
        "tre, pydicom path only": timed("tre-pydicom", files, root,
                                        tre_runner(root / "work", raw_path=False)),
        "dicognito": timed("dicognito", peers, root, dicognito_runner()),
        "dicom-anonymizer": timed("dicom-anonymizer", peers, root, dicom_anonymizer_runner()),
        "deid (default recipe)": timed("deid", peers, root, deid_runner()),
    }
    for name in ("limit", "tre", "tre-pydicom", "dicognito", "dicom-anonymizer", "deid"):
        shutil.rmtree(root / name)
    return rates


def report_single_process(rates: dict[str, float]) -> dict[str, object]:
    """Print the single-process table; the ratios and fallbacks for the JSON."""
    tre_rate = rates["tre"]
    fastest_peer = max(rates["dicognito"], rates["dicom-anonymizer"],
                       rates["deid (default recipe)"])
    print("| tool | files/s | tre is |\n|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {tre_rate / rate:.2f}x |")
    print(f"\ntre files sent to the pydicom path: {sum(FALLBACKS.values())} {dict(FALLBACKS)}")
    return {
        "ratios": {"vs_deid": round(tre_rate / rates["deid (default recipe)"], 2),
                   "vs_fastest_peer": round(tre_rate / fastest_peer, 2),
                   "vs_read_write_limit": round(tre_rate / rates["pydicom read+write (limit)"],
                                                2)},
        "tre_pydicom_path_files": dict(FALLBACKS),
    }


if __name__ == "__main__":
    main()
