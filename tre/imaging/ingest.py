"""Ingest DICOM (+ a clinical CSV) into a new immutable, de-identified dataset version, audited.

Steps: find inputs (folders, .zip, streamed one file at a time); de-identify each in a process
pool (the result does not depend on scheduling: outcomes come back in source order and output
names derive from remapped UIDs); each worker also hashes what it writes and summarises it for
the quality report, so this process only places files and merges; drop nothing silently
(quarantined, unreadable, skipped and duplicate inputs are all reported); stage, publish with
one rename; register and audit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db.datasets import Dataset
from tre.domain.values import check_slug
from tre.errors import InvalidInput
from tre.imaging import layout, quality, versions
from tre.imaging.deid import profile
from tre.imaging.deid.clinical import ClinicalResult, pseudonymise_csv
from tre.imaging.deid.profile import Option
from tre.imaging.deid.sources import Skipped, Source, discover
from tre.imaging.deid.worker import (
    PUBLISHED,
    QUARANTINED,
    UNREADABLE,
    FileDeidentifier,
    FileOutcome,
    pool_init,
    pool_ready,
    pool_run,
)
from tre.imaging.pseudonyms import PseudonymKey
from tre.services import catalogue
from tre.services.node import Node

Progress = Callable[[int, int], None]
"""Called with (files done, files in total)."""

QUARANTINE_DIR = ".quarantine"
HOLDER_REPORTS_DIR = ".ingest"


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What to ingest and how."""

    source: Path
    dataset: str
    key: PseudonymKey
    clinical: Path | None = None
    jobs: int = 1
    allow_pixel_risk: bool = False
    title: str = ""
    data_holder: str = ""
    synthetic: bool | None = None
    options: tuple[Option, ...] = profile.DEFAULT_OPTIONS
    raw_path: bool = True
    """De-identify on the file's bytes where possible (rawpath.py); False: pydicom only."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest did."""

    dataset: str
    version: str
    path: Path
    already_published: bool
    counts: dict[str, int]
    holder_report: Path
    quarantine: Path | None
    problems: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary (what the CLI prints with --json)."""
        return {"dataset": self.dataset, "version": self.version, "path": str(self.path),
                "already_published": self.already_published, "counts": self.counts,
                "holder_report": str(self.holder_report),
                "quarantine": str(self.quarantine) if self.quarantine else None,
                "problems": self.problems}


def ingest(node: Node, home: Path, actor: str, request: IngestRequest,
           progress: Progress | None = None) -> IngestResult:
    """De-identify ``request.source`` into a new published version of ``request.dataset``."""
    check_slug("dataset", request.dataset)
    if not request.source.exists():
        raise InvalidInput(f"{request.source} does not exist: give a folder or .zip of DICOM")
    if request.clinical is not None and not request.clinical.is_file():
        raise InvalidInput(f"clinical CSV {request.clinical} does not exist: give the CSV file")
    if request.jobs < 1:
        raise InvalidInput(f"--jobs must be at least 1, got {request.jobs}")
    sources, skipped = discover(request.source)
    if request.clinical is not None:
        clinical = str(request.clinical)
        sources = [s for s in sources if not (s.path == clinical and not s.member)]
    staging = versions.new_staging(home)
    try:
        return _ingest(node, home, actor, request, sources, skipped, staging, progress)
    finally:
        versions.discard(staging)


def _ingest(node: Node, home: Path, actor: str, request: IngestRequest, sources: list[Source],
            skipped: list[Skipped], staging: Path, progress: Progress | None) -> IngestResult:
    work, version_dir, quarantine_dir = (staging / "work", staging / "version",
                                         staging / "quarantine")
    for folder in (work, version_dir, quarantine_dir):
        folder.mkdir()
    summaries = quality.Summaries()
    outcomes, placed, duplicates = _place(_deidentify_all(request, sources, work, progress),
                                          version_dir, quarantine_dir, summaries)
    published = [o for o in placed if o.status == PUBLISHED]
    quarantined = [o for o in placed if o.status == QUARANTINED]
    unreadable = [o for o in outcomes if o.status == UNREADABLE]
    clinical = None
    if request.clinical is not None:
        clinical = pseudonymise_csv(request.clinical, request.key,
                                    {o.pseudonym for o in placed})
        (version_dir / layout.CLINICAL_CSV).write_text(clinical.text, encoding="utf-8")
    counts = {"inputs": len(sources) + len(skipped), "published": len(published),
              "quarantined": len(quarantined), "unreadable": len(unreadable),
              "skipped": len(skipped), "duplicates": len(duplicates),
              "patients": len({o.pseudonym for o in published}),
              "clinical_rows": clinical.rows if clinical else 0}
    refs = _SourceRefs(request.key)
    report = _version_report(request, counts, published, quarantined, unreadable, skipped,
                             duplicates, clinical, refs)
    (version_dir / layout.INGEST_REPORT).write_text(
        json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    quality_note = _quality(version_dir, summaries)
    synthetic = request.synthetic if request.synthetic is not None else _is_synthetic(
        request.source)
    known = {o.relpath: (o.sha256, o.size) for o in published}
    manifest = layout.Manifest(
        dataset=request.dataset, created_at=node.clock().isoformat(), synthetic=synthetic,
        files=versions.manifest_files(version_dir, known),
        source={"tool": "tre", "profile": profile.EDITION,
                "options": [profile.OPTION_MEANINGS[o] for o in request.options],
                "key_fingerprint": request.key.fingerprint(), "counts": counts})
    result = versions.publish(version_dir, home, manifest)
    dataset_dir = layout.datasets_root(home) / request.dataset
    quarantine_final = None
    if quarantined:
        quarantine_final = dataset_dir / QUARANTINE_DIR / result.version
        if quarantine_final.exists():
            versions.discard(quarantine_final)
        quarantine_final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(quarantine_dir, quarantine_final)
    holder = _write_holder_report(dataset_dir, result.version, outcomes, skipped, duplicates,
                                  clinical, refs, quality_note)
    _record(node, actor, request, result, synthetic, counts)
    problems = ([{"source": o.source, "status": o.status, "reason": "; ".join(o.reasons)}
                 for o in quarantined + unreadable]
                + [{"source": s.name, "status": "skipped", "reason": s.reason} for s in skipped]
                + [{"source": o.source, "status": "duplicate", "reason": reason}
                   for o, reason in duplicates])
    return IngestResult(request.dataset, result.version, result.path, result.already_published,
                        counts, holder, quarantine_final, problems)


def _deidentify_all(request: IngestRequest, sources: list[Source], work: Path,
                    progress: Progress | None) -> Iterator[FileOutcome]:
    """Outcomes in source order. With jobs > 1 this process works too, beside jobs - 1 spawned
    workers: it needs no start-up (the spawned ones import pydicom first), and chunks are
    handed out as workers free up, so results never depend on scheduling."""
    total = len(sources)
    if progress:
        progress(0, total)
    jobs = min(request.jobs, max(1, total))
    worker = FileDeidentifier(request.key, request.options, work, request.allow_pixel_risk,
                              raw_path=request.raw_path, summarise=True)
    try:
        if jobs == 1:
            for index, source in enumerate(sources):
                yield worker.run(index, source)
                if progress:
                    progress(index + 1, total)
            return
        yield from _pooled(request, sources, work, jobs, worker, progress)
    finally:
        worker.close()


def _pooled(request: IngestRequest, sources: list[Source], work: Path, jobs: int,
            worker: FileDeidentifier, progress: Progress | None) -> Iterator[FileOutcome]:
    """This process takes chunks from the front; a spawned worker gets chunks (two at most
    in flight each) only once it has started, so nothing waits on a worker still importing."""
    total = len(sources)
    size = max(1, min(CHUNK_FILES, total // (jobs * 8)))
    indexed = list(enumerate(sources))
    chunks = deque((n, indexed[start:start + size])
                   for n, start in enumerate(range(0, total, size)))
    done: dict[int, list[FileOutcome]] = {}
    next_chunk = finished = ready = 0
    pool = ProcessPoolExecutor(max_workers=jobs - 1,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=pool_init,
                               initargs=(request.key.secret, request.options, str(work),
                                         request.allow_pixel_risk, request.raw_path, True))
    drained = False
    try:
        probes = {pool.submit(pool_ready) for _ in range(jobs - 1)}
        running: dict[Future[list[FileOutcome]], int] = {}
        while chunks or running:
            for probe in [p for p in probes if p.done()]:
                probes.discard(probe)
                probe.result()
                ready += 1
            while chunks and len(running) < 2 * ready:
                number, items = chunks.pop()  # from the end: this process takes the front
                running[pool.submit(pool_run, items)] = number
            if chunks:
                number, items = chunks.popleft()
                done[number] = [worker.run(index, source) for index, source in items]
            else:
                wait(running, return_when=FIRST_COMPLETED)
            for future in [f for f in running if f.done()]:
                done[running.pop(future)] = future.result()
            while next_chunk in done:
                for outcome in done.pop(next_chunk):
                    finished += 1
                    yield outcome
                    if progress:
                        progress(finished, total)
                next_chunk += 1
        drained = True
    finally:
        # Once every result is in, the workers are idle: let them exit in the background
        # rather than wait on it (nothing of theirs is needed any more). On an error or an
        # interrupt, wait for them, so nothing still writes when staging is removed.
        pool.shutdown(wait=not drained, cancel_futures=True)


CHUNK_FILES = 8
"""Files per task sent to a pool worker (one round trip each; small, so the tail is short)."""


def _place(outcomes: Iterable[FileOutcome], version_dir: Path, quarantine_dir: Path,
           summaries: quality.Summaries) -> tuple[
               list[FileOutcome], list[FileOutcome], list[tuple[FileOutcome, str]]]:
    """Move written files to their names; the first of a SOP Instance UID (source order) wins.
    Published files' quality summaries go to ``summaries`` as they come (the outcomes returned
    keep none: memory stays flat)."""
    every: list[FileOutcome] = []
    placed: dict[str, FileOutcome] = {}
    duplicates: list[tuple[FileOutcome, str]] = []
    folders: set[Path] = set()
    for with_summary in outcomes:
        outcome = replace(with_summary, quality=None)
        every.append(outcome)
        if outcome.status == UNREADABLE:
            continue
        first = placed.get(outcome.relpath)
        if first is not None:
            same = first.sha256 == outcome.sha256
            duplicates.append((outcome, "same SOP Instance UID as an earlier input, identical "
                               "content: one copy kept" if same else
                               "same SOP Instance UID as an earlier input but different "
                               "content: not published (check which copy is right)"))
            Path(outcome.written).unlink()
            continue
        placed[outcome.relpath] = outcome
        root = version_dir if outcome.status == PUBLISHED else quarantine_dir
        target = root / outcome.relpath
        if target.parent not in folders:  # a series' files share one
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        os.rename(outcome.written, target)
        if outcome.status == PUBLISHED:
            if with_summary.quality is not None:
                summaries.add(with_summary.quality)
            else:
                summaries.add_later(outcome.relpath)
    return every, list(placed.values()), duplicates


class _SourceRefs:
    """Keyed references to inputs: the version names no source path (paths may name people)."""

    def __init__(self, key: PseudonymKey) -> None:
        self.key = key

    def __call__(self, name: str) -> str:
        return "S-" + self.key.digest("source", name).hex()[:16]


def _version_report(request: IngestRequest, counts: dict[str, int],
                    published: list[FileOutcome], quarantined: list[FileOutcome],
                    unreadable: list[FileOutcome], skipped: list[Skipped],
                    duplicates: list[tuple[FileOutcome, str]], clinical: ClinicalResult | None,
                    ref: Callable[[str], str]) -> dict[str, Any]:
    """ingest-report.json: deterministic (no times, no paths, no values) so ids are stable."""
    removed: Counter[str] = Counter()
    for outcome in published:
        removed.update(outcome.removed_unlisted)
    return {
        "profile": profile.EDITION,
        "options": [profile.OPTION_MEANINGS[o] for o in request.options],
        "pixel_risk_accepted": request.allow_pixel_risk,
        "counts": counts,
        "removed": {"by_profile": sum(o.removed_by_profile for o in published),
                    "private": sum(o.removed_private for o in published),
                    "not_in_profile_or_keep_list": dict(sorted(removed.items()))},
        "quarantined": [{"source_ref": ref(o.source), "reasons": list(o.reasons)}
                        for o in quarantined],
        "unreadable": [{"source_ref": ref(o.source), "reasons": list(o.reasons)}
                       for o in unreadable],
        "skipped": [{"source_ref": ref(s.name), "reason": s.reason} for s in skipped],
        "duplicates": [{"source_ref": ref(o.source), "reason": r} for o, r in duplicates],
        "clinical": None if clinical is None else {
            "rows": clinical.rows, "dropped_columns": clinical.dropped_columns,
            "shifted_date_columns": clinical.shifted_columns,
            "rows_without_images": len(clinical.unknown_patient_rows),
            "duplicate_rows_left_out": len(clinical.duplicate_rows)},
    }


def _write_holder_report(dataset_dir: Path, version: str, outcomes: list[FileOutcome],
                         skipped: list[Skipped], duplicates: list[tuple[FileOutcome, str]],
                         clinical: ClinicalResult | None, ref: Callable[[str], str],
                         quality_note: str) -> Path:
    """The data holder's report (source paths, findings): beside, never inside, the version."""
    folder = dataset_dir / HOLDER_REPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{version}.json"
    doc = {
        "version": version,
        "files": [{"source": o.source, "source_ref": ref(o.source), "status": o.status,
                   "reasons": list(o.reasons), "findings": list(o.findings),
                   "output": o.relpath} for o in outcomes],
        "skipped": [{"source": s.name, "source_ref": ref(s.name), "reason": s.reason}
                    for s in skipped],
        "duplicates": [{"source": o.source, "reason": r} for o, r in duplicates],
        "clinical": None if clinical is None else {
            "rows_without_images": clinical.unknown_patient_rows,
            "duplicate_rows_left_out": clinical.duplicate_rows,
            "dropped_columns": clinical.dropped_columns},
        "quality": quality_note,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def _quality(version_dir: Path, summaries: quality.Summaries) -> str:
    """Write quality.json/.html into the staged version (so the manifest covers them)."""
    try:
        quality.write_report(version_dir, summaries)
    except Exception as exc:
        for name in (layout.QUALITY_JSON, layout.QUALITY_HTML):
            (version_dir / name).unlink(missing_ok=True)
        return f"quality report failed: {type(exc).__name__}: {exc}"
    return "written"


def _is_synthetic(source: Path) -> bool:
    marker = source / "synthetic.json" if source.is_dir() else None
    if marker is None or not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("synthetic"))
    except (OSError, ValueError, AttributeError):
        return False


def _record(node: Node, actor: str, request: IngestRequest, result: versions.Published,
            synthetic: bool, counts: dict[str, int]) -> None:
    with node.db.transaction() as session:
        registered = any(v.version == result.version
                         for v in dataset_store.versions(session, request.dataset))
    if not registered:
        catalogue.register_version(
            node, actor, Dataset(request.dataset, request.title or request.dataset, "",
                                 request.data_holder, synthetic, node.clock()),
            result.version, str(result.path))
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=actor, action="dataset.ingest",
                     object_type="dataset", object_id=f"{request.dataset}@{result.version}",
                     outcome="allowed", request_id=audit.new_request_id(),
                     details={"counts": counts, "already_published": result.already_published,
                              "key_fingerprint": request.key.fingerprint(),
                              "path": str(result.path)})


def verify(node: Node, home: Path, actor: str, dataset: str,
           version: str | None = None) -> versions.Verification:
    """Re-hash a published version (the newest if none is named); audited as dataset.verify."""
    with node.db.transaction() as session:
        dataset_store.get(session, dataset)
        published = dataset_store.versions(session, dataset)
    chosen = next((v for v in published if version is None or v.version == version), None)
    if chosen is None:
        raise InvalidInput(f"dataset {dataset!r} has no version {version!r}: "
                           f"`tre datasets show {dataset}` lists its versions")
    result = versions.verify(Path(chosen.path))
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=actor, action="dataset.verify",
                     object_type="dataset", object_id=f"{dataset}@{chosen.version}",
                     outcome="allowed" if result.intact else "failed",
                     request_id=audit.new_request_id(),
                     details={"intact": result.intact, "changed": len(result.changed),
                              "missing": len(result.missing), "extra": len(result.extra)})
    return result

