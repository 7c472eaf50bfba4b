"""Synthetic twins: the structure, geometry and clinical distributions of a version, no real data.

A twin has the same patients/studies/series/slices counts, modalities and series geometry
(matrix, pixel spacing, slice thickness and step, orientation) as the version it copies. Clinical
columns are drawn independently: categorical ones from observed frequencies (values seen fewer
than ``min_category_count`` times are pooled as "other", so rare, identifying values never reach
the twin), numeric ones from a normal with the observed mean and standard deviation, clipped to
the observed range. Pixels, identifiers, dates and free text are all freshly made up.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from tre.errors import InvalidInput
from tre.imaging.layout import CLINICAL_CSV, DICOM_DIR, MANIFEST, Manifest
from tre.imaging.quality import is_missing, read_clinical
from tre.imaging.synth_plan import AXIAL, CorpusPlan, PatientPlan, SeriesPlan, StudyPlan

OTHER = "other"
_HEADER_TAGS = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "Rows",
                "Columns", "PixelSpacing", "SliceThickness", "ImageOrientationPatient",
                "ImagePositionPatient"]


@dataclass(frozen=True, slots=True)
class NumericColumn:
    """A numeric clinical column: normal(mean, std) clipped to [low, high]."""

    mean: float
    std: float
    low: float
    high: float
    decimals: int
    missing: float


@dataclass(frozen=True, slots=True)
class CategoricalColumn:
    """A categorical clinical column: values with their observed frequencies."""

    values: tuple[str, ...]
    weights: tuple[float, ...]
    missing: float


@dataclass(frozen=True, slots=True)
class ObservedClinicalModel:
    """Independent per-column distributions observed in a clinical table."""

    id_column: str
    model: tuple[tuple[str, NumericColumn | CategoricalColumn], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The id column, then the modelled columns in their original order."""
        return (self.id_column, *(name for name, _ in self.model))

    def sample(self, rng: np.random.Generator) -> dict[str, str]:
        """One row drawn column by column."""
        row = {}
        for name, column in self.model:
            if rng.random() < column.missing:
                row[name] = ""
            elif isinstance(column, NumericColumn):
                value = float(np.clip(rng.normal(column.mean, column.std), column.low,
                                      column.high))
                row[name] = f"{value:.{column.decimals}f}"
            else:
                weights = np.asarray(column.weights)
                row[name] = column.values[int(rng.choice(len(weights), p=weights))]
        return row


def _decimals(text: str) -> int:
    return min(len(text.split(".", 1)[1]), 3) if "." in text else 0


def _column(values: list[str], min_category_count: int) -> NumericColumn | CategoricalColumn:
    present = [v.strip() for v in values if not is_missing(v)]
    missing = 1.0 - len(present) / len(values) if values else 1.0
    try:
        numbers = np.asarray([float(v) for v in present], dtype=np.float64)
    except ValueError:
        numbers = None
    if numbers is not None and len(numbers) and np.all(np.isfinite(numbers)):
        return NumericColumn(float(numbers.mean()), float(numbers.std()), float(numbers.min()),
                             float(numbers.max()), max((_decimals(v) for v in present), default=0),
                             missing)
    counts = Counter(present)
    kept = {v: n for v, n in counts.items() if n >= min_category_count}
    pooled = sum(n for v, n in counts.items() if v not in kept)
    if pooled:
        kept[OTHER] = kept.get(OTHER, 0) + pooled
    if not kept:
        return CategoricalColumn((OTHER,), (1.0,), 1.0)
    total = sum(kept.values())
    names = tuple(sorted(kept))
    return CategoricalColumn(names, tuple(kept[v] / total for v in names), missing)


def clinical_model(path: Path, imaging_ids: list[str],
                   min_category_count: int = 3) -> ObservedClinicalModel:
    """The distributions of the clinical table at ``path`` (the id column is not modelled)."""
    table = read_clinical(path, imaging_ids)
    return ObservedClinicalModel(table.id_column or "patient_id", tuple(
        (name, _column([r.get(name) or "" for r in table.rows], min_category_count))
        for name in table.columns if name != table.id_column))


def _series_plan(modality: str, headers: list[pydicom.Dataset]) -> SeriesPlan:
    first = headers[0]
    orientation = tuple(float(v) for v in first.get("ImageOrientationPatient", AXIAL))
    if len(orientation) != 6:
        orientation = AXIAL
    spacing = [float(v) for v in first.get("PixelSpacing", [1.0, 1.0])] or [1.0, 1.0]
    thickness = float(first.get("SliceThickness", 0) or 0) or 1.0
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    heights = sorted(float(np.dot([float(v) for v in h.ImagePositionPatient], normal))
                     for h in headers if len(h.get("ImagePositionPatient", [])) == 3)
    steps = np.diff(np.asarray(heights))
    steps = steps[steps > 1e-3]
    step = round(float(np.median(steps)), 6) if len(steps) else thickness
    return SeriesPlan(modality or "CT", len(headers), int(first.get("Rows", 512)),
                      int(first.get("Columns", 512)), (spacing[0], spacing[1]), thickness, step,
                      (orientation[0], orientation[1], orientation[2], orientation[3],
                       orientation[4], orientation[5]))


def like_label(version_dir: Path) -> str:
    """``dataset@version`` from the manifest, or the folder's name if it has none."""
    if (version_dir / MANIFEST).is_file():
        manifest = Manifest.read(version_dir)
        return f"{manifest.dataset}@{manifest.version}"
    return version_dir.name


def profile(version_dir: Path, *, min_category_count: int = 3) -> CorpusPlan:
    """A plan for a synthetic twin of the published version in ``version_dir``."""
    root = version_dir / DICOM_DIR
    if not root.is_dir():
        raise InvalidInput(f"{version_dir} has no {DICOM_DIR}/ folder: give a published version "
                           "folder or a catalogue id")
    tree: defaultdict[str, defaultdict[str, defaultdict[str, list[pydicom.Dataset]]]] = \
        defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    modalities: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue  # the quality report lists unreadable files; a twin just leaves them out
        series = str(ds.get("SeriesInstanceUID", path.parent.as_posix()))
        tree[str(ds.get("PatientID", ""))][str(ds.get("StudyInstanceUID", ""))][series].append(ds)
        modalities[series] = str(ds.get("Modality", "") or "CT")
    if not tree:
        raise InvalidInput(f"{version_dir} holds no readable DICOM file to copy the shape of")
    patients = tuple(
        PatientPlan(tuple(StudyPlan(tuple(_series_plan(modalities[uid], studies[study][uid])
                                          for uid in sorted(studies[study])))
                          for study in sorted(studies)))
        for _, studies in sorted(tree.items()))
    clinical_path = version_dir / CLINICAL_CSV
    model = clinical_model(clinical_path, sorted(tree), min_category_count) \
        if clinical_path.is_file() else ObservedClinicalModel("patient_id", ())
    return CorpusPlan(patients, model, like=like_label(version_dir))
