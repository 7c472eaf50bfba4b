"""The quality report of a published dataset version (quality.json and quality.html).

In the spirit of the EHDS data quality and utility label: what the version holds, whether its
series are geometrically sound, which required attributes are missing, duplicate instances, pixel
value ranges, and how complete and well linked the clinical table is. Each file is summarised
once (``quality_instances``: by the ingest worker that wrote it, or read here one at a time) and
the summaries are merged, so memory stays flat whatever the size of the version. The report
holds no wall-clock time: the same version always gives the same bytes.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from tre.imaging.layout import (
    CLINICAL_CSV,
    DICOM_DIR,
    MANIFEST,
    QUALITY_HTML,
    QUALITY_JSON,
    Manifest,
)
from tre.imaging.quality_html import render
from tre.imaging.quality_instances import (
    HIST_HIGH,
    HIST_LOW,
    FileSummary,
    PixelSummary,
    read_summary,
)

SCHEMA = "tre.quality/1"
ERROR, WARNING = "error", "warning"
SEVERITY = {
    "unreadable_file": ERROR, "missing_attribute": ERROR, "duplicate_sop_instance_uid": ERROR,
    "mixed_orientation": ERROR, "mixed_geometry": ERROR, "slice_gap": ERROR,
    "duplicate_position": ERROR, "pixel_unreadable": ERROR, "uneven_spacing": WARNING,
    "mixed_frame_of_reference": WARNING, "clinical_row_without_imaging": WARNING,
    "imaging_without_clinical_row": WARNING, "duplicate_clinical_row": WARNING,
    "manifest_file_missing": ERROR,
}
"""Every problem code the report can raise, and how serious it is."""

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
ID_COLUMNS = ("patient_id", "patientid", "pseudonym", "patient", "subject_id", "id")
_PERCENTILES = (1, 5, 50, 95, 99)
_PLOT_EDGES = list(range(-1100, 3101, 50))


@dataclass(slots=True)
class _Series:
    """What one series accumulates while its files stream past."""

    patient: str
    study: str
    uid: str
    modality: str
    files: int = 0
    sops: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    orientations: Counter[tuple[float, ...]] = field(default_factory=Counter)
    grids: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    frames: set[str] = field(default_factory=set)
    thickness: set[float] = field(default_factory=set)
    missing: Counter[str] = field(default_factory=Counter)
    histogram: npt.NDArray[np.int64] | None = None
    low: float = math.inf
    high: float = -math.inf
    rescaled: bool = True


@dataclass(frozen=True, slots=True)
class ClinicalTable:
    """A clinical CSV: its id column, other columns, and rows as dicts."""

    id_column: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    @property
    def ids(self) -> list[str]:
        """The patient id of every row, in file order."""
        return [r.get(self.id_column, "").strip() for r in self.rows]


def is_missing(value: str | None) -> bool:
    """Whether a clinical cell counts as missing (empty, NA, null...)."""
    return value is None or value.strip().lower() in MISSING_TOKENS


def read_clinical(path: Path, imaging_ids: Iterable[str] = ()) -> ClinicalTable:
    """Read a clinical CSV; the id column is a known name or the one best matching the images."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = tuple(reader.fieldnames or ())
        rows = tuple(dict(r) for r in reader)
    if not columns:
        return ClinicalTable("", (), ())
    known = set(imaging_ids)
    by_name = {c.strip().lower(): c for c in columns}
    named = next((by_name[n] for n in ID_COLUMNS if n in by_name), None)
    overlap = {c: sum(1 for r in rows if (r.get(c) or "").strip() in known) for c in columns}
    best = max(columns, key=lambda c: overlap[c])
    if named is not None and overlap[named] >= overlap[best]:
        id_column = named
    else:
        id_column = best if overlap[best] else (named or columns[0])
    return ClinicalTable(id_column, columns, rows)


class Summaries:
    """The file summaries of one version, added in any order; histograms are summed on arrival
    (per series), so what is kept per file stays small whatever the size of the version."""

    def __init__(self, pixels: bool = True) -> None:
        self.pixels = pixels
        self._files: list[FileSummary] = []
        self._histograms: dict[str, npt.NDArray[np.int64]] = {}
        self._later: list[str] = []

    def add(self, summary: FileSummary) -> None:
        """Take one file's summary."""
        if summary.pixels is not None:
            _add_histogram(self._histograms, summary.series, summary.pixels, 1)
            summary = summary.without_histogram()
        self._files.append(summary)

    def add_later(self, relative: str) -> None:
        """A file with no summary yet: it is read from the version when the report is made."""
        self._later.append(relative)

    def read_pending(self, version_dir: Path) -> None:
        """Summarise the files given to :meth:`add_later`, reading them from ``version_dir``."""
        for relative in self._later:
            self.add(read_summary(version_dir, relative, self.pixels))
        self._later.clear()


def write_report(version_dir: Path, summaries: Summaries | None = None) -> dict[str, Any]:
    """Assess ``version_dir`` and write ``quality.json`` and ``quality.html`` into it."""
    report = assess(version_dir, summaries=summaries)
    (version_dir / QUALITY_JSON).write_text(
        json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (version_dir / QUALITY_HTML).write_text(render(report), encoding="utf-8")
    return report


def assess(version_dir: Path, *, pixels: bool = True,
           summaries: Summaries | None = None) -> dict[str, Any]:
    """The quality report of ``version_dir`` as a dict (``pixels=False``: headers only).

    ``summaries``: the DICOM files' summaries, taken as they were written (each file under
    ``dicom/`` must be in it, and its ``pixels`` replaces the argument); without it every file
    is read here, one at a time. Either way the report is the same.
    """
    if summaries is None:
        summaries = Summaries(pixels)
        for path in _files(version_dir / DICOM_DIR):
            summaries.add_later(path.relative_to(version_dir).as_posix())
    summaries.read_pending(version_dir)
    pixels = summaries.pixels
    problems: list[dict[str, Any]] = []
    series = _merge(version_dir, summaries, problems)
    sop_files: defaultdict[str, list[str]] = defaultdict(list)
    for summary in summaries._files:
        if summary.sop and not summary.unreadable:
            sop_files[summary.sop].append(summary.relative)
    for uid, files in sorted(sop_files.items()):
        if len(files) > 1:
            problems.append(_problem(
                "duplicate_sop_instance_uid",
                f"SOP instance UID {uid} is used by {len(files)} files",
                sop_instance_uid=uid, files=sorted(files)))
    series_docs = [_series_doc(s, problems) for s in sorted(
        series.values(), key=lambda s: (s.patient, s.study, s.uid))]
    manifest = _manifest(version_dir, problems)
    imaging_patients = sorted({s.patient for s in series.values()})
    clinical = _clinical(version_dir, imaging_patients, problems)
    problems.sort(key=lambda p: (p["code"], json.dumps(p, sort_keys=True)))
    counts = _counts(series.values())
    errors = sum(1 for p in problems if p["severity"] == ERROR)
    warnings = len(problems) - errors
    return {
        "schema": SCHEMA,
        "dataset": manifest.get("dataset"), "version": manifest.get("version"),
        "synthetic": manifest.get("synthetic"),
        "label": {
            "status": "fail" if errors else "warnings" if warnings else "pass",
            "errors": errors, "warnings": warnings,
            "patients": counts["patients"], "studies": counts["studies"],
            "series": counts["series"], "instances": counts["instances"],
            "modalities": sorted(counts["by_modality"]),
            "linkage_rate": clinical.get("linkage", {}).get("imaging_patients_with_clinical"),
            "clinical_completeness": clinical.get("completeness"),
            "synthetic": manifest.get("synthetic"),
            "pixels_checked": pixels,
        },
        "counts": counts,
        "series": series_docs,
        "clinical": clinical,
        "histogram": _plot_histogram(series.values()),
        "problems": problems,
    }


def _problem(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "severity": SEVERITY[code], "message": message, **details}


def _files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from sorted(p for p in root.rglob("*") if p.is_file())


def _merge(version_dir: Path, summaries: Summaries,
           problems: list[dict[str, Any]]) -> dict[str, _Series]:
    """Fold file summaries into series, in path order: a series takes its patient and study
    from its first file, and of files sharing a SOP instance UID in a series only the first
    counts for geometry and pixels."""
    series: dict[str, _Series] = {}
    repeated: list[FileSummary] = []
    with_pixels: list[_Series] = []
    for s in sorted(summaries._files, key=lambda s: PurePosixPath(s.relative).parts):
        if s.unreadable:
            problems.append(_problem("unreadable_file", s.unreadable, file=s.relative))
            continue
        record = series.get(s.series)
        if record is None:
            record = series[s.series] = _Series(s.patient, s.study, s.series, s.modality)
        record.files += 1
        record.missing.update(s.missing)
        if s.sop and s.sop in record.sops:
            repeated.append(s)  # a duplicate: reported once, kept out of the geometry
            continue
        if s.orientation is not None:
            record.orientations[s.orientation] += 1
        record.grids[s.grid] += 1
        if s.frame:
            record.frames.add(s.frame)
        if s.thickness is not None:
            record.thickness.add(s.thickness)
        record.sops[s.sop or s.relative] = s.position
        if s.pixel_error:
            problems.append(_problem("pixel_unreadable", s.pixel_error, file=s.relative,
                                     series=record.uid))
        elif s.pixels is not None:
            record.rescaled = record.rescaled and s.pixels.rescaled
            record.low = min(record.low, s.pixels.low)
            record.high = max(record.high, s.pixels.high)
            with_pixels.append(record)
    histograms = dict(summaries._histograms)
    for s in repeated:  # rare: their histograms were summed on arrival, take them out again
        again = None if s.pixels is None else read_summary(version_dir, s.relative,
                                                           summaries.pixels).pixels
        if again is not None:
            histograms[s.series] = histograms[s.series].copy()
            _add_histogram(histograms, s.series, again, -1)
    for record in with_pixels:
        record.histogram = histograms[record.uid]
    return series


def _add_histogram(histograms: dict[str, npt.NDArray[np.int64]], series: str,
                   pixels: PixelSummary, sign: int) -> None:
    histogram = histograms.get(series)
    if histogram is None:
        histogram = histograms[series] = np.zeros(HIST_HIGH - HIST_LOW, np.int64)
    histogram[pixels.bins] += sign * pixels.counts


def _percentiles(histogram: npt.NDArray[np.int64]) -> dict[str, int]:
    cumulative = np.cumsum(histogram)
    total = int(cumulative[-1])
    return {f"p{q}": int(np.searchsorted(cumulative, total * q / 100.0)) + HIST_LOW
            for q in _PERCENTILES}


def _series_doc(s: _Series, problems: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "patient": s.patient, "study": s.study, "series": s.uid, "modality": s.modality,
        "files": s.files, "instances": len(s.sops),
        "missing_attributes": dict(sorted(s.missing.items())),
        "slice_thickness": sorted(s.thickness),
    }
    for keyword, count in sorted(s.missing.items()):
        problems.append(_problem(
            "missing_attribute", f"series {s.uid}: {keyword} missing in {count} file(s)",
            series=s.uid, attribute=keyword, files=count))
    grids = [g for g in s.grids if None not in g]
    if grids:
        rows, columns, spacing = grids[0]
        doc.update(rows=rows, columns=columns,
                   pixel_spacing=[round(v, 6) for v in spacing] if spacing else None)
    if len(grids) > 1:
        problems.append(_problem("mixed_geometry",
                                 f"series {s.uid} mixes {len(grids)} matrix/pixel spacings",
                                 series=s.uid, variants=len(grids)))
    if len(s.frames) > 1:
        problems.append(_problem("mixed_frame_of_reference",
                                 f"series {s.uid} has {len(s.frames)} frames of reference",
                                 series=s.uid, variants=len(s.frames)))
    doc["orientation"] = [list(o) for o in sorted(s.orientations)]
    doc["orientation_consistent"] = len(s.orientations) <= 1
    if len(s.orientations) > 1:
        problems.append(_problem("mixed_orientation",
                                 f"series {s.uid} mixes {len(s.orientations)} orientations",
                                 series=s.uid, variants=len(s.orientations)))
    elif s.orientations:
        doc["spacing"] = _spacing(s, next(iter(s.orientations)), problems)
    if s.histogram is not None:
        doc["values"] = {"unit": "HU" if s.rescaled and s.modality == "CT" else "stored",
                         "min": round(s.low, 3), "max": round(s.high, 3),
                         **_percentiles(s.histogram)}
    return doc


def _spacing(s: _Series, orientation: tuple[float, ...],
             problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Slice positions along the normal: the step, gaps, duplicates and uneven steps."""
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    heights = sorted(float(np.dot(p, normal)) for p in s.sops.values()
                     if p is not None and len(p) == 3)
    if len(heights) < 2:
        return None
    steps = np.diff(np.asarray(heights))
    step = float(np.median(steps))
    tolerance = max(0.01 * step, 0.01)
    duplicates = int(np.sum(steps < tolerance))
    if duplicates:
        problems.append(_problem("duplicate_position",
                                 f"series {s.uid}: {duplicates} slice(s) share a position",
                                 series=s.uid, slices=duplicates))
    uneven = 0
    for height, gap in zip(heights, steps, strict=False):
        if gap > 1.5 * step and step > tolerance:
            missing = round(gap / step) - 1
            problems.append(_problem(
                "slice_gap", f"series {s.uid}: {gap:.3f} mm gap after {height:.3f} mm "
                f"(step {step:.3f} mm, about {missing} slice(s) missing)",
                series=s.uid, after_mm=round(height, 3), gap_mm=round(float(gap), 3),
                step_mm=round(step, 3), missing_slices=missing))
        elif gap >= tolerance and abs(gap - step) > tolerance:
            uneven += 1
    if uneven:
        problems.append(_problem("uneven_spacing",
                                 f"series {s.uid}: {uneven} step(s) differ from {step:.3f} mm",
                                 series=s.uid, steps=uneven, step_mm=round(step, 3)))
    return {"step_mm": round(step, 4), "min_mm": round(float(steps.min()), 4),
            "max_mm": round(float(steps.max()), 4), "extent_mm": round(heights[-1] - heights[0], 4)}


def _counts(series: Iterable[_Series]) -> dict[str, Any]:
    per_patient: defaultdict[str, dict[str, Any]] = defaultdict(
        lambda: {"studies": set(), "series": 0, "instances": 0})
    by_modality: defaultdict[str, dict[str, int]] = defaultdict(
        lambda: {"series": 0, "instances": 0})
    studies = set()
    for s in series:
        entry = per_patient[s.patient]
        entry["studies"].add(s.study)
        entry["series"] += 1
        entry["instances"] += len(s.sops)
        by_modality[s.modality]["series"] += 1
        by_modality[s.modality]["instances"] += len(s.sops)
        studies.add((s.patient, s.study))
    return {
        "patients": len(per_patient), "studies": len(studies),
        "series": sum(e["series"] for e in per_patient.values()),
        "instances": sum(e["instances"] for e in per_patient.values()),
        "by_modality": dict(sorted(by_modality.items())),
        "per_patient": [{"patient": p, "studies": len(e["studies"]), "series": e["series"],
                         "instances": e["instances"]} for p, e in sorted(per_patient.items())],
    }


def _manifest(version_dir: Path, problems: list[dict[str, Any]]) -> dict[str, Any]:
    if not (version_dir / MANIFEST).is_file():
        return {}
    manifest = Manifest.read(version_dir)
    for entry in manifest.files:
        if entry.path in (QUALITY_JSON, QUALITY_HTML):
            continue
        if not (version_dir / entry.path).is_file():
            problems.append(_problem("manifest_file_missing",
                                     f"{entry.path} is in the manifest but not on disk",
                                     file=entry.path))
    return {"dataset": manifest.dataset, "version": manifest.version,
            "synthetic": manifest.synthetic}


def _clinical(version_dir: Path, imaging: list[str],
              problems: list[dict[str, Any]]) -> dict[str, Any]:
    path = version_dir / CLINICAL_CSV
    if not path.is_file():
        return {"present": False}
    table = read_clinical(path, imaging)
    total = len(table.rows)
    columns = {}
    for column in table.columns:
        missing = sum(1 for r in table.rows if is_missing(r.get(column)))
        columns[column] = {"missing": missing,
                           "missing_pct": round(100.0 * missing / total, 2) if total else 0.0}
    cells = total * len(table.columns)
    missing_cells = sum(c["missing"] for c in columns.values())
    ids = [i for i in table.ids if i]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        problems.append(_problem("duplicate_clinical_row",
                                 f"{len(repeated)} patient(s) have more than one clinical row",
                                 patients=repeated))
    clinical_ids, imaging_ids = set(ids), set(imaging)
    orphans = sorted(clinical_ids - imaging_ids)
    unlinked = sorted(imaging_ids - clinical_ids)
    if orphans:
        problems.append(_problem("clinical_row_without_imaging",
                                 f"{len(orphans)} clinical row(s) name no imaged patient",
                                 patients=orphans))
    if unlinked:
        problems.append(_problem("imaging_without_clinical_row",
                                 f"{len(unlinked)} imaged patient(s) have no clinical row",
                                 patients=unlinked))
    linked = len(clinical_ids & imaging_ids)
    return {
        "present": True, "rows": total, "id_column": table.id_column, "columns": columns,
        "completeness": round(100.0 * (cells - missing_cells) / cells, 2) if cells else None,
        "linkage": {
            "imaging_patients": len(imaging_ids), "clinical_patients": len(clinical_ids),
            "linked": linked,
            "imaging_patients_with_clinical":
                round(linked / len(imaging_ids), 4) if imaging_ids else None,
            "clinical_patients_with_imaging":
                round(linked / len(clinical_ids), 4) if clinical_ids else None,
        },
    }


def _plot_histogram(series: Iterable[_Series]) -> dict[str, Any]:
    """HU counts of all CT series in 50 HU bins, for the report's plot."""
    total: npt.NDArray[np.int64] | None = None
    for s in series:
        if s.histogram is not None and s.rescaled and s.modality == "CT":
            total = s.histogram if total is None else total + s.histogram
    if total is None:
        return {"edges": [], "counts": []}
    edges = np.asarray(_PLOT_EDGES) - HIST_LOW
    cumulative = np.concatenate([[0], np.cumsum(total)])
    counts = np.diff(cumulative[np.clip(edges, 0, len(total))])
    return {"unit": "HU", "edges": _PLOT_EDGES, "counts": [int(c) for c in counts]}
