"""De-identify one input file: read, check, clean, write; runs in a pool process or inline."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from tre.imaging.deid.engine import Deidentifier, FileDeidentification, new_file_meta
from tre.imaging.deid.pixels import pixel_risks
from tre.imaging.deid.profile import Option
from tre.imaging.deid.rawpath import (
    RawDeidentifier,
    Unsupported,
    read_source_bytes,
    written_view,
)
from tre.imaging.deid.sources import Source, SourceReader
from tre.imaging.pseudonyms import PseudonymKey
from tre.imaging.quality_instances import FileSummary, summarise_bytes, summarise_plain

PUBLISHED, QUARANTINED, UNREADABLE = "published", "quarantined", "unreadable"
DEFER_BYTES = 64 * 1024
"""Values larger than this are read from the file only when written (files, not zip members)."""


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one input; ``relpath`` names the output under the version/quarantine."""

    source: str
    status: str
    reasons: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    relpath: str = ""
    written: str = ""
    sha256: str = ""
    size: int = 0
    pseudonym: str = ""
    removed_by_profile: int = 0
    removed_private: int = 0
    removed_unlisted: dict[str, int] = field(default_factory=dict)
    quality: FileSummary | None = None
    """The quality report's summary of a published file (taken from the bytes written)."""


class FileDeidentifier:
    """Everything one process needs to de-identify files into ``work_dir``."""

    def __init__(self, key: PseudonymKey, options: Iterable[Option], work_dir: Path,
                 allow_pixel_risk: bool = False, raw_path: bool = True,
                 summarise: bool = False) -> None:
        self.engine = Deidentifier(key, options)
        self.summarise = summarise
        """Summarise published files for the quality report while their bytes are in hand."""
        self.raw = RawDeidentifier(self.engine) if raw_path else None
        self.work_dir = work_dir
        self.allow_pixel_risk = allow_pixel_risk
        self.reader = SourceReader()
        self.fallbacks: Counter[str] = Counter()
        """Why files went to the pydicom path (reasons name no value), for benchmarks."""

    def run(self, index: int, source: Source) -> FileOutcome:
        """De-identify ``source`` into ``work_dir/<index>.dcm``; never raises for bad input."""
        if self.raw is not None:
            fast = self._run_raw(index, source)
            if fast is not None:
                return fast
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome = self._run(index, source)
            except Exception as exc:
                outcome = FileOutcome(source.name, UNREADABLE,
                                      (f"cannot read or de-identify: {type(exc).__name__}: "
                                       f"{_redact(exc)}",))
        return _with_warnings(outcome, caught)

    def _run_raw(self, index: int, source: Source) -> FileOutcome | None:
        """The bytes path (rawpath.py); None when the file needs the pydicom path."""
        assert self.raw is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = self.raw.deidentify(read_source_bytes(self.reader.open(source)))
            except Unsupported as exc:
                self.fallbacks[str(exc)] += 1
                return None
            except Exception as exc:  # anything unexpected: the pydicom path decides
                self.fallbacks[f"bytes path error: {type(exc).__name__}"] += 1
                return None
        done = result.done
        outcome = self._finish(index, source, b"".join(result.parts), done, result.risks,
                               list(done.findings), result.study_uid or "no-StudyInstanceUID",
                               result.series_uid or "no-SeriesInstanceUID",
                               result.sop_instance_uid)
        return _with_warnings(outcome, caught)

    def _finish(self, index: int, source: Source, data: bytes | memoryview,
                done: FileDeidentification, risks: list[str], findings: list[str], study: str,
                series: str, sop_instance: str) -> FileOutcome:
        """Write the de-identified bytes (hashed in the same pass over memory) and report."""
        written = self.work_dir / f"{index:08d}.dcm"
        with open(written, "wb") as handle:
            handle.write(data)
        status = QUARANTINED if risks and not self.allow_pixel_risk else PUBLISHED
        if risks and self.allow_pixel_risk:
            findings.append("pixel risk accepted by --allow-pixel-risk: " + "; ".join(risks))
        relpath = "/".join(("dicom", done.pseudonym, study, series, f"{sop_instance}.dcm"))
        return FileOutcome(
            source.name, status, tuple(risks) if status == QUARANTINED else (), tuple(findings),
            relpath, str(written), hashlib.sha256(data).hexdigest(), len(data), done.pseudonym,
            done.removed_by_profile, done.removed_private, dict(done.removed_unlisted),
            self._summary(data, relpath) if status == PUBLISHED else None)

    def _summary(self, data: bytes | memoryview, relpath: str) -> FileSummary | None:
        """From the written file's top-level elements where its pixels are plain (what
        ``dcmread`` would give, without parsing the rest), else from ``dcmread``."""
        if not self.summarise:
            return None
        try:
            view = written_view(bytes(data))
            summary = None if view is None else summarise_plain(view, relpath)
            return summary or summarise_bytes(data, relpath)
        except Exception:  # the report then reads the written file itself and says what failed
            return None

    def _run(self, index: int, source: Source) -> FileOutcome:
        opened = self.reader.open(source)
        ds, findings = _read(opened)
        if ds is None:
            return FileOutcome(source.name, UNREADABLE, tuple(findings))
        problem = _structural_problem(ds, _size(opened))
        if problem:
            return FileOutcome(source.name, UNREADABLE, (problem,), tuple(findings))
        transfer_syntax = _transfer_syntax(ds)
        risks = pixel_risks(ds)
        done = self.engine.deidentify(ds)
        findings.extend(done.findings)
        ds.file_meta = new_file_meta(ds, transfer_syntax)
        ds.preamble = b"\0" * 128  # the preamble may hold anything: write zeros
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return self._finish(index, source, buffer.getbuffer(), done, risks, findings,
                            _uid(ds, "StudyInstanceUID"), _uid(ds, "SeriesInstanceUID"),
                            str(ds.SOPInstanceUID))

    def close(self) -> None:
        """Release open archives."""
        self.reader.close()



_POOL_WORKER: FileDeidentifier | None = None
"""The one FileDeidentifier of a pool process (made once, with the key and compiled rules)."""


def pool_init(secret: bytes, options: tuple[Option, ...], work: str, allow: bool,
              raw_path: bool, summarise: bool) -> None:
    """Pool initializer (here, not in ingest.py: unpickling it imports only this module)."""
    global _POOL_WORKER
    _POOL_WORKER = FileDeidentifier(PseudonymKey(secret), options, Path(work), allow,
                                    raw_path=raw_path, summarise=summarise)


def pool_ready() -> bool:
    """Answers once the pool process has started and initialised."""
    return _POOL_WORKER is not None


def pool_run(items: list[tuple[int, Source]]) -> list[FileOutcome]:
    """De-identify a chunk of (index, source) in a pool process."""
    assert _POOL_WORKER is not None, "pool process not initialised"
    return [_POOL_WORKER.run(index, source) for index, source in items]

def _read(opened: str | BinaryIO) -> tuple[Dataset | None, list[str]]:
    findings: list[str] = []
    try:
        return dcmread(opened, defer_size=DEFER_BYTES), findings
    except InvalidDicomError:
        pass
    if not isinstance(opened, str):
        opened.seek(0)
    # No preamble / file meta: accept it only if it parses as an image-like dataset.
    try:
        ds = dcmread(opened, force=True, defer_size=DEFER_BYTES)
        ok = "SOPClassUID" in ds and "SOPInstanceUID" in ds
    except Exception:
        ok = False
    if not ok:
        return None, ["not a DICOM file (no DICM header and no readable dataset)"]
    findings.append("no DICOM file meta header: read as a bare dataset, a new header written")
    return ds, findings


def _size(opened: str | BinaryIO) -> int:
    if isinstance(opened, str):
        return os.path.getsize(opened)
    return len(opened.getbuffer()) if isinstance(opened, io.BytesIO) else 0


def _structural_problem(ds: Dataset, file_size: int) -> str:
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not str(ds.get(keyword, "")).strip():
            return f"no {keyword}: cannot name or classify the file (not a storable instance)"
    # A cut-off file can only have cut its last element short (or fail to parse at all).
    last = max(ds.keys(), default=None)
    raw: Any = ds.get_item(last) if last is not None else None  # raw until converted
    if last is not None and isinstance(raw, RawDataElement) and raw.length != 0xFFFFFFFF:
        present = (len(raw.value) if raw.value is not None
                   else max(0, file_size - raw.value_tell))
        if present < raw.length:
            return (f"file truncated in {keyword_for_tag(last) or last}: {present} of "
                    f"{raw.length} bytes (copy the file again from its source)")
    if "PixelData" in ds and not _transfer_syntax(ds).is_compressed:
        expected = _native_pixel_bytes(ds)
        pixels: Any = ds.get_item("PixelData")
        length = (pixels.length if isinstance(pixels, RawDataElement)
                  else len(pixels.value or b""))
        if expected and length < expected:
            return (f"pixel data truncated: {length} of {expected} bytes "
                    "(copy the file again from its source)")
    return ""


def _native_pixel_bytes(ds: Dataset) -> int:
    try:
        bits = int(ds.BitsAllocated)
        count = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                 * int(ds.get("NumberOfFrames", 1) or 1))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (count * bits + 7) // 8


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    declared = meta.get("TransferSyntaxUID") if meta is not None else None
    if declared:
        return UID(declared)
    implicit, little = getattr(ds, "original_encoding", (False, True))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _uid(ds: Dataset, keyword: str) -> str:
    value = str(ds.get(keyword, "")).strip()
    return value or f"no-{keyword}"


def _redact(exc: Exception) -> str:
    """An exception message, cut short (messages may quote values; these stay with the holder)."""
    return str(exc).splitlines()[0][:200] if str(exc) else ""


def _with_warnings(outcome: FileOutcome, caught: list[warnings.WarningMessage]) -> FileOutcome:
    if not caught:
        return outcome
    return _with_findings(outcome, tuple(sorted({f"pydicom warning: {w.category.__name__}: "
                                                 f"{str(w.message)[:160]}" for w in caught})))


def _with_findings(outcome: FileOutcome, notes: tuple[str, ...]) -> FileOutcome:
    values: dict[str, Any] = {name: getattr(outcome, name) for name in outcome.__slots__}
    values["findings"] = outcome.findings + notes
    return FileOutcome(**values)

