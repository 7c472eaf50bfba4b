"""What a synthetic corpus holds: patients, studies, series geometry, and its clinical model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tre.imaging.synth_identity import CLINICAL_COLUMNS, clinical_row

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """One image series: modality and geometry (spacing in mm, orientation as DICOM IOP)."""

    modality: str
    slices: int
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    slice_thickness: float
    slice_spacing: float
    orientation: tuple[float, float, float, float, float, float] = AXIAL


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """One imaging study: its series."""

    series: tuple[SeriesPlan, ...]


@dataclass(frozen=True, slots=True)
class PatientPlan:
    """One patient: their studies."""

    studies: tuple[StudyPlan, ...]


class ClinicalModel(Protocol):
    """Draws one clinical row per patient (columns besides the patient id)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in order, the patient id column first."""
        ...

    def sample(self, rng: np.random.Generator) -> dict[str, str]:
        """A row without the patient id (missing values are empty strings)."""
        ...


class CancerClinicalModel:
    """The built-in model: coherent diagnosis, stage, histology and outcome of a cancer patient."""

    @property
    def columns(self) -> tuple[str, ...]:
        """``patient_id, age, sex, diagnosis, stage, histology, outcome``."""
        return CLINICAL_COLUMNS

    def sample(self, rng: np.random.Generator) -> dict[str, str]:
        """A coherent row (histology follows the diagnosis)."""
        return clinical_row(rng)


@dataclass(frozen=True, slots=True)
class CorpusPlan:
    """Everything a generation needs besides the seed."""

    patients: tuple[PatientPlan, ...]
    clinical: ClinicalModel
    like: str | None = None
    """``dataset@version`` this corpus is a synthetic twin of, if any."""

    @property
    def instances(self) -> int:
        """How many DICOM files the corpus will hold."""
        return sum(se.slices for p in self.patients for st in p.studies for se in st.series)


_FOVS = (350.0, 380.0, 400.0, 420.0, 450.0, 480.0)
_THICKNESSES = (1.25, 2.0, 2.5, 3.0, 5.0)


def uniform_plan(patients: int, studies: int, series: int, slices: int, size: int,
                 seed: int) -> CorpusPlan:
    """``patients`` x ``studies`` x ``series`` CT series of ``slices`` slices of ``size``^2."""
    rng = np.random.default_rng([seed, 7_000_001])
    plans = []
    for _ in range(patients):
        study_plans = []
        for _ in range(studies):
            fov = float(_FOVS[int(rng.integers(len(_FOVS)))])
            spacing = round(fov / size, 6)
            series_plans = []
            for _ in range(series):
                thickness = float(_THICKNESSES[int(rng.integers(len(_THICKNESSES)))])
                series_plans.append(SeriesPlan("CT", slices, size, size, (spacing, spacing),
                                               thickness, thickness))
            study_plans.append(StudyPlan(tuple(series_plans)))
        plans.append(PatientPlan(tuple(study_plans)))
    return CorpusPlan(tuple(plans), CancerClinicalModel())
