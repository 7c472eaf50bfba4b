"""Made-up people, hospitals and clinical rows for synthetic corpora (all values fictional)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

HOSPITAL_UID_ROOT = "1.2.826.0.1.3680043.10.543."
"""UIDs in synthetic archives sit under this (made-up) hospital root, as real ones do."""

_SURNAMES = ("VANDERBERG", "OKONKWO-HALE", "MARCHETTI", "LINDQVIST", "ABERNATHY", "KOWALCZYK",
             "DESROSIERS", "FITZGIBBON", "HALVORSEN", "PAPADOPOULOU", "ESTERHAZY", "QUINTERO",
             "BRANNIGAN", "NAKASHIMA", "WOJCIECHOWSKI", "THORBJORNSEN", "VILLANUEVA", "ACHTERBERG",
             "MCALLISTER", "DOMBROWSKI", "GALLAGHER", "ROSSELLINI", "STRAUSSBERG", "OYELARAN")
_GIVEN_F = ("ELOISE", "MARGARETHA", "INGRID", "ROSALIND", "PERPETUA", "AURELIA", "THEODORA",
            "GWENDOLYN", "CLEMENTINE", "HILDEGARD", "OTTILIE", "WILHELMINA")
_GIVEN_M = ("BARTHOLOMEW", "EVERARD", "LEOPOLD", "CASIMIR", "ALOYSIUS", "FERDINAND", "OSWALDO",
            "THADDEUS", "CORNELIUS", "PERCIVAL", "MAXIMILIAN", "RUPRECHT")
_STREETS = ("Larkspur Lane", "Quarry Hill Road", "Whitlock Crescent", "Ambleside Avenue",
            "Foxglove Terrace", "Harrowgate Street", "Penhallow Close", "Tamarisk Way")
_CITIES = ("Eastbury", "Northwick", "Kingsmere", "Ravensholt", "Caldermoor", "Westhaven")
_HOSPITALS = (("St Aldhelm University Hospital", "1 Infirmary Road^^Eastbury^^EB1 4HQ", "ALDH"),
              ("Kingsmere General Infirmary", "22 Chapel Walk^^Kingsmere^^KM3 9ZX", "KGIN"))
_PHYSICIANS = ("PRENDERGAST^HORATIO^^DR", "MBEKI-STROUD^ADAEZE^^DR", "LAUTERBACH^SIGRID^^DR",
               "CAVENDISH^AMBROSE^^DR", "OYELOWO^FUNMILAYO^^DR", "HAWTHORNE^LUCINDA^^DR")
_OPERATORS = ("TECH^BRIGHTWATER", "TECH^ISHIKAWA", "TECH^MOLYNEUX", "TECH^DZEKO")

DIAGNOSES = {
    "lung cancer": (("adenocarcinoma", 0.5), ("squamous cell carcinoma", 0.3),
                    ("small cell carcinoma", 0.2)),
    "hepatocellular carcinoma": (("hepatocellular carcinoma", 1.0),),
    "colorectal cancer liver metastases": (("adenocarcinoma", 1.0),),
}
_DIAGNOSIS_WEIGHTS = (0.55, 0.25, 0.2)
_STAGES = (("I", 0.2), ("II", 0.2), ("III", 0.3), ("IV", 0.3))
_OUTCOMES = (("alive, no evidence of disease", 0.4), ("alive with disease", 0.35),
             ("deceased", 0.25))
CLINICAL_COLUMNS = ("patient_id", "age", "sex", "diagnosis", "stage", "histology", "outcome")
_MISSING_RATE = 0.05


def uid(seed: int, *parts: object) -> str:
    """A UID under the hospital root, fixed by the seed and the parts it names."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    # always 24 digits, so every UID has the same length (the fast encoder relies on it)
    return HOSPITAL_UID_ROOT + str(int.from_bytes(digest[:12], "big") % (9 * 10**23) + 10**23)


def _pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    weights = np.array([w for _, w in options])
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


@dataclass(frozen=True, slots=True)
class Hospital:
    """Where the patient was scanned."""

    name: str
    address: str
    code: str


@dataclass(frozen=True, slots=True)
class Person:
    """One made-up patient and everything that identifies them."""

    patient_id: str
    national_id: str
    legacy_id: str
    surname: str
    given: str
    sex: str
    birth_date: date
    address: str
    phone: str
    mother_maiden_name: str
    hospital: Hospital
    referring: str
    performing: str
    operator: str

    @property
    def dicom_name(self) -> str:
        """The name as a DICOM PN (``SURNAME^GIVEN``)."""
        return f"{self.surname}^{self.given}"

    @property
    def spoken_name(self) -> str:
        """The name as it appears in free text."""
        return f"{self.given.title()} {self.surname.title()}"


def make_person(rng: np.random.Generator, index: int, sex: str, age: int,
                first_study: date) -> Person:
    """A patient of ``sex`` aged ``age`` at ``first_study``; ids are unique per ``index``."""
    surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    given = (_GIVEN_F if sex == "F" else _GIVEN_M)[int(rng.integers(len(_GIVEN_F)))]
    birth = first_study - timedelta(days=int(age * 365.25 + rng.integers(1, 364)))
    hospital = Hospital(*_HOSPITALS[int(rng.integers(len(_HOSPITALS)))])
    number = int(rng.integers(1_000_000, 9_000_000)) * 100 + index % 100
    return Person(
        patient_id=f"MRN{number}",
        national_id=f"NHS{int(rng.integers(10**9, 10**10))}",
        legacy_id=f"{hospital.code}-{int(rng.integers(10**5, 10**6))}",
        surname=surname, given=given, sex=sex, birth_date=birth,
        address=(f"{int(rng.integers(2, 240))} {_STREETS[int(rng.integers(len(_STREETS)))]}"
                 f"^^{_CITIES[int(rng.integers(len(_CITIES)))]}"),
        phone=f"+44 20 7946 {int(rng.integers(1000, 9999))}",
        mother_maiden_name=f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}^MAIDEN",
        hospital=hospital,
        referring=_PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))],
        performing=_PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))],
        operator=_OPERATORS[int(rng.integers(len(_OPERATORS)))],
    )


def clinical_row(rng: np.random.Generator) -> dict[str, str]:
    """One coherent clinical row (without the patient id); a few values are left missing."""
    names = tuple(DIAGNOSES)
    diagnosis = names[int(rng.choice(len(names), p=np.array(_DIAGNOSIS_WEIGHTS)))]
    row = {
        "age": str(int(np.clip(rng.normal(64, 10), 30, 90))),
        "sex": "F" if rng.random() < 0.48 else "M",
        "diagnosis": diagnosis,
        "stage": _pick(rng, _STAGES),
        "histology": _pick(rng, DIAGNOSES[diagnosis]),
        "outcome": _pick(rng, _OUTCOMES),
    }
    for column in ("stage", "histology", "outcome"):
        if rng.random() < _MISSING_RATE:
            row[column] = ""
    return row


def lesion_organ(diagnosis: str, rng: np.random.Generator) -> str:
    """Where this diagnosis puts its lesions (a coin toss when the diagnosis says nothing)."""
    text = diagnosis.lower()
    if "lung" in text:
        return "lung"
    if "liver" in text or "hepat" in text:
        return "liver"
    return "lung" if rng.random() < 0.5 else "liver"
